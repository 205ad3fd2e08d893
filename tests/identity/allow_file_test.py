"""--allow-file: allow-list entries in a file that every reload re-reads,
end to end against the real server.

Taking a client off the file, whatever triggers the reload (the file
watcher on an atomic rewrite, `echoctl reload`), closes that client's
established session: close_notify, "session closed ... reason=acl_denied"
with its serial, counted in echod_sessions_revoked_total{reason=
"acl_denied"}; the others keep echoing and a new handshake of the dropped
client is refused acl_denied. --keep-sessions-on-reload keeps the session.
A bad line fails the reload naming FILE:LINE and keeps the old list; an
allow file with no entries refuses everybody.

Before: there was no --allow-file (allow-lists came from flags and the
config file only, which a reload does not re-read), so the server did not
even start with these flags ("unknown flag --allow-file")."""

import os
import unittest

from tests.identity.ctl import admin, echoctl, metric
from tests.identity.mint import Mint, write_atomic
from tests.lib import echod


class AllowFileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = echod.tmpdir("mint-")
        a = cls.a = Mint(d, "root A")
        a.issue("server", role="server")
        a.issue("alice")
        a.issue("bob", sans=[("URI", "spiffe://echod/bob")])
        a.issue("carol")

    def setUp(self):
        self.work = echod.tmpdir("allow-")
        self.allow = os.path.join(self.work, "allow.txt")
        self.sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()

    def write(self, text):
        write_atomic(self.allow, text.encode())

    def start(self, *flags, watch=False):
        f = ["--cert", self.a.path("server"), "--key",
             self.a.path("server", "key"), "--ca", self.a.ca_pem,
             "--admin-socket", self.sock, "--allow-file", self.allow]
        if not watch:
            f.append("--no-watch")
        env = {"ECHOD_RELOAD_DEBOUNCE": "50ms"} if watch else None
        self.srv = echod.Server(*(f + list(flags)), admin=True, env=env)
        return self.srv

    def ctx(self, name):
        return echod.client_context(**self.a.client(name))

    def session(self, name):
        s = echod.connect(self.srv.port, self.ctx(name), strict_eof=True)
        self.assertEqual(echod.echo(s, name.encode()), name.encode())
        return s

    def closed_acl_denied(self, s, name):
        lport = echod.local_port(s)
        s.settimeout(echod.scaled(10))
        self.assertEqual(s.recv(100), b"")  # close_notify: a clean EOF
        s.close()
        ev = self.srv.session_closed(lport)
        self.assertEqual(ev["reason"], "acl_denied", self.srv.log_tail())
        self.assertEqual(int(ev["serial"], 16), self.a.serials[name])
        self.assertEqual(ev["cn"], name)

    def still_echoes(self, s):
        self.assertEqual(echod.echo(s, b"still here"), b"still here")

    def refused_acl(self, name):
        got, lport = echod.refused_alert(self.srv.port, self.ctx(name))
        self.assertEqual(self.srv.handshake_failure(lport), "acl_denied")
        self.assertEqual(got, "TLSV1_ALERT_ACCESS_DENIED")

    def both(self):
        self.write("# who may connect\nallow-cn alice\n"
                   "allow-san URI:spiffe://echod/bob\n")

    # -- a changed file closes the sessions it no longer allows --------------

    def test_rewrite_reloads_and_closes_the_dropped_session(self):
        self.both()
        self.start(watch=True)
        alice, bob = self.session("alice"), self.session("bob")
        self.refused_acl("carol")
        since = self.srv.log_offset()
        self.write("allow-san URI:spiffe://echod/bob\n")  # tmp + rename
        m = self.srv.wait_log(r"msg=reloaded trigger=watch [^\n]*",
                              since=since, timeout=15)
        ev = echod.parse_logfmt(m.group(0))
        self.assertEqual((ev["recheck"], ev["sessions_checked"],
                          ev["sessions_closed"]), ("done", "2", "1"))
        self.closed_acl_denied(alice, "alice")
        self.still_echoes(bob)
        self.assertEqual(metric(self.sock, "echod_sessions_revoked_total",
                                'reason="acl_denied"'), 1)
        self.refused_acl("alice")
        self.session("bob").close()  # new handshakes of bob still work
        bob.close()
        self.srv.stop_clean()

    def test_kubernetes_data_swap_reloads(self):
        # A ConfigMap volume: allow.txt -> ..data/allow.txt, ..data -> a
        # timestamped directory; an update swaps ..data by rename.
        def version(n, text):
            d = os.path.join(self.work, "..v%d" % n)
            os.mkdir(d)
            with open(os.path.join(d, "allow.txt"), "w") as f:
                f.write(text)
            tmp = os.path.join(self.work, "..data_tmp")
            os.symlink("..v%d" % n, tmp)
            os.replace(tmp, os.path.join(self.work, "..data"))
        version(1, "allow-cn alice\nallow-cn carol\n")
        os.symlink("..data/allow.txt", self.allow)
        self.start(watch=True)
        alice, carol = self.session("alice"), self.session("carol")
        since = self.srv.log_offset()
        version(2, "allow-cn carol\n")
        m = self.srv.wait_log(r"msg=reloaded trigger=watch [^\n]*",
                              since=since, timeout=15)
        self.assertIn("sessions_closed=1", m.group(0))
        self.closed_acl_denied(alice, "alice")
        self.still_echoes(carol)
        self.refused_acl("alice")
        carol.close()
        self.srv.stop_clean()

    def test_echoctl_reload_closes_the_dropped_session(self):
        self.both()
        self.start()
        self.assertEqual(admin(self.sock, "certs")["files"]["allow_file"],
                         self.allow)
        self.assertIn("allow file    " + self.allow,
                      echoctl(self.sock, "certs").stdout)
        alice, bob = self.session("alice"), self.session("bob")
        self.write("allow-cn alice\n")
        r = admin(self.sock, "reload")
        self.assertEqual((r["recheck"], r["sessions_checked"],
                          r["sessions_closed"]), ("done", 2, 1), r)
        self.closed_acl_denied(bob, "bob")
        self.still_echoes(alice)
        self.assertEqual(metric(self.sock, "echod_sessions_revoked_total",
                                'reason="acl_denied"'), 1)
        self.refused_acl("bob")
        # Back on the list: the next reload lets bob in again.
        self.both()
        self.assertIn("open sessions: 1 re-checked, 0 closed",
                      echoctl(self.sock, "reload").stdout)
        self.session("bob").close()
        self.still_echoes(alice)
        alice.close()
        self.srv.stop_clean()

    def test_keep_sessions_on_reload(self):
        self.both()
        self.start("--keep-sessions-on-reload")
        alice = self.session("alice")
        self.write("allow-san URI:spiffe://echod/bob\n")
        r = admin(self.sock, "reload")
        self.assertEqual((r["recheck"], r["sessions_closed"]), ("off", 0), r)
        self.still_echoes(alice)
        self.refused_acl("alice")  # new handshakes follow the new file
        alice.close()
        self.srv.stop_clean()

    # -- mistakes -------------------------------------------------------------

    def test_bad_line_fails_the_reload_and_keeps_the_old_list(self):
        self.both()
        self.start()
        alice = self.session("alice")
        since = self.srv.log_offset()
        self.write("allow-san URI:spiffe://echod/bob\nallow-cn carol\r\n")
        r = echoctl(self.sock, "reload", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s:2: carriage return" % self.allow,
                      r.stdout + r.stderr)
        self.assertIn("%s:2:" % self.allow,
                      self.srv.wait_log(r"reload failed[^\n]*",
                                        since=since).group(0))
        self.still_echoes(alice)  # the old list: alice still allowed,
        self.session("alice").close()
        self.refused_acl("carol")  # and carol not yet
        self.write("allow-cn alice\nallow-san DNS:\n")  # bad typed SAN
        r = echoctl(self.sock, "reload", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s:2: allow-san" % self.allow, r.stdout + r.stderr)
        self.still_echoes(alice)
        alice.close()
        self.srv.stop_clean()

    def test_file_without_entries_refuses_everybody(self):
        self.write("# nobody yet\n")
        self.start("--allow-cn", "carol")  # flags' entries still count
        self.refused_acl("alice")
        self.session("carol").close()
        self.srv.stop_clean()
        self.write("\n# nobody at all\n")
        self.start()
        self.refused_acl("alice")
        self.refused_acl("carol")
        self.srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
