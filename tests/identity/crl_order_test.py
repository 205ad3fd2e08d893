"""Which CRL of one CA echod uses when --crl holds several, end to end
(README "Trust", docs/deploy.md "CRLs"): the highest CRL Number; without
numbers the latest lastUpdate; on a tie the one that comes later. A CRL
dated in the future fails the start or reload, naming its file.

Before: of two CRLs of one CA with the same lastUpdate the first was kept
and the CRL Number was ignored. echo-pki writes lastUpdate to the second,
so an incident script that revoked three clients and appended each fresh
CRL to the --crl file, as docs/deploy.md said to, left them accepted; and
a CRL dated in the future outranked every later one."""

import os
import unittest

from tests.identity.mint import Mint, write_atomic
from tests.lib import echod


class CrlOrderTest(unittest.TestCase):

    def served(self, srv, kw):
        with echod.connect(srv.port, echod.client_context(**kw)) as s:
            self.assertEqual(echod.echo(s, b"in"), b"in")

    def refused(self, srv, kw, reason):
        got, lport = echod.refused_alert(srv.port,
                                         echod.client_context(**kw))
        self.assertEqual(srv.handshake_failure(lport), reason,
                         srv.log_tail(5))
        self.assertEqual(got, "SSLV3_ALERT_CERTIFICATE_REVOKED")

    def reload(self, sock, *extra):
        return echod.run_tool([echod.binary("cmd/echoctl"), "--socket", sock,
                               "reload"] + list(extra), timeout=30)

    def test_append_fresh_crls_in_one_second(self):
        state = echod.tmpdir("state-")
        pki = os.path.join(state, "pki")
        echod.run_pki(["init"], state)
        echod.run_pki(["issue", "server", "srv", "--dns", "localhost",
                       "--ip", "127.0.0.1"], state)
        for c in ("c1", "c2", "c3", "c4"):
            echod.run_pki(["issue", "client", c], state)
        crls = os.path.join(state, "crls.pem")
        with open(os.path.join(pki, "crl.pem"), "rb") as f:
            write_atomic(crls, f.read())
        sock = os.path.join(state, "admin.sock")

        def client(name):
            return dict(ca=os.path.join(pki, "ca.pem"),
                        cert=os.path.join(pki, name + ".pem"),
                        key=os.path.join(pki, name + ".key"))

        with echod.Server("--cert", os.path.join(pki, "srv.pem"),
                          "--key", os.path.join(pki, "srv.key"),
                          "--ca", os.path.join(pki, "ca.pem"),
                          "--crl", crls, "--no-watch",
                          "--admin-socket", sock, admin=True,
                          state_dir=state) as srv:
            self.served(srv, client("c1"))
            # The incident: revoke three clients, appending each fresh
            # CRL, within one second (echo-pki takes milliseconds), as
            # docs/deploy.md "CRLs" says to.
            for c in ("c1", "c2", "c3"):
                echod.run_pki(["revoke", c], state)
                with open(os.path.join(pki, "crl.pem"), "rb") as f:
                    pem = f.read()
                with open(crls, "ab") as f:
                    f.write(pem)
            r = self.reload(sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            for c in ("c1", "c2", "c3"):
                self.refused(srv, client(c), "cert_revoked")
            self.served(srv, client("c4"))
            srv.stop_clean()

    def test_future_crl_fails_start_and_reload(self):
        d = echod.tmpdir("mint-")
        a = Mint(d, "root A")
        a.issue("server", role="server")
        a.issue("alice")
        a.issue("mallory")
        crls = a.crl(os.path.join(d, "crls.pem"), revoked=["mallory"])
        flags = ["--cert", a.path("server"), "--key", a.path("server", "key"),
                 "--ca", a.ca_pem, "--no-watch"]
        sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        with echod.Server(*flags, "--crl", crls, "--admin-socket", sock,
                          admin=True) as srv:
            # Dated a day ahead, revoking nobody: it would win over every
            # CRL until tomorrow. Appended, the reload fails naming it.
            with open(crls, "rb") as f:
                good = f.read()
            write_atomic(crls, good + a.crl_pem(last_update=86400,
                                                next_update=8 * 86400))
            for check in (["--check"], []):
                r = self.reload(sock, *check)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("CRL #2 in %s" % crls, r.stderr)
                self.assertIn("in the future", r.stderr)
            # The old snapshot stays: mallory is still refused.
            self.refused(srv, a.client("mallory"), "cert_revoked")
            self.served(srv, a.client("alice"))
            srv.stop_clean()
        r = echod.run_server(flags + ["--crl", crls, "--listen",
                                      "127.0.0.1:0", "--no-admin",
                                      "--no-metrics"])
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("CRL #2 in %s" % crls, r.stderr)
        self.assertIn("in the future", r.stderr)

    def test_reload_never_goes_back_to_an_older_crl(self):
        """An older CRL put back (a restored backup, a replayed download)
        fails the reload, and the one in use stays: it would un-revoke.
        Before: the reload took it, and mallory got back in."""
        d = echod.tmpdir("mint-")
        a = Mint(d, "root A")
        a.issue("server", role="server")
        a.issue("alice")
        a.issue("mallory")
        crls = os.path.join(d, "crls.pem")
        old_numbered = a.crl_pem(number=6)
        write_atomic(crls, a.crl_pem(revoked=["mallory"], number=7))
        flags = ["--cert", a.path("server"), "--key", a.path("server", "key"),
                 "--ca", a.ca_pem, "--no-watch", "--crl", crls]
        sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        with echod.Server(*flags, "--admin-socket", sock,
                          admin=True) as srv:
            self.refused(srv, a.client("mallory"), "cert_revoked")
            write_atomic(crls, old_numbered)
            for check in (["--check"], []):
                r = self.reload(sock, *check)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("CRL #1 in %s" % crls, r.stderr)
                self.assertIn("CRL Number 6, lastUpdate ", r.stderr)
                self.assertIn("older than the one in use (CRL Number 7",
                              r.stderr)
            self.refused(srv, a.client("mallory"), "cert_revoked")
            self.served(srv, a.client("alice"))
            # The CA's next CRL, un-revoking mallory on purpose: taken.
            write_atomic(crls, a.crl_pem(number=8))
            r = self.reload(sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.served(srv, a.client("mallory"))
            srv.stop_clean()
        # A restart takes any CRL: the older one loads.
        write_atomic(crls, old_numbered)
        with echod.Server(*flags, "--no-admin") as srv:
            self.served(srv, a.client("mallory"))
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
