"""Two echod replicas behind a real HAProxy (issue 16): Debian's haproxy in
TCP mode, round robin, send-proxy-v2 to each replica, health checks on
each replica's /readyz; the replicas share one CA, one CRL and one
ticket-keys file. Each test starts its own balancer and replicas on
loopback ports and stops them.

- A ticket issued through replica A resumes on replica B, and on A after
  A restarted.
- The logs and `echoctl sessions` show the client's address from the
  PROXY header as the peer and HAProxy's as `via`.
- A client loop through HAProxy while A drains (its /readyz turns 503,
  HAProxy takes it out, A keeps accepting meanwhile) and while B is
  upgraded with `echoctl upgrade`: no failed connection, no lost byte, and
  a session left open on A gets close_notify only after the drain timeout.
- A client revoked on the shared CRL: both replicas close its sessions in
  one reload each, and its ticket resumes on neither."""

import os
import shutil
import ssl
import time
import unittest

from tests.fleet import fleet_util as fu
from tests.lib import echod


class Replica:
    """One echod of the fleet, on fixed ports so it can restart."""

    def __init__(self, name, pki, program):
        self.name, self.pki, self.program = name, pki, program
        self.port, self.metrics = echod.free_port(), echod.free_port()
        self.dir = echod.tmpdir("replica-%s-" % name)
        self.admin = os.path.join(self.dir, "admin.sock")
        self.srv = None
        self.new_pid = None

    def start(self):
        self.srv = echod.Server(
            *self.pki.server_flags(), "--proxy-protocol",
            "--admin-socket", self.admin,
            "--metrics-listen", "127.0.0.1:%d" % self.metrics,
            "--drain-timeout", "3s", "--drain-sessions", "finish",
            listen="127.0.0.1:%d" % self.port, admin=True, metrics=True,
            program=self.program, state_dir=self.dir)
        return self

    def sessions(self):
        r = fu.admin(self.admin, {"cmd": "sessions"})
        return r["result"]["sessions"] if r.get("ok") else []

    def stop(self):
        if self.new_pid:
            fu.stop_pid(self.new_pid)
        if self.srv:
            self.srv.stop()


