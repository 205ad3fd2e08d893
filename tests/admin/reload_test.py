"""End to end: live certificate reload. 100 streaming sessions survive a
reload with no byte lost while new connections get the new certificate;
failed reloads (corrupt cert, mismatched key, foreign CA, missing file)
change nothing; `pki revoke` + reload refuses the client, resumed or not,
and `kill --cn` ends its open sessions; SIGHUP and the Kubernetes
`..data` symlink swap reload by themselves; every trigger goes through one
reload function (a SIGHUP reload leaves the file watcher up to date, and
`reload --check` answers about what it checked); a chmod reloads."""

import calendar
import hashlib
import os
import shutil
import signal
import socket
import ssl
import threading
import time
import unittest

from tests.admin import admin_util as au
from tests.lib import echod


def install(src_cert, src_key, dst_cert, dst_key):
    """Replaces cert+key atomically (rename over), key mode 0600."""
    for src, dst, mode in ((src_cert, dst_cert, 0o644),
                           (src_key, dst_key, 0o600)):
        tmp = dst + ".tmp"
        shutil.copy(src, tmp)
        os.chmod(tmp, mode)
        os.rename(tmp, dst)


class Streamer(threading.Thread):
    """One TLS session echoing random chunks until stopped; checks every
    byte."""

    def __init__(self, port, ctx):
        super().__init__(daemon=True)
        self.sock = echod.connect(port, ctx, timeout=30)
        self.stop_flag = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_flag.is_set():
                data = os.urandom(2048)
                got = echod.echo(self.sock, data, timeout=30)
                if got != data:
                    raise AssertionError("echo mismatch after %d bytes"
                                         % self.sent)
                self.sent += len(data)
                time.sleep(0.01)
        except Exception as e:  # reported by the test
            self.error = e


