"""Least privilege end to end (issue 12): what the kernel says about a
running echod, what Landlock lets it read, and --user.

- /proc/PID/status: NoNewPrivs 1, Seccomp 2 (a filter), no capabilities;
  with --no-sandbox NoNewPrivs stays and the filter goes.
- Landlock, observed from outside: the certificate is a symlink; pointed
  at a file outside the directories echod was started with, a reload
  fails with "permission denied" and the old certificate keeps serving —
  the same reload succeeds with --no-sandbox. The Kubernetes ..data swap
  inside the mount directory still reloads by itself.
- --user nobody (as root): every uid and gid is nobody's, no
  supplementary group, no capability; the server echoes, reloads and
  reports process_* metrics; a key only root can read is a startup error
  (exit 2) before anything listens.

The whole end-to-end suite runs sandboxed too (the harness adds
--no-sandbox only for sanitizer builds and fails any test whose server
logged a refused system call)."""

import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import tempfile
import time
import unittest

from tests.lib import echod


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def served_cert(port, ca_kwargs):
    ctx = echod.client_context(**ca_kwargs)
    with echod.connect(port, ctx) as s:
        der = s.getpeercert(binary_form=True)
        echod.echo(s, b"x")
    return der


def admin(path, req):
    return echod.admin_request(path, req, 15)


def copy(src, dst, mode=0o644):
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def relink(target, link):
    """Points symlink |link| at |target| atomically (as kubelet does)."""
    tmp = link + ".tmp"
    os.symlink(target, tmp)
    os.rename(tmp, link)


def landlock_abi(srv):
    m = re.search(r"landlock_abi=(\d+)", srv.log())
    return int(m.group(1)) if m else 0


class Status(unittest.TestCase):

    def test_proc_status_shows_the_sandbox(self):
        if echod.sanitizer_build():
            self.skipTest("sanitizer build: the harness runs --no-sandbox")
        with echod.Server() as srv:
            st = status(srv.pid)
            self.assertEqual(st["NoNewPrivs"], ["1"])
            self.assertEqual(st["Seccomp"], ["2"])
            self.assertEqual(st["CapEff"], ["0000000000000000"])
            self.assertEqual(st["CapPrm"], ["0000000000000000"])
            self.assertRegex(srv.log(), r'msg="sandbox on" landlock_abi=\d+ '
                             r'landlock_rules=\d+ seccomp_syscalls=\d+')
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"boxed"), b"boxed")
            srv.stop_clean()

    def test_no_sandbox(self):
        with echod.Server("--no-sandbox") as srv:
            st = status(srv.pid)
            self.assertEqual(st["NoNewPrivs"], ["1"])
            self.assertEqual(st["Seccomp"], ["0"])
            self.assertIn('msg="sandbox off" reason=--no-sandbox', srv.log())
            srv.stop_clean()


class RelativePaths(unittest.TestCase):

    def test_watch_reload_with_relative_credential_paths(self):
        # After a reload the file watch resolves the paths again (realpath:
        # getcwd for a relative one); the harness fails the test if the
        # filter refused any call on the way.
        ca = echod.TestCA()
        ca.issue("server", role="server")
        state = echod.tmpdir("state-")
        os.mkdir(os.path.join(state, "tls"))
        for name, src, mode in (("server.pem", ca.path("server"), 0o644),
                                ("server.key", ca.path("server", "key"),
                                 0o600),
                                ("ca.pem", ca.ca_pem, 0o644)):
            copy(src, os.path.join(state, "tls", name), mode)
        with echod.Server("--cert", "tls/server.pem", "--key",
                          "tls/server.key", "--ca", "tls/ca.pem",
                          state_dir=state) as srv:  # cwd is the state dir
            since = srv.log_offset()
            with open(os.path.join(state, "tls", "ca.pem"), "a") as f:
                f.write("\n")  # a change the watch reloads for
            srv.wait_log(r"msg=reloaded trigger=watch", 10, since=since)
            srv.stop_clean()


