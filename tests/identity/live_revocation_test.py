"""Revocation reaches handshakes under way and sessions already open, end
to end against the real server.

- A client that opened TCP before its certificate was revoked and the
  server reloaded, and handshakes after, is refused cert_revoked. So is
  one whose first flight was answered before the reload and whose
  certificate flight comes after it.
- After every successful reload (admin, SIGHUP, file watch) every
  established session is re-checked against the new credentials: one
  that no longer passes gets close_notify, its "session closed" line says
  why (reason=revoked, unknown_ca, ...) with its serial, it is counted in
  echod_sessions_revoked_total{reason}, and the reload reply and the
  "reloaded" line say how many were closed. Sessions that still pass keep
  echoing. --keep-sessions-on-reload keeps the old behaviour.

"Dropped by a changed trust" is tested here with a CRL change and a
CA-bundle change; an allow-list change (--allow-file, the one allow-list a
reload re-reads) in allow_file_test.py.

Before: the credential snapshot was taken at TCP accept, so both waiting
clients got in; established sessions were never re-checked."""

import os
import signal
import socket
import ssl
import unittest

from tests.identity.ctl import admin, echoctl, metric
from tests.identity.mint import Mint, write_atomic, write_bundle
from tests.lib import echod


class LiveRevocationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = cls.dir = echod.tmpdir("mint-")
        a = cls.a = Mint(d, "root A")
        b = cls.b = Mint(d, "root B")
        a.issue("server", role="server")
        for n in ("alice", "carol", "dave"):
            a.issue(n)
        b.issue("bob")
        cls.bundle_ab = write_bundle(os.path.join(d, "ab.pem"), a, b)

    def setUp(self):
        self.work = echod.tmpdir("live-")
        self.crl = os.path.join(self.work, "crl.pem")
        self.a.crl(self.crl)
        self.sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()

    def start(self, *flags, ca=None, crl=True, watch=False, env=None):
        f = ["--cert", self.a.path("server"), "--key",
             self.a.path("server", "key"), "--ca", ca or self.a.ca_pem,
             "--admin-socket", self.sock]
        if crl:
            f += ["--crl", self.crl]
        if not watch:
            f.append("--no-watch")
        self.srv = echod.Server(*(f + list(flags)), admin=True, env=env)
        return self.srv

    def ctx(self, mint, name):
        kw = mint.client(name)
        kw["ca"] = self.a.ca_pem
        return echod.client_context(**kw)

    def session(self, mint, name):
        s = echod.connect(self.srv.port, self.ctx(mint, name),
                          strict_eof=True)
        self.assertEqual(echod.echo(s, name.encode()), name.encode())
        return s

    def revoke(self, *names):
        self.a.crl(self.crl, revoked=list(names))

    def closed_by_server(self, s, reason, mint, name):
        """The server sent close_notify (a clean EOF under strict_eof) and
        logged the close with |reason| and the certificate's serial."""
        lport = echod.local_port(s)
        s.settimeout(echod.scaled(10))
        self.assertEqual(s.recv(100), b"")
        s.close()
        ev = self.srv.session_closed(lport)
        self.assertEqual(ev["reason"], reason, self.srv.log_tail())
        self.assertEqual(int(ev["serial"], 16), mint.serials[name])
        self.assertEqual(ev["cn"], name)

    def still_echoes(self, s):
        self.assertEqual(echod.echo(s, b"still here"), b"still here")

    def refused_revoked(self, mint, name):
        got, lport = echod.refused_alert(self.srv.port, self.ctx(mint, name))
        self.assertEqual(self.srv.handshake_failure(lport), "cert_revoked")
        self.assertEqual(got, "SSLV3_ALERT_CERTIFICATE_REVOKED")

    # -- live sessions ------------------------------------------------------

    def test_revocation_closes_the_session_at_the_reload(self):
        self.start()
        alice, carol = (self.session(self.a, n) for n in ("alice", "carol"))
        self.revoke("alice")
        since = self.srv.log_offset()
        r = admin(self.sock, "reload")
        self.assertEqual((r["recheck"], r["sessions_checked"],
                          r["sessions_closed"]), ("done", 2, 1), r)
        self.closed_by_server(alice, "revoked", self.a, "alice")
        self.still_echoes(carol)
        ev = self.srv.events("reloaded", since=since)
        self.assertEqual(len(ev), 1, self.srv.log_tail())
        self.assertEqual((ev[0]["trigger"], ev[0]["recheck"],
                          ev[0]["sessions_checked"],
                          ev[0]["sessions_closed"]),
                         ("admin", "done", "2", "1"))
        self.assertEqual(metric(self.sock, "echod_sessions_revoked_total",
                                'reason="revoked"'), 1)
        self.refused_revoked(self.a, "alice")
        # A later reload that changes nothing closes nothing; the human
        # output says so.
        out = echoctl(self.sock, "reload").stdout
        self.assertIn("open sessions: 1 re-checked, 0 closed", out)
        self.still_echoes(carol)
        carol.close()
        self.srv.stop_clean()

    def test_keep_sessions_on_reload(self):
        self.start("--keep-sessions-on-reload")
        alice = self.session(self.a, "alice")
        self.revoke("alice")
        since = self.srv.log_offset()
        r = admin(self.sock, "reload")
        self.assertEqual((r["recheck"], r["sessions_checked"],
                          r["sessions_closed"]), ("off", 0, 0), r)
        self.still_echoes(alice)
        self.assertEqual(self.srv.events("reloaded", since=since)[0]
                         ["recheck"], "off")
        self.assertEqual(metric(self.sock, "echod_sessions_revoked_total",
                                'reason="revoked"'), 0)
        self.refused_revoked(self.a, "alice")  # new handshakes still are
        alice.close()
        self.srv.stop_clean()

    def test_ca_removed_by_sighup_drops_its_sessions(self):
        bundle = os.path.join(self.work, "ca.pem")
        write_bundle(bundle, self.a, self.b)
        self.start(ca=bundle, crl=False)
        alice, bob = self.session(self.a, "alice"), self.session(self.b, "bob")
        write_bundle(bundle, self.a)
        since = self.srv.log_offset()
        self.srv.signal(signal.SIGHUP)
        m = self.srv.wait_log(r"msg=reloaded trigger=signal [^\n]*", since=since)
        ev = echod.parse_logfmt(m.group(0))
        self.assertEqual((ev["recheck"], ev["sessions_checked"],
                          ev["sessions_closed"]), ("done", "2", "1"))
        self.closed_by_server(bob, "unknown_ca", self.b, "bob")
        self.still_echoes(alice)
        self.assertEqual(metric(self.sock, "echod_sessions_revoked_total",
                                'reason="unknown_ca"'), 1)
        alice.close()
        self.srv.stop_clean()

    def test_crl_written_reloads_and_closes_by_itself(self):
        self.start(watch=True, env={"ECHOD_RELOAD_DEBOUNCE": "50ms"})
        dave, carol = self.session(self.a, "dave"), self.session(self.a,
                                                                 "carol")
        since = self.srv.log_offset()
        self.revoke("dave")
        m = self.srv.wait_log(r"msg=reloaded trigger=watch [^\n]*",
                              since=since, timeout=15)
        self.assertIn("sessions_closed=1", m.group(0))
        self.closed_by_server(dave, "revoked", self.a, "dave")
        self.still_echoes(carol)
        carol.close()
        self.srv.stop_clean()

    # -- handshakes under way -------------------------------------------------

    def test_revoked_while_tcp_is_open(self):
        self.start()
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        lport = raw.getsockname()[1]
        self.revoke("alice")
        admin(self.sock, "reload")
        with self.assertRaises(ssl.SSLError) as e:
            with self.ctx(self.a, "alice").wrap_socket(
                    raw, server_hostname="localhost") as s:
                s.sendall(b"x")
                s.recv(10)
        raw.close()
        self.assertEqual(e.exception.reason, "SSLV3_ALERT_CERTIFICATE_REVOKED")
        self.assertEqual(self.srv.handshake_failure(lport), "cert_revoked")
        self.srv.stop_clean()

    def test_revoked_between_the_two_flights(self):
        # The server answered alice's ClientHello under the old CRL; her
        # certificate arrives after the reload: the new CRL decides.
        self.start()
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        lport = raw.getsockname()[1]
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx(self.a, "alice").wrap_bio(inc, out,
                                                 server_hostname="localhost")
        done = False
        while not done:
            try:
                tls.do_handshake()  # TLS 1.3: done once our flight is ready
                done = True
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                data = raw.recv(65536)
                self.assertTrue(data, "server closed during the handshake")
                inc.write(data)
        self.revoke("alice")
        admin(self.sock, "reload")
        raw.sendall(out.read())  # Certificate, CertificateVerify, Finished
        with self.assertRaises(ssl.SSLError) as e:
            while True:
                data = raw.recv(65536)
                if not data:
                    inc.write_eof()
                else:
                    inc.write(data)
                try:
                    if not tls.read(100) and not data:
                        break
                except ssl.SSLWantReadError:
                    continue
        raw.close()
        self.assertEqual(e.exception.reason, "SSLV3_ALERT_CERTIFICATE_REVOKED")
        ev = self.srv.handshake_failure_event(lport)
        self.assertEqual((ev["reason"], ev["cn"]), ("cert_revoked", "alice"))
        self.srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