class Reload(unittest.TestCase):

    def setUp(self):
        self.ca = echod.TestCA()
        self.ca.issue("server", role="server")
        self.ca.issue("server2", role="server")
        self.ca.issue("alice")
        self.certs = echod.tmpdir("certs-")
        self.cert = os.path.join(self.certs, "server.pem")
        self.key = os.path.join(self.certs, "server.key")
        self.capem = os.path.join(self.certs, "ca.pem")
        install(self.ca.path("server"), self.ca.path("server", "key"),
                self.cert, self.key)
        shutil.copy(self.ca.ca_pem, self.capem)
        self.srv = au.start("--cert", self.cert, "--key", self.key, "--ca",
                            self.capem, "--no-watch")
        self.ctx = echod.client_context(**self.ca.client("alice"))
        self.serial1 = au.serial_of(self.ca.path("server"))
        self.serial2 = au.serial_of(self.ca.path("server2"))

    def tearDown(self):
        self.srv.stop()

    def test_reload_with_100_streaming_sessions(self):
        echod.raise_fd_limit(1024)
        streams = [Streamer(self.srv.port, self.ctx) for _ in range(100)]
        try:
            for t in streams:
                t.start()
            time.sleep(echod.scaled(1))
            install(self.ca.path("server2"), self.ca.path("server2", "key"),
                    self.cert, self.key)
            r = au.echoctl(self.srv.admin_path, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("reloaded", r.stdout)
            self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                             self.serial2)
            before = [t.sent for t in streams]
            time.sleep(echod.scaled(1))
        finally:
            for t in streams:
                t.stop_flag.set()
            for t in streams:
                t.join(echod.scaled(30))
        for i, t in enumerate(streams):
            self.assertIsNone(t.error, "session %d: %r" % (i, t.error))
            self.assertGreater(t.sent, before[i], "session %d stalled" % i)
            # still open and still echoing after the reload
            self.assertEqual(echod.echo(t.sock, b"end"), b"end")
            t.sock.close()
        st = au.result(self.srv.admin_path, {"cmd": "status"})
        self.assertIs(st["last_reload"]["ok"], True)
        self.assertEqual(st["certs"]["server"]["serial"].lstrip("0"),
                         self.serial2)

    def expect_failure(self, words):
        r = au.echoctl(self.srv.admin_path, "reload")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("reload_failed", r.stderr)
        for w in words:
            self.assertIn(w.lower(), r.stderr.lower())
        st = au.result(self.srv.admin_path, {"cmd": "status"})
        self.assertIs(st["last_reload"]["ok"], False)
        self.assertTrue(st["last_reload"]["error"])
        self.assertIn("FAILED", au.echoctl(self.srv.admin_path,
                                           "status").stdout)
        # the old certificate is still served, and echo works
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial1)
        check = au.echoctl(self.srv.admin_path, "reload", "--check")
        self.assertEqual(check.returncode, 1)
        return r.stderr

    def restore(self):
        install(self.ca.path("server"), self.ca.path("server", "key"),
                self.cert, self.key)
        shutil.copy(self.ca.ca_pem, self.capem)
        r = au.echoctl(self.srv.admin_path, "reload")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_failed_reloads_change_nothing(self):
        with echod.connect(self.srv.port, self.ctx) as held:
            # corrupt certificate
            with open(self.cert, "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot base64!\n")
            self.expect_failure([self.cert])
            self.restore()
            # key that does not match
            other = echod.TestCA()
            other.issue("stranger", role="server")
            install(self.ca.path("server"), other.path("stranger", "key"),
                    self.cert, self.key)
            self.expect_failure(["match"])
            self.restore()
            # a CA that did not sign the certificate
            shutil.copy(other.ca_pem, self.capem)
            self.expect_failure([])
            self.restore()
            # missing file
            os.unlink(self.key)
            self.expect_failure([self.key])
            self.restore()
            self.assertEqual(echod.echo(held, b"still here"), b"still here")
        st = au.result(self.srv.admin_path, {"cmd": "status"})
        self.assertIs(st["last_reload"]["ok"], True)
        self.assertGreaterEqual(st["last_reload"]["count_failed"], 4)

    def test_sighup_reloads(self):
        install(self.ca.path("server2"), self.ca.path("server2", "key"),
                self.cert, self.key)
        self.srv.signal(signal.SIGHUP)
        echod.wait_until(
            lambda: au.result(self.srv.admin_path, {"cmd": "status"})
            ["last_reload"]["trigger"] == "signal", 10, what="SIGHUP reload")
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial2)

    def test_one_record_of_every_reload(self):
        # The server records every reload, whatever started it; admin
        # `status` and the metrics (via the admin "metrics" command) both
        # read that one record.
        def status():
            return au.result(self.srv.admin_path,
                             {"cmd": "status"})["last_reload"]

        def metric(trigger, result):
            r = au.result(self.srv.admin_path, {"cmd": "metrics"})
            want = ('echod_reloads_total{result="%s",trigger="%s"} '
                    % (result, trigger))
            for line in r["text"].splitlines():
                if line.startswith(want):
                    return float(line.split()[-1])
            raise AssertionError("no %s in the metrics" % want)

        st = status()
        self.assertEqual((st["trigger"], st["ok"], st["count_ok"],
                          st["count_failed"]), ("startup", True, 1, 0))
        self.assertIn("time", st)
        self.assertEqual(metric("startup", "success"), 1)
        # admin: ok
        r = au.echoctl(self.srv.admin_path, "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = status()
        self.assertEqual((st["trigger"], st["ok"], st["count_ok"]),
                         ("admin", True, 2))
        self.assertEqual(metric("admin", "success"), 1)
        # SIGHUP (handled by the server itself): ok
        self.srv.signal(signal.SIGHUP)
        echod.wait_until(lambda: status()["count_ok"] == 3, 10,
                         what="SIGHUP reload recorded")
        self.assertEqual(status()["trigger"], "signal")
        self.assertEqual(metric("signal", "success"), 1)
        # admin --check: validated, not recorded
        r = au.echoctl(self.srv.admin_path, "reload", "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(status()["count_ok"], 3)
        self.assertEqual(status()["trigger"], "signal")
        # SIGHUP that fails: recorded with its error
        os.unlink(self.key)
        self.srv.signal(signal.SIGHUP)
        echod.wait_until(lambda: status()["count_failed"] == 1, 10,
                         what="failed SIGHUP reload recorded")
        st = status()
        self.assertEqual((st["trigger"], st["ok"]), ("signal", False))
        self.assertIn(self.key, st["error"])
        self.assertEqual(metric("signal", "failure"), 1)
        self.assertEqual(metric("admin", "failure"), 0)
        # admin reload after the fix: the newest record wins, error cleared
        self.restore()
        st = status()
        self.assertEqual((st["trigger"], st["ok"], st["error"],
                          st["count_ok"], st["count_failed"]),
                         ("admin", True, "", 4, 1))
        self.assertEqual(metric("admin", "success"), 2)


def write_secret_version(root, name, ca, cert_name):
    """What the kubelet does to a secret volume: a new timestamped dir,
    and a new ..data symlink renamed over the old one."""
    d = os.path.join(root, name)
    os.mkdir(d)
    shutil.copy(ca.path(cert_name), os.path.join(d, "tls.crt"))
    shutil.copy(ca.path(cert_name, "key"), os.path.join(d, "tls.key"))
    os.chmod(os.path.join(d, "tls.key"), 0o600)
    shutil.copy(ca.ca_pem, os.path.join(d, "ca.crt"))
    tmp = os.path.join(root, "..data_tmp")
    os.symlink(name, tmp)
    os.rename(tmp, os.path.join(root, "..data"))


def log_ms(ev):
    """The ts= of a parsed log line, in ms since the epoch."""
    t = time.strptime(ev["ts"][:19], "%Y-%m-%dT%H:%M:%S")
    return (calendar.timegm(t) * 1000 + int(ev["ts"][20:23]))


class OneDoor(unittest.TestCase):
    """Every trigger goes through the server's one reload function, so a
    reload by SIGHUP or the admin socket leaves the file watcher as one it
    started itself, and `reload --check` answers about what it checked."""

    DEBOUNCE_MS = 2000  # longer than the test needs to send its SIGHUP

    def setUp(self):
        self.ca = echod.TestCA()
        self.ca.issue("server", role="server")
        self.ca.issue("server2", role="server")
        self.ca.issue("alice")
        self.ctx = echod.client_context(**self.ca.client("alice"))
        self.serial1 = au.serial_of(self.ca.path("server"))
        self.serial2 = au.serial_of(self.ca.path("server2"))
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()

    def start(self, cert, key, ca, debounce_ms, *flags):
        self.srv = au.start("--cert", cert, "--key", key, "--ca", ca, *flags,
                            env={"ECHOD_RELOAD_DEBOUNCE": "%dms" % debounce_ms})

    def plain_files(self, debounce_ms, *flags):
        d = echod.tmpdir("certs-")
        self.cert = os.path.join(d, "server.pem")
        self.key = os.path.join(d, "server.key")
        capem = os.path.join(d, "ca.pem")
        install(self.ca.path("server"), self.ca.path("server", "key"),
                self.cert, self.key)
        shutil.copy(self.ca.ca_pem, capem)
        self.start(self.cert, self.key, capem, debounce_ms, *flags)

    def status(self):
        return au.result(self.srv.admin_path, {"cmd": "status"})["last_reload"]

    def test_change_then_sighup_is_one_reload(self):
        # The change arms the watcher's debounce; SIGHUP reloads first. The
        # SIGHUP reload is the watcher's new baseline, so when the
        # debounce fires there is nothing left to reload.
        self.plain_files(self.DEBOUNCE_MS)
        since = self.srv.log_offset()
        install(self.ca.path("server2"), self.ca.path("server2", "key"),
                self.cert, self.key)
        self.srv.signal(signal.SIGHUP)
        echod.wait_until(lambda: self.status()["count_ok"] == 2, 10,
                         what="the SIGHUP reload")
        time.sleep(self.DEBOUNCE_MS / 1000 + 1)  # the debounce has fired
        st = self.status()
        self.assertEqual((st["trigger"], st["count_ok"], st["count_failed"]),
                         ("signal", 2, 0), self.srv.log_tail())
        self.assertEqual(
            [e for e in self.srv.events("reload triggered", since=since)
             if e.get("trigger") == "watch"], [])
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial2)

    def test_sighup_after_kubernetes_swap_moves_the_watches(self):
        root = echod.tmpdir("secret-")
        write_secret_version(root, "..2026_01_01_00_00_00.1", self.ca,
                             "server")
        for f in ("tls.crt", "tls.key", "ca.crt"):
            os.symlink(os.path.join("..data", f), os.path.join(root, f))
        self.start(os.path.join(root, "tls.crt"), os.path.join(root, "tls.key"),
                   os.path.join(root, "ca.crt"), self.DEBOUNCE_MS,
                   "--log-level", "debug")
        since = self.srv.log_offset()
        write_secret_version(root, "..2026_01_02_00_00_00.2", self.ca,
                             "server2")
        shutil.rmtree(os.path.join(root, "..2026_01_01_00_00_00.1"))
        self.srv.signal(signal.SIGHUP)
        self.srv.wait_log(r"msg=reloaded trigger=signal", 10, since=since)
        time.sleep(self.DEBOUNCE_MS / 1000 + 1)
        reloaded = self.srv.events("reloaded", since=since)
        self.assertEqual([e["trigger"] for e in reloaded], ["signal"],
                         self.srv.log_tail())
        # The watches moved with the SIGHUP reload itself, not when the
        # debounce fired (DEBOUNCE_MS later).
        new_dir = os.path.join(root, "..2026_01_02_00_00_00.2")
        moved = [e for e in self.srv.events("reload watching", since=since)
                 if e.get("dir") == new_dir]
        self.assertTrue(moved, self.srv.log_tail())
        self.assertLess(log_ms(moved[0]) - log_ms(reloaded[0]),
                        self.DEBOUNCE_MS / 2, (moved[0], reloaded[0]))
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial2)
        # And the watcher follows the next swap by itself.
        since = self.srv.log_offset()
        write_secret_version(root, "..2026_01_03_00_00_00.3", self.ca,
                             "server")
        self.srv.wait_log(r"msg=reloaded trigger=watch", 15, since=since)
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial1)

    def test_check_replies_with_what_it_checked(self):
        self.plain_files(self.DEBOUNCE_MS, "--no-watch")
        certs = au.result(self.srv.admin_path, {"cmd": "certs"})
        install(self.ca.path("server2"), self.ca.path("server2", "key"),
                self.cert, self.key)
        r = au.result(self.srv.admin_path, {"cmd": "reload", "check": True})
        self.assertIs(r["published"], False)
        self.assertEqual(r["server"]["serial"].lstrip("0"), self.serial2)
        self.assertNotEqual(r["snapshot_id"], certs["snapshot_id"])
        # Nothing changed: the old certificate is served and listed.
        after = au.result(self.srv.admin_path, {"cmd": "certs"})
        self.assertEqual(after["snapshot_id"], certs["snapshot_id"])
        self.assertEqual(after["server"]["serial"].lstrip("0"), self.serial1)
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial1)
        self.assertEqual(self.status()["count_ok"], 1)  # startup only

    def test_chmod_after_refused_reload_reloads(self):
        # A key installed group/world-readable is refused; `chmod 600`
        # changes no byte of it, and must still reload.
        self.plain_files(100)
        for src, dst, mode in ((self.ca.path("server2"), self.cert, 0o644),
                               (self.ca.path("server2", "key"), self.key,
                                0o644)):
            shutil.copy(src, dst + ".tmp")
            os.chmod(dst + ".tmp", mode)
            os.rename(dst + ".tmp", dst)
        echod.wait_until(lambda: self.status()["count_failed"] == 1, 10,
                         what="the refused reload")
        self.assertEqual(self.status()["trigger"], "watch")
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial1)
        os.chmod(self.key, 0o600)
        echod.wait_until(lambda: self.status()["ok"], 10,
                         what="a reload after chmod 600")
        self.assertEqual(self.status()["trigger"], "watch")
        self.assertEqual(au.served_serial(self.srv.port, self.ctx),
                         self.serial2)


