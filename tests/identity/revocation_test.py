"""Revocation across the whole chain, end to end: several CRLs (the flag
repeated, several in one file), one per CA of the bundle and required for
each; intermediates checked against their issuer's CRL; an expired CRL
under --crl-expired warn (warned again every --crl-warn-interval) and
refuse; --max-chain-depth; and a ticket that
does not bring a client back once its intermediate is revoked.

Before: only the first CRL of --crl was read (the flag kept its last
value), so a second CA's clients were refused "unable to get certificate
CRL" while `reload --check` passed; intermediates were never checked for
revocation; a ticket re-check looked at the leaf only."""

import os
import signal
import socket
import ssl
import unittest

from tests.identity.mint import Mint, write_atomic, write_bundle
from tests.lib import echod


class RevocationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = cls.dir = echod.tmpdir("mint-")
        a = cls.a = Mint(d, "root A")
        b = cls.b = Mint(d, "root B")
        ia = cls.ia = a.intermediate("inter A1")
        a.issue("server", role="server")
        ia.issue("server-i", role="server")
        for m, names in ((a, ("alice", "alice-revoked")),
                         (b, ("bob", "bob-revoked")),
                         (ia, ("carol",))):
            for n in names:
                m.issue(n)
        cls.ab = write_bundle(os.path.join(d, "ab.pem"), a, b)
        cls.ai = write_bundle(os.path.join(d, "ai.pem"), a, ia)
        cls.crl_a = a.crl(os.path.join(d, "crl-a.pem"),
                          revoked=["alice-revoked"])
        cls.crl_b = b.crl(os.path.join(d, "crl-b.pem"),
                          revoked=["bob-revoked"])
        cls.crl_i = ia.crl(os.path.join(d, "crl-i.pem"))
        cls.crl_i_old = ia.crl(os.path.join(d, "crl-i-old.pem"),
                               next_update=-3600, last_update=-7200)

    def flags(self, ca, *crls, server=None):
        m, name = server or (self.a, "server")
        f = ["--cert", m.path(name), "--key", m.path(name, "key"), "--ca", ca,
             "--no-watch"]
        for c in crls:
            f += ["--crl", c]
        return f

    def ctx(self, mint, name):
        """Presents NAME of |mint|; trusts the server's CA (root A)."""
        kw = mint.client(name)
        kw["ca"] = self.a.ca_pem
        return echod.client_context(**kw)

    def served(self, srv, mint, name):
        with echod.connect(srv.port, self.ctx(mint, name)) as s:
            self.assertEqual(echod.echo(s, name.encode()), name.encode())

    def refused(self, srv, mint, name, reason, alert):
        got, lport = echod.refused_alert(srv.port, self.ctx(mint, name))
        self.assertEqual(srv.handshake_failure(lport), reason,
                         srv.log_tail(5))
        self.assertEqual(got, alert)

    def test_two_cas_two_crl_flags(self):
        with echod.Server(*self.flags(self.ab, self.crl_a,
                                      self.crl_b)) as srv:
            self.served(srv, self.a, "alice")
            self.served(srv, self.b, "bob")
            for m, n in ((self.a, "alice-revoked"), (self.b, "bob-revoked")):
                self.refused(srv, m, n, "cert_revoked",
                             "SSLV3_ALERT_CERTIFICATE_REVOKED")
            srv.stop_clean()

    def test_one_file_two_crls(self):
        both = os.path.join(self.dir, "both.pem")
        with open(self.crl_a, "rb") as fa, open(self.crl_b, "rb") as fb:
            write_atomic(both, fa.read() + fb.read())
        with echod.Server(*self.flags(self.ab, both)) as srv:
            self.served(srv, self.a, "alice")
            self.served(srv, self.b, "bob")
            self.refused(srv, self.b, "bob-revoked", "cert_revoked",
                         "SSLV3_ALERT_CERTIFICATE_REVOKED")
            self.refused(srv, self.a, "alice-revoked", "cert_revoked",
                         "SSLV3_ALERT_CERTIFICATE_REVOKED")
            srv.stop_clean()

    def test_every_crl_file_is_watched(self):
        # A revocation written to the second --crl file reloads by itself,
        # like one written to the first. Before, only the first CRL file
        # was watched: the second CA's revocations waited for a SIGHUP.
        d = echod.tmpdir("crls-")
        crl_a, crl_b = os.path.join(d, "a.pem"), os.path.join(d, "b.pem")
        with open(self.crl_a, "rb") as fa, open(self.crl_b, "rb") as fb:
            write_atomic(crl_a, fa.read())
            write_atomic(crl_b, fb.read())
        flags = [f for f in self.flags(self.ab, crl_a, crl_b)
                 if f != "--no-watch"]
        with echod.Server(*flags,
                          env={"ECHOD_RELOAD_DEBOUNCE": "50ms"}) as srv:
            self.served(srv, self.b, "bob")
            since = srv.log_offset()
            write_atomic(crl_b, self.b.crl_pem(revoked=["bob-revoked",
                                                        "bob"]))
            srv.wait_log(r'msg=reloaded trigger=watch', since=since,
                         timeout=echod.scaled(10))
            self.refused(srv, self.b, "bob", "cert_revoked",
                         "SSLV3_ALERT_CERTIFICATE_REVOKED")
            srv.stop_clean()

    def crl_file(self, *pems):
        path = os.path.join(echod.tmpdir(), "crls.pem")
        write_atomic(path, b"".join(pems))
        return path

    def test_revoked_intermediate(self):
        # The server's certificate comes from the intermediate too, and the
        # intermediate's CRL comes first in the file: all a leaf-only
        # check would need.
        crls = self.crl_file(self.ia.crl_pem(),
                             self.a.crl_pem(revoked=[self.ia]))
        with echod.Server(*self.flags(self.ai, crls,
                                      server=(self.ia, "server-i"))) as srv:
            self.refused(srv, self.ia, "carol", "cert_revoked",
                         "SSLV3_ALERT_CERTIFICATE_REVOKED")
            self.served(srv, self.a, "alice")
            # Its own chain is revoked too: said, and the CRLs still apply.
            self.assertEqual(len(srv.events("server certificate revoked")), 1)
            srv.stop_clean()

    def test_ca_without_crl_fails_start_and_reload(self):
        r = echod.run_server(self.flags(self.ab, self.crl_a) +
                             ["--listen", "127.0.0.1:0", "--no-admin",
                              "--no-metrics"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("CA CN=root B", r.stderr)
        self.assertIn("has no CRL", r.stderr)
        # A running server: the bundle gains a CA without a CRL.
        bundle = write_bundle(os.path.join(echod.tmpdir(), "ca.pem"), self.a)
        sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        with echod.Server(*self.flags(bundle, self.crl_a), "--admin-socket",
                          sock, admin=True) as srv:
            write_bundle(bundle, self.a, self.b)
            ctl = [echod.binary("cmd/echoctl"), "--socket", sock, "reload"]
            for check in (["--check"], []):
                r = echod.run_tool(ctl + check, timeout=30)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("CA CN=root B", r.stderr)
            self.served(srv, self.a, "alice")  # the old snapshot stays
            srv.stop_clean()

    def test_expired_crl_warn(self):
        with echod.Server(*self.flags(self.ai, self.crl_a,
                                      self.crl_i_old)) as srv:
            ev = srv.events("CRL past its next update")
            self.assertEqual(len(ev), 1, srv.log_tail())
            self.assertEqual(ev[0]["issuer"], "CN=inter A1")
            self.assertEqual(ev[0]["crl_expired"], "warn")
            self.assertEqual(ev[0]["file"], self.crl_i_old)
            self.served(srv, self.ia, "carol")
            srv.stop_clean()

    def test_expired_crl_warned_again_between_reloads(self):
        # Logged at start, then every --crl-warn-interval (default 1h)
        # while it is still past its next update. Before, only a start or
        # a reload logged it.
        with echod.Server(*self.flags(self.ai, self.crl_a, self.crl_i_old),
                          "--crl-warn-interval", "200ms") as srv:
            echod.wait_until(
                lambda: len(srv.events("CRL past its next update")) >= 3, 10,
                what="the CRL warning, repeated")
            ev = srv.events("CRL past its next update")
            self.assertEqual({e["issuer"] for e in ev}, {"CN=inter A1"})
            self.assertEqual(len(srv.events("reloaded")), 0)  # no reload
            srv.stop_clean()
        with echod.Server(*self.flags(self.ai, self.crl_a,
                                      self.crl_i_old)) as srv:
            srv.wait_log(r"CRL past its next update")
            srv.stop_clean()
            self.assertEqual(len(srv.events("CRL past its next update")), 1)

    def test_expired_crl_refuse(self):
        with echod.Server(*self.flags(self.ai, self.crl_a, self.crl_i_old),
                          "--crl-expired", "refuse") as srv:
            self.refused(srv, self.ia, "carol", "crl_expired",
                         "SSLV3_ALERT_CERTIFICATE_UNKNOWN")
            self.served(srv, self.a, "alice")  # A's CRL is current
            srv.stop_clean()

    def test_max_chain_depth(self):
        with echod.Server(*self.flags(self.ai),
                          "--max-chain-depth", "0") as srv:
            self.refused(srv, self.ia, "carol", "chain_too_long",
                         "TLSV1_ALERT_UNKNOWN_CA")
            self.served(srv, self.a, "alice")
            srv.stop_clean()
        with echod.Server(*self.flags(self.ai),
                          "--max-chain-depth", "1") as srv:
            self.served(srv, self.ia, "carol")
            srv.stop_clean()

    def test_ticket_after_intermediate_revoked(self):
        crls = self.crl_file(self.ia.crl_pem(), self.a.crl_pem())
        with echod.Server(*self.flags(self.ai, crls,
                                      server=(self.ia, "server-i"))) as srv:
            ctx = self.ctx(self.ia, "carol")
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"ticket"), b"ticket")
                sess = s.session
                echod.close_tls(s)
            self.assertTrue(sess is not None and sess.has_ticket)
            with echod.connect(srv.port, ctx, session=sess) as s:
                self.assertEqual(echod.echo(s, b"again"), b"again")
                self.assertTrue(s.session_reused)
                sess = s.session
                echod.close_tls(s)
            # The intermediate is revoked and the server reloads.
            write_atomic(crls, self.ia.crl_pem() +
                         self.a.crl_pem(revoked=[self.ia]))
            off = srv.log_offset()
            srv.signal(signal.SIGHUP)
            srv.wait_log(r"msg=reloaded ", since=off)
            raw = socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=echod.scaled(10))
            lport = raw.getsockname()[1]
            with self.assertRaises((ssl.SSLError, ConnectionResetError)) as e:
                with ctx.wrap_socket(raw, server_hostname="localhost",
                                     session=sess) as s:
                    s.sendall(b"x")
                    s.recv(10)
            raw.close()
            self.assertEqual(srv.handshake_failure(lport), "cert_revoked")
            if isinstance(e.exception, ssl.SSLError):
                self.assertEqual(e.exception.reason,
                                 "SSLV3_ALERT_CERTIFICATE_REVOKED")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
