"""The tables tools/bench/run prints: echod against its floors, the
closed-loop flood per handshake share, echod next to its peers, and the
scale runs. Pure functions of the raw results (lists of echo-bench JSON
objects per target and scenario, each with its "round"), so the runner's
smoke test and a reader of a saved --out file get the same tables."""

import statistics

# What the plain-TCP floor server runs (with --plain).
PLAIN_SCENARIOS = ("handshake", "echo", "echo-paced", "bulk")


def usable(r):
    """A run that finished without error and was not taken under foreign
    load (the runner marks those it had to keep: "flagged")."""
    return bool(r.get("ok")) and not r.get("flagged")


# ---- figures -----------------------------------------------------------------


def g(r, *path):
    for k in path:
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r


BOOL = "bool"  # a yes/no figure: the cell counts the runs that said yes

# Figures that describe the run rather than rank the servers: no ratio.
NO_RATIO = ("resumed fraction", "idle sessions", "flood: server cores",
            "flood: pool queue", "flood: echo msgs/s", "closed loop:")

# metric -> (scenario, label, extractor, lower is better, format)
METRICS = [
    ("handshake", "full handshake, server CPU us/op",
     lambda r: g(r, "server", "cpu_us_per_op"), True, "%.0f"),
    ("handshake", "full handshakes/s",
     lambda r: g(r, "ops_per_s"), False, "%.0f"),
    ("resume", "resumed handshake, server CPU us/op",
     lambda r: g(r, "server", "cpu_us_per_op"), True, "%.0f"),
    ("resume", "resumed fraction",
     lambda r: g(r, "resumed_fraction"), False, "%.2f"),
    ("echo", "64 B echo x64 conns, server CPU us/msg",
     lambda r: g(r, "server", "cpu_us_per_op"), True, "%.2f"),
    ("echo", "64 B echo msgs/s",
     lambda r: g(r, "ops_per_s"), False, "%.0f"),
    ("echo", "64 B echo RTT p99 (us)",
     lambda r: g(r, "rtt_us", "p99"), True, "%.0f"),
    ("bulk", "bulk echo, GB/s per server core",
     lambda r: g(r, "server", "gb_per_cpu_s"), False, "%.2f"),
    ("bulk", "bulk echo MB/s (wall)",
     lambda r: g(r, "mb_per_s"), False, "%.0f"),
    ("idle", "idle session, server RSS KiB/session",
     lambda r: g(r, "server", "kib_per_session"), True, "%.1f"),
    ("idle", "idle sessions held",
     lambda r: g(r, "held"), False, "%.0f"),
    ("flood", "flood: quiet echo p99 (us)",
     lambda r: g(r, "quiet_rtt_us", "p99"), True, "%.0f"),
    ("flood", "flood: storm echo p99 (us)",
     lambda r: g(r, "storm_rtt_us", "p99"), True, "%.0f"),
    ("flood", "flood: p99 storm/quiet",
     lambda r: g(r, "p99_ratio"), True, "%.2f"),
    ("flood", "flood: storm handshakes/s",
     lambda r: g(r, "storm_hs_per_s"), False, "%.0f"),
    ("flood", "flood: storm handshake p50 (us)",
     lambda r: g(r, "storm_handshake_us", "p50"), True, "%.0f"),
    ("flood", "flood: server cores during storm",
     lambda r: g(r, "storm_server_cores"), False, "%.2f"),
    ("flood", "flood: pool queue depth median",
     lambda r: g(r, "pool_queue_depth", "median"), False, "%.1f"),
    ("flood", "flood: pool saturated",
     lambda r: g(r, "saturated"), False, BOOL),
    ("flood", "flood: echo msgs/s per conn (storm; asked 1000)",
     lambda r: g(r, "achieved_rate_per_conn", "storm"), False, "%.0f"),
]