def full_or_resumed_refused(port, ctx, session=None):
    """True if the server refuses this client (alert or close before any
    echo)."""
    raw = socket.create_connection(("127.0.0.1", port),
                                   timeout=echod.scaled(10))
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        s.sendall(b"x")
        return s.recv(10) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True
    finally:
        raw.close()


class Revocation(unittest.TestCase):

    def test_pki_revoke_reload_and_kill_cn(self):
        # --keep-sessions-on-reload: the revoked client's open session is
        # left to the operator (kill --cn). Without it the reload closes
        # it (tests/identity/live_revocation_test.py).
        with au.start("--keep-sessions-on-reload") as srv:  # dev PKI
            echod.run_pki(["issue", "client", "alice"], srv.state_dir)
            echod.run_pki(["issue", "client", "bob"], srv.state_dir)
            pki = srv.pki_dir()

            def ctx_for(name):
                return echod.client_context(
                    ca=os.path.join(pki, "ca.pem"),
                    cert=os.path.join(pki, name + ".pem"),
                    key=os.path.join(pki, name + ".key"))
            alice, bob = ctx_for("alice"), ctx_for("bob")
            # alice: one open session, and a ticket from another
            held = echod.connect(srv.port, alice, strict_eof=True)
            self.assertEqual(echod.echo(held, b"a"), b"a")
            with echod.connect(srv.port, alice) as s:
                self.assertEqual(echod.echo(s, b"t"), b"t")
                ticket = s.session
            self.assertIsNotNone(ticket)
            with echod.connect(srv.port, alice, session=ticket) as s:
                self.assertEqual(echod.echo(s, b"r"), b"r")
                self.assertTrue(s.session_reused, "resumption must work")
                ticket = s.session
            bob_s = echod.connect(srv.port, bob)
            self.assertEqual(echod.echo(bob_s, b"b"), b"b")

            echod.run_pki(["revoke", "alice"], srv.state_dir)
            r = au.echoctl(srv.admin_path, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreaterEqual(
                au.result(srv.admin_path, {"cmd": "certs"})["crl"]["entries"],
                1)

            self.assertTrue(full_or_resumed_refused(srv.port, alice))
            self.assertTrue(full_or_resumed_refused(srv.port, alice, ticket))
            srv.wait_log(r'msg="handshake failed"[^\n]*reason=cert_revoked')
            # the open session was kept until kill --cn
            self.assertEqual(echod.echo(held, b"a2"), b"a2")
            r = au.echoctl(srv.admin_path, "kill", "--cn", "alice")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "killed 1 session\n")
            self.assertEqual(held.recv(10), b"")
            held.close()
            # bob is unaffected: his open session and a new one
            self.assertEqual(echod.echo(bob_s, b"b2"), b"b2")
            bob_s.close()
            with echod.connect(srv.port, bob) as s:
                self.assertEqual(echod.echo(s, b"b3"), b"b3")


