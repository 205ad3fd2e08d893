"""Every session the process may hold (issue 15).

echod raises its soft RLIMIT_NOFILE to the hard limit at start and logs
both; --max-connections (default 0) takes every descriptor the process
does not keep for itself, counted part by part in the "descriptor limit"
line, and the count is exact: at rest the process holds exactly what the
line says it keeps open. A --max-connections larger than what fits is
refused with one line and exit 2, before anything listens. At the limit,
further connections are refused at accept and counted (max_connections)
while the held sessions keep echoing. The limits are set for the server
alone with prlimit(1) as its launcher."""

import http.client
import re
import socket
import ssl
import time
import unittest

from tests.lib import echod


def prlimit(soft, hard):
    return ["prlimit", "--nofile=%d:%d" % (soft, hard), "--"]


def fit_line(srv):
    ev = srv.events("descriptor limit")
    if not ev:
        raise AssertionError("no descriptor limit line\n" + srv.log_tail())
    return {k: (v if k == "reserved" or not v.isdigit() else int(v))
            for k, v in ev[0].items()}


def at_rest(f):
    """What the line says the process keeps open once it runs: what was
    open, each loop's listener descriptors, the file watch."""
    return f["open_now"] + f["listener_dups"] + f["inotify"]


def rejected(port, reason):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r'echod_connections_rejected_total\{reason="%s"\} (\d+)'
                  % reason, text)
    return int(m.group(1)) if m else None


class Descriptors(unittest.TestCase):

    def test_sized_to_the_limit_and_counted_exactly(self):
        with echod.Server("--workers", "2", "--metrics-listen", "127.0.0.1:0",
                          admin=True, metrics=True,
                          launcher=prlimit(300, 500)) as srv:
            f = fit_line(srv)
            self.assertEqual((f["soft_at_start"], f["soft"], f["hard"]),
                             (300, 500, 500))
            self.assertEqual(f["sized"], "auto")
            reserved = dict((k, int(v)) for k, v in
                            (r.split(":") for r in f["reserved"].split(",")))
            self.assertEqual(set(reserved), {"admin", "metrics"})
            self.assertEqual(f["listener_dups"], 2)  # 2 loops, 1 address
            self.assertEqual(f["inotify"], 1)
            self.assertEqual(f["transient"], 3)      # control + 2 loops
            own = at_rest(f) + sum(reserved.values()) + f["transient"]
            self.assertEqual(f["own"], own)
            self.assertEqual(f["max_connections"], 500 - own)
            self.assertEqual(f["max_handshaking"], min(4096, 500 - own))
            # Exact: at rest the process holds what the line counted.
            echod.wait_until(lambda: echod.num_fds(srv.pid) == at_rest(f),
                             5, what="%d descriptors (has %d)"
                             % (at_rest(f), echod.num_fds(srv.pid)))
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"x"), b"x")
                self.assertEqual(echod.num_fds(srv.pid), at_rest(f) + 1)
                echod.close_tls(s)
            echod.wait_until(lambda: echod.num_fds(srv.pid) == at_rest(f),
                             5, what="the session's descriptor back")
            srv.stop_clean()

    def test_more_than_fits_is_refused_before_listening(self):
        port = echod.free_port()
        r = echod.run_tool(
            prlimit(100, 100) + [echod.binary("cmd/server")] +
            echod.server_flags(["--listen", "127.0.0.1:%d" % port,
                                "--no-admin", "--no-metrics",
                                "--workers", "1", "--max-connections",
                                "1000", "--log-level", "warn"]),
            env={"ECHOD_STATE_DIR": echod.tmpdir("state-")}, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("--max-connections 1000 does not fit", lines[0])
        self.assertIn("RLIMIT_NOFILE is 100", lines[0])
        m = re.search(r"at most (\d+) connections fit", lines[0])
        self.assertTrue(m and 0 < int(m.group(1)) < 100, lines[0])
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
        # What fits is taken.
        with echod.Server("--workers", "1", "--max-connections",
                          m.group(1), launcher=prlimit(100, 100)) as srv:
            f = fit_line(srv)
            self.assertEqual((f["max_connections"], f["sized"]),
                             (int(m.group(1)), "given"))
            srv.stop_clean()

    def test_at_the_limit_refused_and_held_ones_echo(self):
        with echod.Server("--workers", "1", "--metrics-listen",
                          "127.0.0.1:0", metrics=True,
                          launcher=prlimit(240, 240)) as srv:
            f = fit_line(srv)
            n = f["max_connections"]
            self.assertGreater(n, 20)
            mport = int(srv.wait_log(r'msg="metrics listening" '
                                     r'addr=\S+:(\d+)').group(1))
            ctx = echod.client_context(**srv.dev_client())
            held = []
            try:
                for i in range(n):
                    s = echod.connect(srv.port, ctx)
                    held.append(s)
                    self.assertEqual(echod.echo(s, b"%d" % i), b"%d" % i)
                for _ in range(5):  # refused at accept, the TLS never starts
                    with self.assertRaises((OSError, ssl.SSLError)):
                        with echod.connect(srv.port, ctx, timeout=5) as s:
                            echod.echo(s, b"no", timeout=5)
                self.assertEqual(rejected(mport, "max_connections"), 5)
                srv.wait_log(r'msg="connection refused" '
                             r'reason=max_connections')
                self.assertLessEqual(echod.num_fds(srv.pid), 240)
                for i, s in enumerate(held):
                    self.assertEqual(echod.echo(s, b"again %d" % i),
                                     b"again %d" % i)
            finally:
                for s in held:
                    s.close()
            echod.wait_until(lambda: echod.serves(srv.port, ctx), 15, interval=0.2, what="serving again")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