# The closed-loop flood (issue 15's saturating case), per share.
CLOSED = [
    ("closed loop: echo msgs/s quiet", lambda r: echo_rate(r, "quiet"),
     "%.0f", None),
    ("closed loop: echo msgs/s under the storm",
     lambda r: echo_rate(r, "storm"), "%.0f", None),
    ("**echo rate kept** (target >= 0.70)", lambda r: g(r, "echo_rate_kept"),
     "%.2f", (">=", 0.70)),
    ("closed loop: echo p99 quiet (us)",
     lambda r: g(r, "quiet_rtt_us", "p99"), "%.0f", None),
    ("closed loop: echo p99 under the storm (us)",
     lambda r: g(r, "storm_rtt_us", "p99"), "%.0f", None),
    ("**echo p99 storm / quiet** (target <= 1.5)", lambda r: g(r, "p99_ratio"),
     "%.2f", ("<=", 1.5)),
    ("closed loop: storm handshakes/s alone", lambda r: g(r, "solo_storm",
                                                          "hs_per_s"),
     "%.0f", None),
    ("closed loop: storm handshakes/s under the echo load",
     lambda r: g(r, "storm_hs_per_s"), "%.0f", None),
    ("**storm handshakes kept** (target >= 0.25)",
     lambda r: g(r, "storm_hs_kept"), "%.2f", (">=", 0.25)),
    ("closed loop: server cores quiet", lambda r: g(r, "quiet_server_cores"),
     "%.2f", None),
    ("closed loop: server cores under the storm",
     lambda r: g(r, "storm_server_cores"), "%.2f", None),
    ("closed loop: pool queue median under the storm",
     lambda r: g(r, "pool_queue_depth", "median"), "%.1f", None),
]


def echo_rate(r, which):
    v = g(r, "achieved_rate_per_conn", which)
    return None if v is None else v * (g(r, "echo_conns") or 1)


def summary(scen, r):
    parts = ["ok" if r.get("ok") else "FAILED(exit %s)" % r.get("exit")]
    if scen == "flood-closed":
        for label, f, fmt, _ in CLOSED:
            if label.startswith("**"):
                v = f(r)
                if v is not None:
                    parts.append("%s=%s" % (label.split("**")[1],
                                            fmt % v))
    for s, label, f, _, fmt in METRICS:
        v = f(r) if s == scen else None
        if v is not None:
            parts.append("%s=%s" % (label.split(",")[-1].strip(),
                                    fmt_value(fmt, v)))
    if g(r, "client", "saturated"):
        parts.append("client-saturated")
    if "foreign_cores" in r:
        parts.append("foreign=%.2f" % r["foreign_cores"])
    if g(r, "errors", "first"):
        parts.append("error=%r" % g(r, "errors", "first"))
    return " ".join(parts)


def fmt_value(fmt, v):
    if fmt == BOOL:
        return "yes" if v else "no"
    return fmt % v


def bool_cell(runs, f):
    """"yes (3/3)": runs (that finished) where the figure said yes."""
    vals = [bool(f(r)) for r in runs if usable(r) and f(r) is not None]
    if not vals:
        return None
    yes = sum(vals)
    return "%s (%d/%d)" % ("yes" if yes * 2 > len(vals) else "no", yes,
                           len(vals))


def median(runs, f):
    vals = [f(r) for r in runs if usable(r) and f(r) is not None]
    return statistics.median(vals) if vals else None


def saturated(runs):
    flags = [bool(g(r, "client", "saturated")) for r in runs]
    return flags and sum(flags) * 2 > len(flags)


