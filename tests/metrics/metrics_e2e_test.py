"""End-to-end tests of echod's metrics endpoint (issue 5), on the real
//cmd:server with certificates from an openssl-CLI test CA:

- counters move by exactly what was done (good handshakes, one refusal per
  reason, bytes echoed, one failed and one good reload);
- `promtool check metrics` on a live scrape reports nothing;
- a real Prometheus scrapes echod and answers queries about it, with
  deploy/prometheus/alerts.yml loaded;
- bad HTTP input is answered or closed as specified while echo goes on;
- /readyz: 503 once the server certificate has expired, and during drain.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from tests.lib import echod

METRICS_RE = re.compile(r'msg="metrics listening" addr=(\S+)')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
HEAD_RE = re.compile(rb"^HTTP/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n", re.S)


# ---- HTTP and exposition helpers --------------------------------------------


def http_raw(port, data, timeout=5, host="127.0.0.1"):
    """Sends |data| on a new connection and reads until the server closes
    or goes quiet. Returns (bytes read, closed_by_server)."""
    s = socket.create_connection((host, port), timeout=echod.scaled(timeout))
    try:
        s.sendall(data)
        got = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                return got, False
            except ConnectionResetError:
                return got, True
            if not b:
                return got, True
            got += b
    finally:
        s.close()


def read_response(sock, head_only=False):
    """Reads one HTTP response from |sock|: (status, headers dict, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(1)
        if not b:
            raise AssertionError("connection closed after %r" % buf)
        buf += b
    m = HEAD_RE.match(buf)
    assert m, buf
    headers = {}
    for line in m.group(2).split(b"\r\n"):
        k, v = line.split(b":", 1)
        headers[k.decode().lower()] = v.strip().decode()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    body = b""
    while len(body) < n:
        b = sock.recv(n - len(body))
        if not b:
            break
        body += b
    return int(m.group(1)), headers, body


def get(port, path, method="GET", host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=echod.scaled(5))
    try:
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % (method, path)).encode())
        return read_response(s, head_only=(method == "HEAD"))
    finally:
        s.close()


def scrape(port):
    status, headers, body = get(port, "/metrics")
    assert status == 200, (status, body)
    assert headers["content-type"] == \
        "text/plain; version=0.0.4; charset=utf-8", headers
    return body.decode()