class Fleet(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        fu.become_subreaper()

    def setUp(self):
        self.pki = fu.Pki(clients=("alice", "bob"))
        program = os.path.join(echod.tmpdir("bin-"), "echod")
        shutil.copy2(echod.binary("cmd/server"), program)
        self.a = Replica("a", self.pki, program).start()
        self.b = Replica("b", self.pki, program).start()
        self.lb = fu.HAProxy([("a", self.a.port, self.a.metrics),
                              ("b", self.b.port, self.b.metrics)])
        self.lb.wait_status("a", "UP")
        self.lb.wait_status("b", "UP")

    def tearDown(self):
        self.lb.stop()
        for r in (self.a, self.b):
            r.stop()

    def where(self, sock):
        """(replica, session row) serving |sock|, by the client address the
        PROXY header carried."""
        peer = "127.0.0.1:%d" % echod.local_port(sock)
        for r in (self.a, self.b):
            for s in r.sessions():
                if s["peer"] == peer:
                    return r, s
        return None, None

    def through_lb(self, ctx, session=None, strict_eof=False):
        s = echod.connect(self.lb.port, ctx, session=session,
                          strict_eof=strict_eof)
        self.assertEqual(echod.echo(s, b"hello"), b"hello")  # + the ticket
        return s

    def test_ticket_resumes_on_the_other_replica_and_after_restart(self):
        ctx = self.pki.client()
        s = self.through_lb(ctx)
        first, row = self.where(s)
        self.assertFalse(row["resumed"])
        ticket = s.session
        echod.close_tls(s)
        s = self.through_lb(ctx, session=ticket)  # round robin: the other
        other, row = self.where(s)
        self.assertIsNot(other, first)
        self.assertTrue(s.session_reused)
        self.assertTrue(row["resumed"])
        echod.close_tls(s)
        # first restarts; its ticket (sealed with the shared keys) holds.
        first.srv.stop_clean()
        first.start()
        self.lb.wait_status(first.name, "UP")
        self.lb.command("disable server echod/%s" % other.name)
        s = self.through_lb(ctx, session=ticket)
        self.assertIs(self.where(s)[0], first)
        self.assertTrue(s.session_reused)
        echod.close_tls(s)
        self.lb.command("enable server echod/%s" % other.name)
        st = fu.admin(first.admin, {"cmd": "status"})["result"]
        self.assertEqual(st["handshakes"]["resumed"], 1)
        self.assertEqual(st["ticket_keys"]["source"], "file")

    def test_proxy_header_gives_the_client_address(self):
        ctx = self.pki.client()
        s = self.through_lb(ctx)
        replica, row = self.where(s)
        peer = "127.0.0.1:%d" % echod.local_port(s)
        self.assertEqual(row["peer"], peer)
        self.assertRegex(row["via"], r"^127\.0\.0\.1:\d+$")
        self.assertNotEqual(row["via"], peer)
        r = fu.echoctl("--socket", replica.admin, "sessions")
        self.assertIn(peer, r.stdout)
        self.assertIn(row["via"], r.stdout)
        off = 0
        echod.close_tls(s)
        m = replica.srv.wait_log(r'msg="session closed"[^\n]*peer=%s '
                                 r'[^\n]*' % peer.replace(".", r"\."), since=off)
        line = echod.parse_logfmt(m.group(0))
        self.assertEqual(line["via"], row["via"])

    def test_drain_and_upgrade_under_load(self):
        ctx = self.pki.client()
        idle = None
        for _ in range(4):  # an idle session on a
            s = self.through_lb(ctx, strict_eof=True)
            if self.where(s)[0] is self.a and idle is None:
                idle = s
            else:
                echod.close_tls(s)
        self.assertIsNotNone(idle)
        loop = fu.ClientLoop(self.lb.port, ctx, threads=3).start()
        time.sleep(1)
        t0 = time.monotonic()
        r = fu.echoctl("--socket", self.a.admin, "drain", "--delay", "1s",
                       "--sessions", "finish", "--timeout", "3s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.lb.wait_status("a", "DOWN", timeout=5)
        idle.settimeout(echod.scaled(20))
        self.assertEqual(idle.recv(10), b"")  # close_notify ...
        self.assertGreater(time.monotonic() - t0, 3.5)  # ... after delay+3s
        idle.close()
        self.assertEqual(self.a.srv.wait_exit(20), 0)
        r = fu.echoctl("--socket", self.b.admin, "upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = self.b.srv.wait_log(r"new_pid=(\d+)")
        self.b.new_pid = int(m.group(1))
        self.assertEqual(self.b.srv.wait_exit(20), 0)
        time.sleep(1)
        loop.stop()
        self.assertEqual(loop.failures, [])
        self.assertGreater(loop.sessions, 20)
        self.assertEqual(loop.echoed, loop.sent)
        self.assertTrue(self.lb.status()["b"].startswith("UP"))
        for rep in (self.a, self.b):
            self.assertEqual(fu.refused_syscalls(rep.srv.log()), [])
        a_log = self.a.srv.log()
        self.assertIn("drain timeout", a_log)
        self.assertIn("action=close_notify", a_log)

    def test_revocation_reaches_both_replicas(self):
        ctx = self.pki.client("bob")
        socks, seen = [], set()
        while len(seen) < 2 and len(socks) < 6:
            s = self.through_lb(ctx, strict_eof=True)
            socks.append(s)
            seen.add(self.where(s)[0].name)
        self.assertEqual(seen, {"a", "b"})
        ticket = socks[0].session
        self.pki.pki("revoke", "bob")
        for rep in (self.a, self.b):
            r = fu.echoctl("--socket", rep.admin, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
        for s in socks:
            s.settimeout(echod.scaled(10))
            self.assertEqual(s.recv(10), b"")  # close_notify: revoked
            s.close()
        for rep in (self.a, self.b):
            rep.srv.wait_log(r'msg="session closed"[^\n]*reason=revoked')
        for _ in range(2):  # one attempt lands on each replica
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                s = echod.connect(self.lb.port, ctx, session=ticket)
                try:
                    self.assertFalse(s.session_reused)
                    s.sendall(b"x")
                    if s.recv(10) == b"":
                        raise ConnectionError("closed")
                finally:
                    s.close()
        for rep in (self.a, self.b):
            rep.srv.wait_log(r'msg="handshake failed"[^\n]*reason=cert_revoked')
        alice = self.pki.client("alice")
        s = self.through_lb(alice)
        echod.close_tls(s)


if __name__ == "__main__":
    unittest.main(verbosity=2)
