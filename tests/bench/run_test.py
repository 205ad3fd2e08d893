"""Smoke test of tools/bench/run: one quick round of echod and the
plain-TCP floor server (handshake, resume, echo, bulk, the closed-loop
flood with two handshake shares; the plain server also runs echod's
session patterns) from the binaries in the runfiles. It
checks that every echod figure got its floor and a ratio, that the raw
results hold what the table was made from, and that a share the server
refuses is skipped with a note rather than failing the run. Never
timings."""

import json
import os
import subprocess
import sys
import unittest

from tests.lib import echod


class RunSmoke(unittest.TestCase):
    def test_quick_round_against_the_floors(self):
        bindir = os.path.join(echod.runfiles_dir(), echod.WORKSPACE)
        out = os.path.join(echod.tmpdir("run-"), "raw.json")
        cpus = os.cpu_count() or 1
        r = subprocess.run(
            [sys.executable, os.path.join(bindir, "tools", "bench", "run"),
             "--quick", "--bin-dir", bindir, "--targets", "echod,plain",
             "--scenarios",
             "handshake,resume,echo,echo-paced,bulk,flood-closed",
             "--handshake-shares", "default,25", "--quiet-wait", "0",
             # Other tests run beside this one: never wait or re-run for
             # them (the smoke checks what is printed, not how fast).
             "--max-foreign", "1000", "--retries", "0",
             "--server-cpu", "0", "--client-cpu", str(1 if cpus > 1 else 0),
             "--out", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=echod.scaled(240))
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        table = r.stdout
        for figure in ("full mTLS handshake, server CPU per handshake",
                       "resumed handshake, server CPU per handshake",
                       "64 B echo, C=64, server CPU per message",
                       "… the same, both paced at 48,000 msg/s",
                       "bulk echo, per server core"):
            line = [l for l in table.splitlines() if l.startswith(
                "| %s |" % figure)]
            self.assertEqual(len(line), 1, table)
            self.assertRegex(line[0], r"\*\*\d+\.\d\dx\*\*", line[0])
        raw = json.load(open(out))
        res = raw["results"]
        for scen in ("handshake", "echo", "echo-paced", "bulk"):
            plain = res["plain"][scen][0]
            self.assertTrue(plain["ok"], plain)
            self.assertTrue(plain["plain"], plain)
            self.assertTrue(plain["server"]["ok"], plain)
        self.assertNotIn("resume", res["plain"])  # no TLS, no resumption
        # Both servers got the same pacing (the load, not the speed).
        for t in ("echod", "plain"):
            self.assertEqual(res[t]["echo-paced"][0]["rate_per_conn"], 750)
            self.assertNotIn("rate_per_conn", res[t]["echo"][0])
        self.assertIn("Paced echo, messages/s achieved", table)
        for scen in ("handshake", "resume", "echo", "echo-paced", "bulk",
                     "flood-closed"):
            self.assertTrue(res["echod"][scen][0]["ok"], res["echod"][scen])
        self.assertIn("solo_storm", res["echod"]["flood-closed"][0])
        fl = raw["floors"][0]
        for key in ("x25519_us", "ecdsa_p256_sign_us", "ecdsa_p256_verify_us",
                    "aes128gcm_open_seal_bytes_per_s", "tls_full_boringssl_us",
                    "tls_resumed_boringssl_us", "tls_full_echod_us",
                    "tls_resumed_echod_us"):
            self.assertGreater(fl[key], 0, fl)
        # A resumed session skips the certificates and signatures.
        self.assertLess(fl["tls_resumed_echod_us"], fl["tls_full_echod_us"])
        for figure in ("full handshake", "resumed handshake"):
            line = [l for l in table.splitlines()
                    if l.startswith("| %s |" % figure)]
            self.assertEqual(len(line), 1, table)
            # echod, plain cycle, the session's messages, engine, rest,
            # floor; then the per-round ratio.
            self.assertRegex(line[0], r"^\| %s (\| -?\d+\.\d us ){6}"
                             r"\| \d+\.\d\dx \([\d., ]+\) \|$" % figure,
                             line[0])
        self.assertIn("kernel: the session's messages", table)
        # ... and where the rest ran (user space or the kernel).
        for figure in ("full handshake", "resumed handshake"):
            self.assertRegex(table, r"\| the rest of a %s \| -?\d+ us "
                             r"\([-\d, ]+\) \| -?\d+ us \([-\d, ]+\) \|"
                             % figure)
        # The plain server ran echod's session patterns (tls_floor
        # --flights on the certificates echod served), full and resumed.
        shapes = raw["args"]["shapes"]
        for kind, scen in (("full", "tls-cycle"),
                           ("resumed", "tls-cycle-resumed")):
            # ClientHello / flight; the client's flight, not waiting for
            # the ticket (which comes with the echo); echo; close_notify.
            self.assertRegex(shapes[kind],
                             r"^\d+:\d+,\d+:\d+\+,\d+:\d+,\d+:\d+$")
            run = res["plain"][scen][0]
            self.assertTrue(run["ok"], run)
            self.assertEqual(run["shape"], shapes[kind])
            self.assertGreater(run["ops"], 0, run)
        self.assertNotEqual(shapes["full"], shapes["resumed"])
        # --handshake-share 25: measured if the server knows the flag,
        # else skipped with the server's own words; never a failure.
        if "echod flood-closed@25" in raw["skipped"]:
            self.assertIn("handshake-share",
                          raw["skipped"]["echod flood-closed@25"])
            self.assertIn("skipped", table)
        else:
            self.assertTrue(res["echod"]["flood-closed@25"][0]["ok"])



class TlsFloorRecords(unittest.TestCase):
    """tls_floor --records: the server's echo per record three ways
    (echod's engine, an own record layer, the bare AEAD), every figure
    from sessions whose echo the client checked byte for byte (else the
    tool exits 1). Never timings."""

    def test_quick_run_has_every_figure(self):
        r = echod.run_tool([echod.binary("tools/bench/tls_floor"),
                            "--records", "--runs", "1", "--ms", "20",
                            "--json"], timeout=echod.scaled(120))
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual((out["runs"], out["ms"]), (1, 20))
        for shape, modes in (("small", ("engine", "own", "aead")),
                             ("bulk", ("engine", "own", "aead")),
                             ("stream", ("engine", "own"))):
            for mode in modes:
                self.assertGreater(out["%s_%s_us" % (shape, mode)], 0, out)
        self.assertNotIn("stream_aead_us", out)

if __name__ == "__main__":
    unittest.main()