def parse(text):
    """{(name, frozenset(labels.items())): float} from exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, rest = series.split("{", 1)
            labels = frozenset(LABEL_RE.findall(rest))
        else:
            name, labels = series, frozenset()
        out[(name, labels)] = float(value)
    return out


def val(m, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in m:
        raise AssertionError("no series %s%s" % (name, labels))
    return m[key]


def total(m, name):
    return sum(v for (n, _), v in m.items() if n == name)


# ---- the test ---------------------------------------------------------------

REASONS = ["no_client_cert", "unknown_ca", "cert_expired",
           "cert_not_yet_valid", "bad_eku", "acl_denied", "protocol"]


class MetricsE2E(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ca = echod.TestCA()
        cls.ca.issue("server", role="server")
        cls.ca.issue("alice")
        cls.ca.issue("bob", not_before=-3600)
        cls.ca.issue("mallory")                       # not on the allow-list
        cls.ca.issue("old", not_before=-10 * 86400, not_after=-86400)
        cls.ca.issue("future", not_before=10 * 86400, not_after=20 * 86400)
        cls.ca.issue("srvascli", role="server")      # serverAuth only
        cls.rogue = echod.TestCA(cn="rogue CA")
        cls.rogue.issue("alice")
        cls.crl = os.path.join(echod.tmpdir("crl-"), "crl.pem")
        cls.ca.crl(cls.crl)
        cls.srv = echod.Server(
            *cls.ca.server_flags("server", crl=cls.crl),
            "--allow-cn", "alice", "--allow-cn", "bob",
            "--metrics-listen", "127.0.0.1:0", "--no-watch",
            "--workers", "2", "--handshake-threads", "2",
            "--drain-timeout", "60s", metrics=True, admin=True)
        m = cls.srv.wait_log(METRICS_RE.pattern, 10)
        cls.mport = int(m.group(1).rsplit(":", 1)[1])
        assert m.group(1).startswith("127.0.0.1:"), m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # -- helpers --

    def ctx(self, ca, name):
        return echod.client_context(**ca.client(name))

    def good_session(self, name="alice", payload=b"hello metrics\n"):
        with echod.connect(self.srv.port, self.ctx(self.ca, name)) as s:
            self.assertEqual(echod.echo(s, payload), payload)
            echod.close_tls(s)
        return len(payload)

    def wait_metrics(self, pred, what, timeout=10):
        last = {}

        def check():
            last["m"] = parse(scrape(self.mport))
            return pred(last["m"])
        try:
            echod.wait_until(check, timeout, interval=0.1, what=what)
        except AssertionError:
            raise AssertionError("%s; last scrape:\n%s" % (what, "\n".join(
                "%s %s %s" % (n, dict(l), v) for (n, l), v in
                sorted(last["m"].items(), key=lambda x: x[0][0])
                if n.startswith("echod_") and "bucket" not in n)))
        return last["m"]

    # -- tests, run in name order --

    def test_1_counters_move_exactly(self):
        before = parse(scrape(self.mport))
        n_good, k = 0, 0
        for i, name in enumerate(["alice", "bob", "alice"]):
            k += self.good_session(name, b"x" * (1000 * (i + 1)) + b"\0\n")
            n_good += 1
        refusals = {
            "no_client_cert": echod.client_context(ca=self.ca.ca_pem),
            # trusts the right server CA, presents a rogue-CA certificate
            "unknown_ca": echod.client_context(
                ca=self.ca.ca_pem, cert=self.rogue.path("alice"),
                key=self.rogue.path("alice", "key")),
            "cert_expired": self.ctx(self.ca, "old"),
            "cert_not_yet_valid": self.ctx(self.ca, "future"),
            "bad_eku": self.ctx(self.ca, "srvascli"),
            "acl_denied": self.ctx(self.ca, "mallory"),
        }
        for reason, ctx in refusals.items():
            _, lport = echod.refused_alert(self.srv.port, ctx)
            self.assertEqual(self.srv.handshake_failure(lport), reason)
        # Plaintext garbage instead of a ClientHello.
        raw = socket.create_connection(("127.0.0.1", self.srv.port))
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.settimeout(echod.scaled(5))
        try:
            raw.recv(100)
        except OSError:
            pass
        raw.close()
        n_conn = n_good + len(REASONS)

        def d(m, name, **labels):
            return val(m, name, **labels) - val(before, name, **labels)

        def settled(m):
            return (d(m, "echod_connections_accepted_total") == n_conn and
                    all(d(m, "echod_tls_handshake_errors_total", reason=r) == 1
                        for r in REASONS) and
                    d(m, "echod_sent_bytes_total") == k and
                    d(m, "echod_connections_closed_total") == n_conn and
                    val(m, "echod_connections_active", state="established")
                    == 0 and
                    val(m, "echod_connections_active", state="handshaking")
                    == 0)
        m = self.wait_metrics(settled, "counters to settle")
        self.assertEqual(d(m, "echod_tls_handshakes_total", resumed="false"),
                         n_good)
        self.assertEqual(d(m, "echod_tls_handshakes_total", resumed="true"), 0)
        self.assertEqual(d(m, "echod_received_bytes_total"), k)
        self.assertEqual(d(m, "echod_sent_bytes_total"), k)
        for r in ["cert_revoked", "timeout", "other"]:
            self.assertEqual(d(m, "echod_tls_handshake_errors_total",
                               reason=r), 0, r)
        self.assertEqual(total(m, "echod_tls_sessions_total") -
                         total(before, "echod_tls_sessions_total"), n_good)
        self.assertEqual(
            d(m, "echod_tls_sessions_total", version="TLSv1.3",
              cipher="TLS_AES_128_GCM_SHA256") +
            d(m, "echod_tls_sessions_total", version="TLSv1.3",
              cipher="TLS_AES_256_GCM_SHA384") +
            d(m, "echod_tls_sessions_total", version="TLSv1.3",
              cipher="TLS_CHACHA20_POLY1305_SHA256"), n_good)
        self.assertEqual(d(m, "echod_tls_handshake_duration_seconds_count"),
                         n_good)
        # Every accepted connection, refused or not, is closed and timed.
        self.assertEqual(d(m, "echod_connection_duration_seconds_count"),
                         n_conn)
        self.assertEqual(d(m, "echod_connections_closed_total"), n_conn)
        for r in ["max_connections", "pending_handshakes", "draining"]:
            self.assertEqual(d(m, "echod_connections_rejected_total",
                               reason=r), 0)
        # Certificates and CRL as loaded.
        self.assertGreater(val(m, "echod_cert_not_after_timestamp_seconds",
                               role="server"), time.time() + 29 * 86400)
        self.assertGreater(val(m, "echod_cert_not_after_timestamp_seconds",
                               role="ca"), time.time() + 3000 * 86400)
        self.assertLess(val(m, "echod_cert_not_before_timestamp_seconds",
                            role="server"), time.time())
        crl_next = val(m, "echod_crl_next_update_timestamp_seconds")
        self.assertAlmostEqual(crl_next, time.time() + 7 * 86400, delta=3600)
        self.assertEqual(val(m, "echod_draining"), 0)
        self.assertEqual(val(m, "echod_last_reload_successful"), 1)
        self.assertEqual(get(self.mport, "/readyz")[0], 200)
        self.assertEqual(get(self.mport, "/healthz")[:1], (200,))

    def test_2_reload_failed_then_good(self):
        before = parse(scrape(self.mport))
        with open(self.crl, "rb") as f:
            good_crl = f.read()
        # A CRL that does not parse: the reload fails and changes nothing.
        with open(self.crl, "wb") as f:
            f.write(b"-----BEGIN X509 CRL-----\ngarbage\n"
                    b"-----END X509 CRL-----\n")
        self.srv.signal(signal.SIGHUP)

        def d(m, result):
            return (val(m, "echod_reloads_total", result=result,
                        trigger="signal") -
                    val(before, "echod_reloads_total", result=result,
                        trigger="signal"))
        m = self.wait_metrics(lambda m: d(m, "failure") == 1,
                              "the failed reload")
        self.assertEqual(d(m, "success"), 0)
        self.assertEqual(val(m, "echod_last_reload_successful"), 0)
        t_fail = val(m, "echod_last_reload_timestamp_seconds")
        self.assertAlmostEqual(t_fail, time.time(), delta=30)
        self.assertEqual(get(self.mport, "/readyz")[0], 200)  # old creds
        self.good_session("bob")  # bob still in: nothing changed
        # Revoke bob, publish a good CRL: the reload succeeds.
        self.ca.revoke("bob")
        self.ca.crl(self.crl)
        with open(self.crl, "rb") as f:
            self.assertNotEqual(f.read(), good_crl)
        self.srv.signal(signal.SIGHUP)
        m = self.wait_metrics(lambda m: d(m, "success") == 1,
                              "the good reload")
        self.assertEqual(d(m, "failure"), 1)
        self.assertEqual(val(m, "echod_last_reload_successful"), 1)
        self.assertGreaterEqual(val(m, "echod_last_reload_timestamp_seconds"),
                                t_fail)
        for t in ["startup", "admin", "watch"]:
            for r in ["success", "failure"]:
                self.assertEqual(
                    val(m, "echod_reloads_total", result=r, trigger=t),
                    val(before, "echod_reloads_total", result=r, trigger=t))
        # bob is now refused as revoked, and counted once.
        _, lport = echod.refused_alert(self.srv.port, self.ctx(self.ca, "bob"))
        self.assertEqual(self.srv.handshake_failure(lport), "cert_revoked")
        self.wait_metrics(
            lambda m: val(m, "echod_tls_handshake_errors_total",
                          reason="cert_revoked") -
            val(before, "echod_tls_handshake_errors_total",
                reason="cert_revoked") == 1, "cert_revoked counted")

    def test_3_promtool_check_metrics(self):
        text = scrape(self.mport)
        r = echod.run_tool(["promtool", "check", "metrics"], input=text)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        for fam in ["process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_open_fds", "process_max_fds",
                    "process_start_time_seconds"]:
            self.assertIn("\n# TYPE %s " % fam, text)
        m = parse(text)
        self.assertGreater(val(m, "process_resident_memory_bytes"), 1e6)
        self.assertAlmostEqual(val(m, "process_start_time_seconds"),
                               time.time(), delta=600)
        fds = val(m, "process_open_fds")
        self.assertLess(abs(fds - echod.num_fds(self.srv.pid)), 5)
        bi = [l for (n, l) in m if n == "echod_build_info"]
        self.assertEqual(len(bi), 1)
        self.assertTrue(dict(bi[0])["boringssl"].startswith("api-"))

    def test_4_prometheus_scrapes(self):
        work = echod.tmpdir("prom-")
        shutil.copy(os.path.join(echod.runfiles_dir(), "echod", "deploy",
                                 "prometheus", "alerts.yml"), work)
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - alerts.yml\n"
                    "scrape_configs:\n  - job_name: echod\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.mport)
        port = echod.free_port()
        log = open(os.path.join(work, "prometheus.log"), "wb")
        proc = echod._track(subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(work,
                                                           "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "data"),
             "--web.listen-address=127.0.0.1:%d" % port,
             "--log.level=warn"], stdout=log, stderr=log, cwd=work))
        try:
            def query(q):
                url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
                    port, urllib.parse.quote(q))
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        res = json.load(r)
                except OSError:
                    return None
                return res["data"]["result"] if res.get("status") == \
                    "success" else None

            def one(q):
                r = query(q)
                return r[0]["value"][1] if r else None
            echod.wait_until(lambda: one('up{job="echod"}') == "1", 60,
                             interval=0.5, what="Prometheus: up == 1")
            accepted = float(one("echod_connections_accepted_total"))
            # Earlier tests made connections; Prometheus saw them.
            self.assertGreater(accepted, 0)
            self.assertLessEqual(accepted, val(
                parse(scrape(self.mport)), "echod_connections_accepted_total"))
            res = query('echod_build_info{job="echod"}')
            self.assertEqual(len(res), 1)
            self.assertEqual(res[0]["value"][1], "1")
            # The deploy rules load in a real Prometheus, and none fires.
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/api/v1/rules" % port,
                    timeout=5) as r:
                rules = json.load(r)["data"]["groups"][0]["rules"]
            self.assertEqual(len(rules), 6)
            for rule in rules:
                self.assertEqual(rule["health"], "ok", rule)
                self.assertEqual(rule["state"], "inactive", rule)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            echod._untrack(proc)
            log.close()

    def test_5_bad_http_input(self):
        ctx = self.ctx(self.ca, "alice")
        echo = echod.connect(self.srv.port, ctx)
        n = [0]

        def echo_ok():
            n[0] += 1
            data = b"still here %d\n" % n[0]
            self.assertEqual(echod.echo(echo, data), data)
        silent = socket.create_connection(("127.0.0.1", self.mport))
        t0 = time.monotonic()
        echo_ok()
        # 404 and 405 keep the connection; HEAD has no body.
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=5)
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(s)[0], 404)
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, _ = read_response(s)
        self.assertEqual((st, h.get("allow")), (405, "GET, HEAD"))
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, _ = read_response(s, head_only=True)
        self.assertEqual(st, 200)
        self.assertGreater(int(h["content-length"]), 1000)
        st, h, body = read_response(s)  # right after HEAD: no body sent
        self.assertEqual((st, body, h["connection"]), (200, b"ok\n",
                                                       "keep-alive"))
        s.close()
        echo_ok()
        # Malformed: 400 and closed. Oversized head: 431 and closed.
        for data, status in [
                (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40
                 + b"\r\n\r\n", b"400"),
                (b"GET /metrics HTTP/1.1\r\n\r\n", b"400"),  # no Host
                (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                 b"400"),
                (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000,
                 b"431"),
                (b"GET /healthz HTTP/1.0\r\n\r\n", b"200")]:
            got, closed = http_raw(self.mport, data)
            self.assertTrue(got.startswith(b"HTTP/1.1 " + status), got[:80])
            self.assertTrue(closed, data[:40])
            echo_ok()
        # The connection limits (64 slots, 8 per address, probe slots) have
        # their own test: limits_test.py.
        # The silent client is closed after 10 s, not before.
        silent.settimeout(echod.scaled(15))
        try:
            b = silent.recv(10)
        except ConnectionResetError:
            b = b""
        waited = time.monotonic() - t0
        self.assertEqual(b, b"")
        self.assertGreaterEqual(waited, 9.5)
        self.assertLess(waited, echod.scaled(13))
        silent.close()
        echo_ok()
        echod.close_tls(echo)

    def test_6_ipv6_listen_and_no_metrics(self):
        with echod.Server(*self.ca.server_flags("server"),
                          "--metrics-listen", "[::1]:0", metrics=True) as srv:
            m = srv.wait_log(METRICS_RE.pattern, 10)
            self.assertTrue(m.group(1).startswith("[::1]:"), m.group(1))
            port = int(m.group(1).rsplit(":", 1)[1])
            st, _, body = get(port, "/readyz", host="::1")
            self.assertEqual((st, body), (200, b"ok\n"))
        with echod.Server(*self.ca.server_flags("server")) as srv:
            self.assertNotIn("metrics listening", srv.log())
        # A taken metrics port is a startup error, not a silent gap, and
        # its one line says which address and why; it comes before the
        # echo port listens (tests/startup).
        r = echod.run_server(list(self.ca.server_flags("server")) + [
            "--listen", "127.0.0.1:0", "--no-admin",
            "--metrics-listen", "127.0.0.1:%d" % self.mport])
        self.assertEqual(r.returncode, 1, r.stderr)
        # It names who holds the port (this test's first server) and
        # the two ways out.
        self.assertRegex(
            r.stderr, r"echod: error: cannot listen on metrics address "
            r"127\.0\.0\.1:%d: address already in use by pid \d+ \(\S+\) "
            r"\(choose another with --metrics-listen, or --no-metrics\)\n"
            % self.mport)
        self.assertNotIn("msg=listening", r.stderr)

    def test_7_readyz_when_server_cert_expires(self):
        # A server certificate valid for a few more seconds: ready now, not
        # ready once it has expired (the process keeps running).
        life = echod.scaled(6)
        self.ca.issue("short", role="server", not_after=life)
        expires = time.time() + life
        with echod.Server(*self.ca.server_flags("short"),
                          "--metrics-listen", "127.0.0.1:0", "--no-watch",
                          metrics=True) as srv:
            m = srv.wait_log(METRICS_RE.pattern, 10)
            port = int(m.group(1).rsplit(":", 1)[1])
            st, _, body = get(port, "/readyz")
            self.assertEqual((st, body), (200, b"ok\n"))
            time.sleep(max(0, expires - time.time()) + 1.5)
            st, _, body = get(port, "/readyz")
            self.assertEqual((st, body), (503, b"server certificate expired\n"))
            st, _, _ = get(port, "/readyz", method="HEAD")
            self.assertEqual(st, 503)
            self.assertEqual(get(port, "/healthz")[0], 200)

    def test_8_admin_metrics_and_reload(self):
        # The admin socket serves the same text (echoctl metrics), counts
        # the request, and an admin reload is counted with its trigger.
        def ctl(*args):
            r = echod.run_tool([echod.binary("cmd/echoctl"), "--state-dir",
                                self.srv.state_dir] + list(args))
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout
        before = parse(scrape(self.mport))
        text = ctl("metrics")
        r = echod.run_tool(["promtool", "check", "metrics"], input=text)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertIn("\nechod_build_info{", text)
        # A session open across the reload passes its re-check and moves
        # onto the new credentials: the old ones are not kept for it.
        held = echod.connect(self.srv.port, self.ctx(self.ca, "alice"))
        self.addCleanup(held.close)
        self.assertEqual(echod.echo(held, b"before\n"), b"before\n")
        self.assertEqual(val(before, "echod_credential_snapshots"), 1)
        ctl("reload", "--check")
        ctl("reload")  # answers once the sessions are re-checked
        self.assertEqual(echod.echo(held, b"after\n"), b"after\n")

        def d(m, name, **labels):
            return val(m, name, **labels) - val(before, name, **labels)
        m = parse(scrape(self.mport))
        self.assertEqual(d(m, "echod_admin_requests_total", cmd="metrics",
                           result="ok"), 1)
        self.assertEqual(d(m, "echod_admin_requests_total", cmd="reload",
                           result="ok"), 2)
        self.assertEqual(d(m, "echod_reloads_total", result="success",
                           trigger="admin"), 1)  # --check is not a reload
        self.assertEqual(d(m, "echod_reloads_total", result="failure",
                           trigger="admin"), 0)
        self.assertEqual(val(m, "echod_last_reload_successful"), 1)
        self.assertEqual(val(m, "echod_credential_snapshots"), 1)

    def test_9_readyz_during_drain(self):
        ctx = self.ctx(self.ca, "alice")
        s = echod.connect(self.srv.port, ctx)
        self.assertEqual(echod.echo(s, b"before drain\n"), b"before drain\n")
        self.assertEqual(get(self.mport, "/readyz")[0], 200)
        self.srv.signal(signal.SIGTERM)
        echod.wait_until(lambda: get(self.mport, "/readyz")[0] == 503, 10,
                         what="/readyz 503 while draining")
        st, _, body = get(self.mport, "/readyz")
        self.assertEqual((st, body), (503, b"draining\n"))
        self.assertEqual(get(self.mport, "/healthz")[0], 200)
        m = parse(scrape(self.mport))
        self.assertEqual(val(m, "echod_draining"), 1)
        # The open session holds the server in its drain.
        time.sleep(1)
        self.assertTrue(self.srv.running())
        self.assertEqual(get(self.mport, "/readyz")[0], 503)
        s.close()
        self.assertEqual(self.srv.wait_exit(20), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
