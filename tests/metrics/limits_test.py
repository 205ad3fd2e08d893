"""The metrics port under a greedy client (issue 12, item 3), on the real
//cmd:server with its default limits (README, docs/deploy.md):

- 64 connection slots, at most 8 connections per client address;
- 4 more slots that only /healthz and /readyz get, when the 64 are taken
  or the connection's address holds its 8: a probe on a new connection is
  answered once (Connection: close), and anything else there gets 503;
- at most 1000 requests per keep-alive connection (the lifetime limit,
  60 s, is tested with a short value in internal/metrics/endpoint_test.c).

One host plays several client addresses (127.0.0.2-9: Linux answers the
whole 127/8 on lo), the way a host with several addresses, or several pods
behind one node, would.
"""

import re
import socket
import threading
import time
import unittest

from tests.lib import echod

METRICS_RE = re.compile(r'msg="metrics listening" addr=(\S+)')
HEAD_RE = re.compile(rb"^HTTP/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n", re.S)


def dial(port, src="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(echod.scaled(timeout))
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(s):
    """(status, headers, body) of one response; None if the connection
    closes (or resets) first."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            b = s.recv(1)
            if not b:
                return None
            buf += b
        m = HEAD_RE.match(buf)
        assert m, buf
        headers = dict((k.decode().lower(), v.strip().decode()) for k, v in
                       (line.split(b":", 1)
                        for line in m.group(2).split(b"\r\n")))
        body, n = b"", int(headers["content-length"])
        while len(body) < n:
            b = s.recv(n - len(body))
            if not b:
                return None
            body += b
    except ConnectionResetError:
        return None
    return int(m.group(1)), headers, body


def request(s, path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    return read_response(s)


def closed_unanswered(s):
    """True if the server closes |s| without sending a byte."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def probe(port, path, src="127.0.0.1"):
    """A kubelet-like probe on a new connection: (status, headers, body),
    or None if it got no answer."""
    try:
        with dial(port, src) as s:
            return request(s, path)
    except OSError:
        return None


class MetricsLimits(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server("--metrics-listen", "127.0.0.1:0",
                               metrics=True)
        m = cls.srv.wait_log(METRICS_RE.pattern, 10)
        cls.port = int(m.group(1).rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def wait_free(self):
        """Closed connections are released asynchronously: wait until a
        general slot answers /metrics again."""
        def ok():
            r = probe(self.port, "/metrics", src="127.0.0.99")
            return r is not None and r[0] == 200
        echod.wait_until(ok, echod.scaled(10), what="a free slot")

    def test_greedy_host_does_not_starve_probes(self):
        # 8 addresses x 8 connections take all 64 general slots, and keep
        # them with a request every 2 s on each (keep-alive).
        held = []
        stop = threading.Event()
        errors = []
        try:
            for i in range(8):
                for _ in range(8):
                    s = dial(self.port, "127.0.0.%d" % (i + 2))
                    self.assertEqual(request(s, "/metrics")[0], 200)
                    held.append(s)

            def keep_alive():
                while not stop.wait(2):
                    for s in held:
                        r = request(s, "/healthz")
                        if r is None or r[0] != 200:
                            errors.append(r)
            t = threading.Thread(target=keep_alive, daemon=True)
            t.start()
            # Probes from another client, on new connections, for 6 s: all
            # answered, each once, with Connection: close.
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 6:
                for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ok\n")):
                    r = probe(self.port, path)
                    self.assertIsNotNone(r, "probe %s got no answer" % path)
                    self.assertEqual((r[0], r[2]), (200, body))
                    self.assertEqual(r[1]["connection"], "close")
                    n += 1
                time.sleep(0.25)
            self.assertGreater(n, 20)
            # The spare slots serve probes only.
            r = probe(self.port, "/metrics")
            self.assertEqual(r[0], 503)
            self.assertIn(b"/healthz and /readyz", r[2])
            # The greedy host's own connections were served all along.
            stop.set()
            t.join(echod.scaled(10))
            self.assertEqual(errors, [])
            for s in held[:4]:
                self.assertEqual(request(s, "/healthz")[0], 200)
        finally:
            stop.set()
            for s in held:
                s.close()
        self.wait_free()

    def test_per_client_cap(self):
        conns = []
        try:
            for _ in range(8):
                s = dial(self.port, "127.0.0.20")
                self.assertEqual(request(s, "/healthz")[0], 200)
                conns.append(s)
            # The ninth from the same address gets no general slot: only a
            # probe slot, answered once, and only for a probe. (Before, it
            # was closed unanswered, probe or not.)
            r = probe(self.port, "/healthz", "127.0.0.20")
            self.assertEqual((r[0], r[1]["connection"]), (200, "close"))
            r = probe(self.port, "/metrics", "127.0.0.20")
            self.assertEqual((r[0], r[1]["connection"]), (503, "close"))
            # Another address is served.
            self.assertEqual(probe(self.port, "/metrics", "127.0.0.21")[0],
                             200)
        finally:
            for s in conns:
                s.close()
        self.wait_free()

    def refused(self, reason):
        r = probe(self.port, "/metrics", src="127.0.0.98")
        m = re.search(rb'\nechod_metrics_connections_refused_total'
                      rb'\{reason="%s"\} (\d+)\n' % reason.encode(), r[2])
        return int(m.group(1))

    def test_local_holder_does_not_starve_local_probes(self):
        # One local process keeps 8 connections from 127.0.0.1 (the
        # per-address cap), silent, reconnecting as soon as one is
        # closed. Probes from 127.0.0.1 - the kubelet's or a local
        # health check's address - must still be answered. Before: every
        # one was reset (the cap counted the probe slots too).
        stop = threading.Event()
        held = []

        def holder():
            while not stop.is_set():
                while len(held) < 8 and not stop.is_set():
                    try:
                        held.append(dial(self.port, "127.0.0.1"))
                    except OSError:
                        break
                for s in list(held):
                    s.setblocking(False)
                    try:
                        if s.recv(1) == b"":
                            raise OSError("closed")
                    except BlockingIOError:
                        pass
                    except OSError:
                        held.remove(s)
                        s.close()
                stop.wait(0.05)

        t = threading.Thread(target=holder, daemon=True)
        t.start()
        try:
            echod.wait_until(lambda: len(held) == 8, 10, what="8 held")
            time.sleep(0.2)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 3:
                for path in ("/healthz", "/readyz"):
                    r = probe(self.port, path)
                    self.assertIsNotNone(r, "probe %s got no answer" % path)
                    self.assertEqual((r[0], r[2]), (200, b"ok\n"))
                    n += 1
                time.sleep(0.1)
            self.assertGreater(n, 10)
            # A scrape of /metrics from that address, on a new connection,
            # gets a probe slot too: 503, counted (docs/deploy.md).
            probe_only = self.refused("probe_only")
            r = probe(self.port, "/metrics")
            self.assertEqual(r[0], 503)
            self.assertIn(b"/healthz and /readyz", r[2])
            self.assertEqual(self.refused("probe_only"), probe_only + 1)
        finally:
            stop.set()
            t.join(echod.scaled(10))
            for s in held:
                s.close()
        self.wait_free()

    def test_max_requests_per_connection(self):
        with dial(self.port, "127.0.0.30", timeout=15) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 1001)
            for i in range(1000):
                r = read_response(s)
                self.assertIsNotNone(r, "response %d" % (i + 1))
                self.assertEqual(r[0], 200)
                self.assertEqual(r[1]["connection"],
                                 "close" if i == 999 else "keep-alive", i)
            self.assertTrue(closed_unanswered(s))  # not the 1001st


if __name__ == "__main__":
    unittest.main(verbosity=2)