class KubernetesSwap(unittest.TestCase):
    """A secret volume: tls.crt -> ..data/tls.crt, ..data -> ..TIMESTAMP.
    The kubelet writes a new timestamped dir and renames a new ..data
    symlink over the old one; echod must notice by itself."""

    def write_version(self, root, name, ca, cert_name):
        write_secret_version(root, name, ca, cert_name)

    def test_symlink_swap_reloads(self):
        ca = echod.TestCA()
        ca.issue("server", role="server")
        ca.issue("server2", role="server")
        ca.issue("alice")
        root = echod.tmpdir("secret-")
        self.write_version(root, "..2026_01_01_00_00_00.1", ca, "server")
        for f in ("tls.crt", "tls.key", "ca.crt"):
            os.symlink(os.path.join("..data", f), os.path.join(root, f))
        with au.start("--cert", os.path.join(root, "tls.crt"),
                      "--key", os.path.join(root, "tls.key"),
                      "--ca", os.path.join(root, "ca.crt")) as srv:
            ctx = echod.client_context(**ca.client("alice"))
            self.assertEqual(au.served_serial(srv.port, ctx),
                             au.serial_of(ca.path("server")))
            with echod.connect(srv.port, ctx) as held:
                since = srv.log_offset()
                self.write_version(root, "..2026_01_02_00_00_00.2", ca,
                                   "server2")
                shutil.rmtree(os.path.join(root, "..2026_01_01_00_00_00.1"))
                srv.wait_log(r'msg="reload triggered" trigger=watch', 15,
                             since=since)
                echod.wait_until(
                    lambda: au.served_serial(srv.port, ctx) ==
                    au.serial_of(ca.path("server2")), 10,
                    what="the new certificate")
                st = au.result(srv.admin_path, {"cmd": "status"})
                self.assertEqual(st["last_reload"]["trigger"], "watch")
                self.assertIs(st["last_reload"]["ok"], True)
                self.assertEqual(echod.echo(held, b"kept"), b"kept")


if __name__ == "__main__":
    unittest.main()