class Landlock(unittest.TestCase):
    """The credential files live in a directory of their own; the certificate
    and key are symlinks into a versioned subdirectory."""

    def setUp(self):
        self.ca = echod.TestCA()
        self.ca.issue("server", role="server")
        self.ca.issue("other", role="server")
        self.ca.issue("alice")
        self.dir = echod.tmpdir("certs-")
        v1 = os.path.join(self.dir, "v1")
        os.mkdir(v1)
        for name, src, mode in (("server.pem", self.ca.path("server"), 0o644),
                                ("server.key", self.ca.path("server", "key"),
                                 0o600),
                                ("ca.pem", self.ca.ca_pem, 0o644)):
            copy(src, os.path.join(v1, name), mode)
            os.symlink(os.path.join("v1", name), os.path.join(self.dir, name))
        self.flags = ["--cert", os.path.join(self.dir, "server.pem"),
                      "--key", os.path.join(self.dir, "server.key"),
                      "--ca", os.path.join(self.dir, "ca.pem")]

    def point_outside(self):
        """Re-points the certificate and key at a new pair in a directory
        the server was not started with."""
        out = echod.tmpdir("outside-")
        copy(self.ca.path("other"), os.path.join(out, "server.pem"))
        copy(self.ca.path("other", "key"), os.path.join(out, "server.key"),
             0o600)
        relink(os.path.join(out, "server.pem"),
               os.path.join(self.dir, "server.pem"))
        relink(os.path.join(out, "server.key"),
               os.path.join(self.dir, "server.key"))

    def start(self, *extra):
        path = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        srv = echod.Server(*(self.flags + ["--no-watch", "--admin-socket",
                                           path] + list(extra)), admin=True)
        return srv, path

    def test_reload_outside_the_allowed_paths_is_refused(self):
        if echod.sanitizer_build():
            self.skipTest("sanitizer build: the harness runs --no-sandbox")
        srv, path = self.start()
        with srv:
            if landlock_abi(srv) == 0:
                self.skipTest("no Landlock in this kernel")
            before = served_cert(srv.port, self.ca.client("alice"))
            self.point_outside()
            reply = admin(path, {"cmd": "reload"})
            self.assertFalse(reply["ok"], reply)
            self.assertIn("permission denied",
                          reply["error"]["message"].lower())
            self.assertIn("server.pem", reply["error"]["message"])
            self.assertEqual(served_cert(srv.port, self.ca.client("alice")),
                             before)
            srv.stop_clean()

    def test_same_reload_without_the_sandbox_succeeds(self):
        srv, path = self.start("--no-sandbox")
        with srv:
            before = served_cert(srv.port, self.ca.client("alice"))
            self.point_outside()
            reply = admin(path, {"cmd": "reload"})
            self.assertTrue(reply["ok"], reply)
            self.assertNotEqual(
                served_cert(srv.port, self.ca.client("alice")), before)
            srv.stop_clean()

    def test_kubernetes_swap_reloads_under_landlock(self):
        # tls.crt -> ..data/tls.crt, ..data -> ..2025_01_01_v1 (a Secret
        # volume); the kubelet's update writes ..2025_01_01_v2 and swaps
        # ..data, then removes v1.
        mount = echod.tmpdir("secret-")

        def publish(gen, name):
            d = os.path.join(mount, "..2025_01_01_" + gen)
            os.mkdir(d)
            copy(self.ca.path(name), os.path.join(d, "tls.crt"))
            copy(self.ca.path(name, "key"), os.path.join(d, "tls.key"), 0o600)
            copy(self.ca.ca_pem, os.path.join(d, "ca.crt"))
            relink(os.path.basename(d), os.path.join(mount, "..data"))
            return d

        old = publish("v1", "server")
        for f in ("tls.crt", "tls.key", "ca.crt"):
            os.symlink(os.path.join("..data", f), os.path.join(mount, f))
        with echod.Server("--cert", os.path.join(mount, "tls.crt"),
                          "--key", os.path.join(mount, "tls.key"),
                          "--ca", os.path.join(mount, "ca.crt")) as srv:
            first = served_cert(srv.port, self.ca.client("alice"))
            publish("v2", "other")
            shutil.rmtree(old)
            echod.wait_until(
                lambda: served_cert(srv.port,
                                      self.ca.client("alice")) != first,
                15, interval=0.2, what="the swapped certificate served")
            self.assertIn("msg=reloaded trigger=watch", srv.log())
            self.assertNotIn("reload failed", srv.log())
            srv.stop_clean()


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root: --user switches users (run as root)")
@unittest.skipUnless(nobody(), "needs the user nobody")
class User(unittest.TestCase):

    def setUp(self):
        self.pw = nobody()
        self.ca = echod.TestCA()
        self.ca.issue("server", role="server")
        self.ca.issue("alice")
        # /tmp, not $TEST_TMPDIR: nobody must be able to walk to them.
        self.certs = tempfile.mkdtemp(prefix="certs-", dir="/tmp")
        self.state = tempfile.mkdtemp(prefix="state-", dir="/tmp")
        for name, src, mode in (("server.pem", self.ca.path("server"), 0o644),
                                ("server.key", self.ca.path("server", "key"),
                                 0o600),
                                ("ca.pem", self.ca.ca_pem, 0o644)):
            copy(src, os.path.join(self.certs, name), mode)
        for p in [self.certs, self.state] + [
                os.path.join(self.certs, n) for n in os.listdir(self.certs)]:
            os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
        self.flags = ["--cert", os.path.join(self.certs, "server.pem"),
                      "--key", os.path.join(self.certs, "server.key"),
                      "--ca", os.path.join(self.certs, "ca.pem"),
                      "--user", "nobody"]

    def tearDown(self):
        shutil.rmtree(self.certs, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def test_runs_as_nobody(self):
        with echod.Server(*self.flags, "--metrics-listen", "127.0.0.1:0",
                          metrics=True, state_dir=self.state) as srv:
            st = status(srv.pid)
            uid, gid = str(self.pw.pw_uid), str(self.pw.pw_gid)
            self.assertEqual(st["Uid"], [uid] * 4)
            self.assertEqual(st["Gid"], [gid] * 4)
            self.assertEqual(st["Groups"], [])
            self.assertEqual(st["NoNewPrivs"], ["1"])
            self.assertEqual(st["CapEff"], ["0000000000000000"])
            self.assertEqual(st["CapPrm"], ["0000000000000000"])
            self.assertRegex(srv.log(), r'msg="privileges dropped" '
                             r'user=nobody uid=%s group=\S+ gid=%s groups=0'
                             % (uid, gid))
            ctx = echod.client_context(**self.ca.client("alice"))
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"nobody"), b"nobody")
            since = srv.log_offset()
            srv.signal(signal.SIGHUP)
            srv.wait_log(r"msg=reloaded trigger=signal", 10, since=since)
            m = srv.wait_log(r'msg="metrics listening" addr=\S+:(\d+)', 5)
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)),
                                              timeout=10)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            conn.close()
            fds = re.search(r"^process_open_fds (\d+)", body, re.M)
            self.assertTrue(fds and int(fds.group(1)) > 0, body[-500:])
            srv.stop_clean()

    def test_key_only_root_can_read_is_a_startup_error(self):
        key = os.path.join(self.certs, "server.key")
        os.chown(key, 0, 0)
        port = echod.free_port()
        r = echod.run_server(self.flags + [
            "--listen", "127.0.0.1:%d" % port, "--no-admin", "--no-metrics",
            "--log-level", "warn"], state_dir=self.state, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("%s is not readable by uid %d" % (key, self.pw.pw_uid),
                      lines[0])
        self.assertNotIn("listening addr=", r.stderr)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), 2).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