def peer_table(results, a):
    tg = [t for t in a.targets if t != "plain"]
    peers = [t for t in tg if t != "echod"] if "echod" in tg else []
    head = ["metric"] + tg + ["echod vs %s" % p for p in peers]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for scen, label, f, lower, fmt in METRICS:
        if scen not in a.scenarios:
            continue
        runs = {t: results.get(t, {}).get(scen, []) for t in tg}
        if fmt == BOOL:
            cells = [bool_cell(runs[t], f) or "—" for t in tg]
            lines.append("| " + " | ".join([label] + cells + [""] *
                                            len(peers)) + " |")
            continue
        meds = {t: median(runs[t], f) for t in tg}
        row = [label]
        for t in tg:
            v = meds[t]
            cell = "—" if v is None else fmt % v
            if v is not None and saturated(runs[t]):
                cell += " †"
            nfail = sum(1 for r in runs[t] if not r.get("ok"))
            if nfail:
                cell += " (%d/%d failed)" % (nfail, len(runs[t]))
            nflag = sum(1 for r in runs[t] if r.get("ok") and r.get("flagged"))
            if nflag:
                cell += " (%d/%d under foreign load, left out)" % (
                    nflag, len(runs[t]))
            row.append(cell)
        for p in peers:
            e, v = meds["echod"], meds[p]
            if e is None or v is None or e == 0 or v == 0 or \
                    label.startswith(NO_RATIO):
                row.append("")
            else:
                row.append("%.2fx" % ((v / e) if lower else (e / v)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---- against the floors ------------------------------------------------------


def by_round(runs):
    return {r.get("round"): r for r in runs if usable(r)}


def cpu(r):
    return g(r, "server", "cpu_us_per_op")


def gbs(r):
    return g(r, "server", "gb_per_cpu_s")


# figure -> (echod scenario, echod value, floor(plain results of the round
# by scenario, crypto floor of the round), direction, target, unit, fmt)
FLOORS = [
    ("full mTLS handshake, server CPU per handshake", "handshake", cpu,
     lambda p, c: cpu(p["handshake"]) + c["x25519_us"] +
     c["ecdsa_p256_sign_us"] + 2 * c["ecdsa_p256_verify_us"],
     "<=", 1.2, "us", "%.1f"),
    ("resumed handshake, server CPU per handshake", "resume", cpu,
     lambda p, c: cpu(p["handshake"]) + c["x25519_us"],
     "<=", 1.3, "us", "%.1f"),
    ("64 B echo, C=64, server CPU per message", "echo", cpu,
     lambda p, c: cpu(p["echo"]), "<=", 1.10, "us", "%.2f"),
    ("… the same, both paced at 48,000 msg/s", "echo-paced", cpu,
     lambda p, c: cpu(p["echo-paced"]), "<=", 1.10, "us", "%.2f"),
    ("bulk echo, per server core", "bulk", gbs,
     lambda p, c: 1 / (1 / gbs(p["bulk"]) + 1 / c["echo_floor_gbs"]),
     ">=", 0.95, "GB/s", "%.2f"),
]


def floor_rows(results, floors):
    """Per-round echod value, floor and ratio for each FLOORS figure;
    rounds where a part is missing are left out."""
    echod = {s: by_round(v) for s, v in results.get("echod", {}).items()}
    plain = {s: by_round(v) for s, v in results.get("plain", {}).items()}
    rows = []
    for label, scen, f, floor_f, op, target, unit, fmt in FLOORS:
        per = []
        for rnd, c in enumerate(floors):
            e = echod.get(scen, {}).get(rnd)
            p = {s: plain.get(s, {}).get(rnd) for s in PLAIN_SCENARIOS}
            try:
                ev, fv = f(e), floor_f(p, c)
            except (TypeError, ZeroDivisionError):
                continue
            if ev is None or fv is None or fv == 0:
                continue
            per.append((ev, fv, ev / fv))
        rows.append((label, per, op, target, unit, fmt))
    return rows


def verdict(op, target, ratios):
    """"met" / "missed" by the median ratio, with how many rounds
    disagreed."""
    ok = [(x <= target) if op == "<=" else (x >= target) for x in ratios]
    met = ((statistics.median(ratios) <= target) if op == "<=" else
           (statistics.median(ratios) >= target))
    against = len(ok) - sum(ok) if met else sum(ok)
    word = "**met**" if met else "**missed**"
    if against:
        word += " (%d of %d rounds %s)" % (against, len(ok),
                                          "not" if met else "met")
    return word


def floors_table(results, floors):
    lines = ["| figure | echod | floor | ratio (median) | ratio per round "
             "| target | verdict |",
             "|---|---:|---:|---:|---|---:|---|"]
    for label, per, op, target, unit, fmt in floor_rows(results, floors):
        if not per:
            lines.append("| %s | — | — | — | — | %s %.2fx | not measured |"
                         % (label, op.replace("<=", "≤").replace(">=", "≥"),
                            target))
            continue
        ev = statistics.median(p[0] for p in per)
        fv = statistics.median(p[1] for p in per)
        ratios = [p[2] for p in per]
        ratio = statistics.median(ratios)
        lines.append("| %s | %s %s | %s %s | **%.2fx** | %s | %s %.2fx | %s |"
                     % (label, fmt % ev, unit, fmt % fv, unit, ratio,
                        ", ".join("%.2f" % x for x in ratios),
                        op.replace("<=", "≤").replace(">=", "≥"), target,
                        verdict(op, target, ratios)))
    idle = median(results.get("echod", {}).get("idle", []),
                  lambda r: g(r, "server", "kib_per_session"))
    if idle is not None:
        ok = idle <= 4.5
        lines.append("| idle session memory (server RSS) | %.2f KiB | — | — "
                     "| — | ≤ 4.5 KiB | %s |" % (
                         idle, "**met**" if ok else "**missed**"))
    paced = [(t, results.get(t, {}).get("echo-paced", []))
             for t in ("echod", "plain")]
    rates = [(t, median(runs, lambda r: r.get("ops_per_s")),
              median(runs, lambda r: g(r, "client", "cores_used")),
              sum(1 for r in runs if g(r, "client", "saturated")))
             for t, runs in paced]
    if all(v is not None for _, v, _, _ in rates):
        lines.append(
            "\nPaced echo, messages/s achieved (median): %s." % ", ".join(
                "%s %.0f (client %.2f cores%s)" % (
                    t, v, c or 0, ", saturated in %d round(s)" % s if s
                    else "") for t, v, c, s in rates))
    return "\n".join(lines)


def parts_table(results, floors):
    """The floors' parts: the kernel's (plain server) and the crypto's."""
    plain = results.get("plain", {})
    rows = [("kernel: connect, 32 B echo, close (server CPU)",
             median(plain.get("handshake", []), cpu), "%.1f us"),
            ("kernel: 64 B echo, C=64 (server CPU per message)",
             median(plain.get("echo", []), cpu), "%.2f us"),
            ("… paced at 48,000 msg/s",
             median(plain.get("echo-paced", []), cpu), "%.2f us"),
            ("kernel: bulk echo (bytes per server CPU second)",
             median(plain.get("bulk", []), gbs), "%.2f GB/s"),
            ("kernel: echod's full session's messages, no TLS (server CPU)",
             median(plain.get("tls-cycle", []), cpu), "%.1f us"),
            ("… resumed",
             median(plain.get("tls-cycle-resumed", []), cpu), "%.1f us")]
    if not plain.get("tls-cycle") and not plain.get("tls-cycle-resumed"):
        rows = rows[:-2]  # results from before the replay existed
    for key, label, fmt in (
            ("x25519_us", "X25519 keygen + shared secret", "%.1f us"),
            ("ecdsa_p256_sign_us", "ECDSA P-256 sign", "%.1f us"),
            ("ecdsa_p256_verify_us", "ECDSA P-256 verify", "%.1f us"),
            ("echo_floor_gbs", "AES-128-GCM open + seal, 16 KiB records",
             "%.2f GB/s"),
            ("tls_full_boringssl_us", "TLS session in memory, BoringSSL "
             "alone: full handshake, 32 B echo, close", "%.1f us"),
            ("tls_resumed_boringssl_us", "… resumed", "%.1f us"),
            ("tls_full_echod_us", "TLS session in memory, echod's TLS "
             "engine: full", "%.1f us"),
            ("tls_resumed_echod_us", "… resumed", "%.1f us")):
        vals = [f[key] for f in floors if key in f]
        rows.append((label, statistics.median(vals) if vals else None, fmt))
    lines = ["| floor part (median of the rounds) | cost |", "|---|---:|"]
    for label, v, fmt in rows:
        lines.append("| %s | %s |" % (label, "—" if v is None else fmt % v))
    return "\n".join(lines)


# The handshake gap, split: echod's server CPU per session = what the
# kernel charges for the session's messages (the plain server running
# echod's session pattern with no TLS: tls-cycle; without it, the plain
# cycle) + echod's TLS engine run in memory (tools/bench:tls_floor) + the
# rest (the loop, the pool's hand-offs and wake-ups, libuv, bookkeeping).
SPLIT = [("full handshake", "handshake", "tls_full_echod_us", "tls-cycle"),
         ("resumed handshake", "resume", "tls_resumed_echod_us",
          "tls-cycle-resumed")]


def split_table(results, floors):
    """Per round: echod, the kernel's plain cycle, the kernel's cost of the
    session's message pattern (the plain server running it with no TLS:
    tls-cycle), the engine in memory, the rest, and (pattern + engine) /
    floor: the ratio of a server with echod's TLS engine whose I/O and
    threads cost nothing beyond what the kernel charges for TLS's
    messages. Without the pattern runs (older results), the plain cycle
    stands in for it."""
    echod = {s: by_round(v) for s, v in results.get("echod", {}).items()}
    plain_runs = results.get("plain", {})
    plain = by_round(plain_runs.get("handshake", []))
    shaped = any(plain_runs.get(x[3]) for x in SPLIT)
    floor_of = {row[1]: row[3] for row in FLOORS}
    if shaped:
        lines = ["| per session, server CPU (each column: median of its "
                 "per-round values, so they need not add up) | echod "
                 "| kernel: plain cycle | kernel: the session's messages "
                 "| TLS engine in memory | the rest | floor "
                 "| (messages + engine) ÷ floor, per round |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
    else:
        lines = ["| per session, server CPU (each column: median of its "
                 "per-round values, so they need not add up) | echod "
                 "| kernel cycle | TLS engine in memory | the rest "
                 "| floor | (kernel + engine) ÷ floor, per round |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
    rows, where = 0, {}
    for label, scen, key, shape_scen in SPLIT:
        msgs = by_round(plain_runs.get(shape_scen, []))
        per = []
        for rnd, c in enumerate(floors):
            e, p = echod.get(scen, {}).get(rnd), plain.get(rnd)
            m = msgs.get(rnd) if shaped else p
            if e is None or p is None or m is None or key not in c:
                continue
            ev, kv, mv, tv = cpu(e), cpu(p), cpu(m), c[key]
            if ev is None or kv is None or mv is None:
                continue
            fv = floor_of[scen]({"handshake": p}, c)
            per.append((ev, kv, mv, tv, ev - mv - tv, fv, (mv + tv) / fv))
            eu, mu = user_share(e), user_share(m)
            if shaped and eu is not None and mu is not None:
                where.setdefault(label, []).append(
                    (ev * eu - mv * mu - tv, ev * (1 - eu) - mv * (1 - mu)))
        if not per:
            if shaped and not msgs:
                lines.append("| %s | no run of its messages' replay was "
                             "usable: not split |" % label)
            continue
        rows += 1
        med = [statistics.median(x[i] for x in per) for i in range(7)]
        if not shaped:
            del med[2]
        lines.append("| %s | " % label + " | ".join(
            "%.1f us" % v for v in med[:-1]) + " | %.2fx (%s) |" % (
                med[-1], ", ".join("%.2f" % x[6] for x in per)))
    if not rows:
        return ""
    if where:  # the rest, split by where the server spent it
        lines += ["", "| where the rest ran, per session: median (per "
                  "round). Differences of separately measured figures, "
                  "the user/system split from /proc ticks over each whole "
                  "echo-bench run: rough | in user space | in the kernel |",
                  "|---|---:|---:|"]
        for label, v in where.items():
            lines.append("| the rest of a %s | %s | %s |" % (label, *(
                "%.0f us (%s)" % (statistics.median(x[i] for x in v),
                                  ", ".join("%.0f" % x[i] for x in v))
                for i in (0, 1))))
    return "\n".join(lines)


def user_share(r):
    """The server's user time over its user + system time during run |r|
    (the runner's /proc samples), or None."""
    u, k = r.get("server_user_s"), r.get("server_sys_s")
    if u is None or k is None or u + k <= 0:
        return None
    return u / (u + k)


def closed_table(results, a, skipped):
    cols = []
    for t in a.targets:
        for k in sorted(results.get(t, {})):
            if k.startswith("flood-closed"):
                share = k.partition("@")[2] or "default"
                name = t if t != "echod" else "echod (share %s)" % share
                cols.append((name, results[t][k]))
    if not cols:
        return ""
    lines = ["| figure | " + " | ".join(c[0] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for label, f, fmt, tgt in CLOSED:
        cells = []
        for _, runs in cols:
            vals = [f(r) for r in runs if usable(r) and f(r) is not None]
            if not vals:
                cells.append("—")
            else:
                v = statistics.median(vals)
                cell = fmt % v
                if tgt and len(vals) > 1:
                    cell += " (%s)" % "–".join(fmt % x for x in
                                               (min(vals), max(vals)))
                cells.append(cell)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    for (name, label), why in skipped.items():
        lines.append("\n%s %s: skipped (%s)" % (name, label, why))
    return "\n".join(lines)


def scale_table(n, res):
    cols = sorted(res, key=int)
    rows = [
        ("sessions asked", lambda r: g(r, "sessions", "attempted"), "%d"),
        ("established", lambda r: g(r, "sessions", "established"), "%d"),
        ("refused at the limit", lambda r: g(r, "sessions",
                                             "refused_at_limit"), "%d"),
        ("errors", lambda r: sum(v for k, v in (r.get("errors") or {})
                                 .items() if k != "first"), "%d"),
        ("held (echoed after the hold)", lambda r: g(r, "sessions", "held"),
         "%d"),
        ("closed cleanly", lambda r: g(r, "sessions", "closed"), "%d"),
        ("ramp, handshakes/s", lambda r: g(r, "ramp_hs_per_s"), "%.0f"),
        ("server CPU per handshake (us)",
         lambda r: g(r, "server", "cpu_us_per_handshake"), "%.0f"),
        ("server CPU per echo at scale (us)",
         lambda r: g(r, "server", "cpu_us_per_echo"), "%.1f"),
        ("server CPU per clean close (us)",
         lambda r: g(r, "server", "cpu_us_per_close"), "%.1f"),
        ("server CPU while holding them idle (cores)",
         lambda r: g(r, "server", "hold_cores"), "%.4f"),
        ("server RSS before / held / after close (KiB)",
         lambda r: "%s / %s / %s" % (g(r, "server", "rss_before_kib"),
                                     g(r, "server", "rss_after_kib"),
                                     g(r, "server", "rss_after_close_kib")),
         "%s"),
        ("server RSS per session (KiB)",
         lambda r: g(r, "server", "kib_per_session"), "%.2f"),
        ("server fds before / held / after",
         lambda r: "%s / %s / %s" % (g(r, "server", "fds_before"),
                                     g(r, "server", "fds_held"),
                                     g(r, "server", "fds_after")), "%s"),
        ("kernel slab + TCP memory per session, both ends (KiB)",
         lambda r: g(r, "kernel", "kib_per_session"), "%.2f"),
        ("hold (s)", lambda r: g(r, "phases_s", "hold"), "%.0f"),
        ("first refusal", lambda r: g(r, "sessions", "first_refusal") or "—",
         "%s"),
        ("first error", lambda r: g(r, "errors", "first") or "—", "%s"),
    ]
    lines = ["| scale, %d sessions | %s |" % (n, " | ".join(
        "--workers %s (cores %s)" % (w, res[w].get("server_cpus"))
        for w in cols)), "|---|" + "---:|" * len(cols)]
    for label, f, fmt in rows:
        cells = []
        for w in cols:
            v = f(res[w])
            cells.append("—" if v is None else fmt % v)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


def crypto_line(floors):
    return ", ".join("round %d: X25519 %.1f, sign %.1f, verify %.1f us, "
                     "open+seal %.2f GB/s" % (
                         i + 1, f["x25519_us"], f["ecdsa_p256_sign_us"],
                         f["ecdsa_p256_verify_us"], f["echo_floor_gbs"])
                     for i, f in enumerate(floors))


# ---- A/B: two builds of echod in the same rounds -----------------------------


def ab_rows(results):
    """(label, A median, B median, per-round B/A ratios, fmt) for every
    figure both echod and echod-b have: METRICS per scenario, and the
    closed-loop flood's figures per share."""
    a, b = results.get("echod", {}), results.get("echod-b", {})
    figs = [(scen, label, f, fmt) for scen, label, f, _, fmt in METRICS
            if fmt != BOOL]
    for key in sorted(k for k in a if k.startswith("flood-closed")):
        share = key.partition("@")[2] or "default"
        figs += [(key, "%s (share %s)" % (label.replace("**", ""), share),
                  f, fmt) for label, f, fmt, _ in CLOSED]
    rows = []
    for scen, label, f, fmt in figs:
        ra, rb = by_round(a.get(scen, [])), by_round(b.get(scen, []))
        ratios = []
        for rnd in sorted(set(ra) & set(rb)):
            va, vb = f(ra[rnd]), f(rb[rnd])
            if va and vb is not None:
                ratios.append(vb / va)
        ma, mb = median(a.get(scen, []), f), median(b.get(scen, []), f)
        if ma is None and mb is None:
            continue
        rows.append((label, ma, mb, ratios, fmt))
    return rows


def ab_table(results, a):
    lines = ["| figure | echod | echod-b | ratio b/a per round | "
             "**median ratio** |", "|---|---:|---:|---|---:|"]
    for label, ma, mb, ratios, fmt in ab_rows(results):
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, "—" if ma is None else fmt % ma,
            "—" if mb is None else fmt % mb,
            ", ".join("%.3f" % x for x in ratios) or "—",
            "**%.3f**" % statistics.median(ratios) if ratios else "—"))
    return "\n".join(lines) if len(lines) > 2 else ""
