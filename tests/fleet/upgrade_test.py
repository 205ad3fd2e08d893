"""Upgrades that drop nobody (issue 16), end to end, without a balancer:

- `echoctl upgrade`: a new process serves on the same listeners, admin
  socket and metrics port; a client loop sees no failure and no lost byte,
  /healthz and the admin socket answer throughout; a session open on the
  old process keeps echoing and finishes, an idle one gets close_notify
  after --drain-timeout; the old process exits 0;
- a new binary that fails to start: the old one keeps serving, and the
  admin reply and the log say why (the new process's own error line);
- SIGUSR2 upgrades too, and systemd hears MAINPID= of the new process from
  the old one, which then says nothing more (no STOPPING=1);
- a hand-over nobody asked for is refused;
- every echod reaps its spawner before it exits, after an upgrade too:
  the service manager (systemd, here the test) finds nothing of the
  service left once the main process is gone;
- a drain with --drain-delay answers /readyz 503 at once and keeps
  accepting until the delay has passed, then refuses;
- systemd socket activation: restarting echod under a .socket unit (this
  test plays systemd, holding the listening socket) refuses nobody.

An upgraded process is not this test's child: the test is a subreaper so
it can wait for it and stop it."""

import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

from tests.fleet import fleet_util as fu
from tests.lib import echod


class Probes:
    """Hammers /healthz and the admin socket's status from a thread,
    counting answers and failures."""

    def __init__(self, metrics_port, admin_path):
        self.url = "http://127.0.0.1:%d/healthz" % metrics_port
        self.admin_path = admin_path
        self.ok, self.failures, self.pids = 0, [], set()
        self.stop_flag = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    assert r.status == 200, r.status
                st = fu.admin(self.admin_path, {"cmd": "status"}, 5)
                assert st["ok"], st
                self.pids.add(st["result"]["pid"])
                self.ok += 1
            except Exception as e:  # every failure is the point here
                self.failures.append("%s: %s" % (type(e).__name__, e))
            time.sleep(0.005)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.t.join(echod.scaled(20))


def ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def children(pid):
    """The processes whose parent is |pid|."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if ppid(int(d)) == pid:
                    out.append(int(d))
            except (OSError, IndexError):
                pass  # gone meanwhile
    return out


def our_child(pid):
    """True if |pid| is our child, running or a zombie not yet reaped."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reaps a zombie: checked once
    except ChildProcessError:
        return False
    return True


class Upgrade(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        fu.become_subreaper()

    def setUp(self):
        self.dir = echod.tmpdir("upgrade-")
        self.program = os.path.join(self.dir, "echod")
        shutil.copy2(echod.binary("cmd/server"), self.program)
        self.admin_path = os.path.join(self.dir, "admin.sock")
        self.new_pid = None

    def tearDown(self):
        if self.new_pid:
            self.assertEqual(fu.stop_pid(self.new_pid), 0,
                             "the upgraded process exits 0 on SIGTERM")

    def start(self, *flags, env=None):
        return echod.Server(
            "--admin-socket", self.admin_path, "--metrics-listen",
            "127.0.0.1:0", "--drain-timeout", "3s", *flags, admin=True,
            metrics=True, program=self.program, env=env)

    @staticmethod
    def metrics_port(srv):
        m = srv.wait_log(r'msg="metrics listening" addr=127\.0\.0\.1:(\d+)')
        return int(m.group(1))

    def test_upgrade_refuses_nobody_and_drains(self):
        srv = self.start()
        ctx = echod.client_context(**srv.dev_client())
        idle = echod.connect(srv.port, ctx, strict_eof=True)
        self.assertEqual(echod.echo(idle, b"idle"), b"idle")
        busy = echod.connect(srv.port, ctx)
        self.assertEqual(echod.echo(busy, b"before"), b"before")
        loop = fu.ClientLoop(srv.port, ctx).start()
        with Probes(self.metrics_port(srv), self.admin_path) as probes:
            time.sleep(0.5)
            r = fu.echoctl("--socket", self.admin_path, "upgrade")
            upgraded_at = time.monotonic()
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            m = srv.wait_log(r"msg=upgraded old_pid=%d new_pid=(\d+)" %
                             srv.pid)
            self.new_pid = int(m.group(1))
            self.assertIn("upgraded: pid %d serves now" % self.new_pid,
                          r.stdout)
            # Before MAINPID= the new process is already the service
            # manager's child (here the test's, a subreaper), not the old
            # spawner's: systemd stops a main pid it is not the parent of
            # with SIGKILL instead of waiting for its drain. The old
            # process is still alive (its sessions finish).
            self.assertTrue(fu.alive(srv.pid))
            self.assertEqual(ppid(self.new_pid), os.getpid())
            # The session on the old process goes on, then ends as usual.
            self.assertEqual(echod.echo(busy, b"after" * 100),
                             b"after" * 100)
            self.assertTrue(echod.close_tls(busy))
            # The idle one: close_notify once the drain timeout passed.
            idle.settimeout(echod.scaled(15))
            self.assertEqual(idle.recv(10), b"")  # close_notify, not EOF
            waited = time.monotonic() - upgraded_at
            self.assertGreater(waited, 2.5)
            idle.close()
            self.assertEqual(srv.wait_exit(15), 0)
            time.sleep(0.5)  # probes and clients meet only the new one
        loop.stop()
        self.assertEqual(loop.failures, [])
        self.assertGreater(loop.sessions, 10)
        self.assertEqual(loop.echoed, loop.sent)
        self.assertEqual(probes.failures, [])
        self.assertIn(self.new_pid, probes.pids)
        st = fu.admin(self.admin_path, {"cmd": "status"})["result"]
        self.assertEqual((st["pid"], st["state"]), (self.new_pid, "running"))
        log = srv.log()
        self.assertIn("from=upgrade", log)
        self.assertEqual(fu.refused_syscalls(log), [])
        self.assertEqual(srv.stop(), 0)

    def test_stop_leaves_nothing_behind(self):
        # systemd (KillMode=mixed) SIGKILLs what is left of the unit when
        # the main process exits; a spawner still on its way out then was
        # such a leftover, and systemd 252 on the legacy cgroup hierarchy
        # (containers) waited out TimeoutStopSec for it. The test is a
        # subreaper like systemd: an echod that exits before its spawner
        # hands the spawner to us.
        srv = self.start()
        first = children(srv.pid)
        self.assertEqual(len(first), 1, "one spawner: %s" % first)
        r = fu.echoctl("--socket", self.admin_path, "upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        new = int(srv.wait_log(r"msg=upgraded old_pid=%d new_pid=(\d+)" %
                               srv.pid).group(1))
        self.new_pid = new
        self.assertEqual(ppid(new), os.getpid())
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertFalse(our_child(first[0]), "the old spawner was reaped")
        spawner = children(new)
        self.assertEqual(len(spawner), 1, "one spawner: %s" % spawner)
        self.assertEqual(fu.stop_pid(new), 0)
        self.new_pid = None
        self.assertFalse(our_child(spawner[0]),
                         "the upgraded echod exited before its spawner")
        self.assertFalse(fu.alive(spawner[0]))
        srv.stop()

    def test_failed_upgrade_keeps_serving(self):
        srv = self.start()
        real = os.path.join(self.dir, "echod.real")
        shutil.copy2(self.program, real)
        # A "new version" that cannot start: the package replaced the file.
        bad = self.program + ".new"
        with open(bad, "w") as f:
            f.write('#!/bin/sh\nexec "%s" --no-such-flag "$@"\n' % real)
        os.chmod(bad, 0o755)
        os.rename(bad, self.program)
        r = fu.echoctl("--socket", self.admin_path, "upgrade")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("this one keeps serving", r.stderr)
        self.assertIn("--no-such-flag", r.stderr)
        self.assertIn("exited with status 2", r.stderr)
        srv.wait_log(r'msg="upgrade failed" error="[^"]*--no-such-flag')
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"still here"), b"still here")
        st = fu.admin(self.admin_path, {"cmd": "status"})["result"]
        self.assertEqual((st["pid"], st["state"]), (srv.pid, "running"))
        # The file fixed, the next upgrade works.
        os.rename(real, self.program)
        r = fu.echoctl("--socket", self.admin_path, "upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.new_pid = int(srv.wait_log(r"new_pid=(\d+)").group(1))
        self.assertEqual(srv.wait_exit(15), 0)
        srv.stop()

    def notify_socket(self):
        path = os.path.join(self.dir, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        s.settimeout(0.2)
        return s, path

    @staticmethod
    def read_notify(sock, into):
        """Appends (sender pid, message) for every datagram waiting."""
        while True:
            try:
                msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                return
            pid = None
            for level, typ, data in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[:12])[0]
            for line in msg.decode().split("\n"):
                into.append((pid, line))

    def test_sigusr2_and_systemd_mainpid(self):
        nsock, npath = self.notify_socket()
        srv = self.start(env={"NOTIFY_SOCKET": npath})
        got = []
        echod.wait_until(lambda: self.read_notify(nsock, got) or
                         (srv.pid, "READY=1") in got, 10, what="READY=1")
        srv.signal(signal.SIGUSR2)
        m = srv.wait_log(r"msg=upgraded old_pid=%d new_pid=(\d+)" % srv.pid)
        self.new_pid = int(m.group(1))
        self.assertIn("trigger=signal", srv.log())
        self.assertEqual(srv.wait_exit(15), 0)
        echod.wait_until(
            lambda: self.read_notify(nsock, got) or
            (self.new_pid, "READY=1") in got, 10, what="new READY=1")
        old = [m for p, m in got if p == srv.pid]
        self.assertIn("MAINPID=%d" % self.new_pid, old)
        after = old[old.index("MAINPID=%d" % self.new_pid) + 1:]
        self.assertEqual(after, [], "the old process is silent after MAINPID")
        self.assertNotIn("STOPPING=1", old)
        nsock.close()
        srv.stop()

    def test_handover_needs_an_upgrade_and_its_token(self):
        srv = self.start()
        r = fu.admin(self.admin_path, {"cmd": "handover", "token": "ab" * 32})
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], "forbidden")
        self.assertIn("no upgrade is waiting", r["error"]["message"])
        r = fu.admin(self.admin_path, {"cmd": "handover", "token": "x"})
        self.assertEqual(r["error"]["code"], "bad_request")
        srv.wait_log(r'msg="hand-over refused"')
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"fine"), b"fine")
        srv.stop_clean()

    def test_drain_delay_keeps_accepting_while_not_ready(self):
        srv = self.start()
        port = self.metrics_port(srv)
        ctx = echod.client_context(**srv.dev_client())
        r = fu.echoctl("--socket", self.admin_path, "drain", "--delay", "2s",
                       "--sessions", "finish", "--timeout", "1s")
        self.assertEqual(r.returncode, 0, r.stderr)
        t0 = time.monotonic()
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port,
                                   timeout=5)
        self.assertEqual(e.exception.code, 503)
        # Not ready, yet still accepting: what a balancer sent meanwhile
        # is served.
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"late"), b"late")
            echod.close_tls(s)
        self.assertLess(time.monotonic() - t0, 1.5)
        srv.wait_log(r'msg="drain stops accepting"')
        self.assertGreater(time.monotonic() - t0, 1.8)
        with self.assertRaises(ConnectionRefusedError):
            echod.connect(srv.port, ctx, timeout=5)
        self.assertEqual(srv.wait_exit(15), 0)
        srv.stop()

    def test_stops_accepting_only_when_every_loop_did(self):
        """"drain stops accepting" is logged once every loop has closed its
        copy of the listening socket: a connection after that line is
        refused. Before, the line came when the loops were only told to,
        and a loop slow to do it (here held 500 ms) still let the kernel
        complete connections that its close then reset (seen under ASan)."""
        srv = self.start("--workers", "2",
                         env={"ECHOD_TEST_QUIESCE_DELAY": "500ms"})
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"before"), b"before")
            echod.close_tls(s)
        r = fu.echoctl("--socket", self.admin_path, "drain", "--sessions",
                       "finish", "--timeout", "2s")
        self.assertEqual(r.returncode, 0, r.stderr)
        srv.wait_log(r'msg="drain stops accepting"')
        with self.assertRaises(ConnectionRefusedError):
            echod.connect(srv.port, ctx, timeout=5)
        self.assertEqual(srv.wait_exit(15), 0)
        srv.stop()

    def completed_while_closing(self, keep_session):
        """A drain (--sessions finish) whose loops are held midway through
        closing their listeners (--test-quiesce-delay, where a preempted
        or busy loop would be): a client connects meanwhile. The kernel
        completes its TCP handshake (a listener is still open), so the
        client has a connection; it must be served (finish: sessions run
        on), not reset when the last copy of the listener closes with the
        connection still in its accept queue. |keep_session|: a session
        open on the server, so the drain waits for it; without one, the
        drain finds no sessions at its first tick."""
        srv = self.start("--workers", "2",
                         env={"ECHOD_TEST_QUIESCE_DELAY": "1500ms"})
        ctx = echod.client_context(**srv.dev_client())
        idle = None
        if keep_session:
            idle = echod.connect(srv.port, ctx)
            self.assertEqual(echod.echo(idle, b"idle"), b"idle")
        r = fu.echoctl("--socket", self.admin_path, "drain", "--sessions",
                       "finish", "--timeout", "5s")
        self.assertEqual(r.returncode, 0, r.stderr)
        srv.wait_log(r'msg=draining')
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        # Still in the window: the loops hold their listeners open.
        with open(srv.log_path, "rb") as f:
            self.assertNotIn(b'msg="drain stops accepting"', f.read())
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            got = echod.echo(s, b"late")
            echod.close_tls(s)
        except OSError as e:  # ssl.SSLError is one
            got = "%s: %s" % (type(e).__name__, e)
        self.assertEqual(got, b"late",
                         "a connection the kernel completed before the "
                         "last listener closed was reset, not served")
        if idle:
            self.assertEqual(echod.echo(idle, b"still"), b"still")
            echod.close_tls(idle)
        srv.wait_log(r'msg="drain stops accepting"')
        with self.assertRaises(ConnectionRefusedError):
            echod.connect(srv.port, ctx, timeout=5)
        self.assertEqual(srv.wait_exit(15), 0)
        srv.stop()

    def test_drain_serves_what_the_kernel_completed_meanwhile(self):
        self.completed_while_closing(keep_session=True)

    def test_drain_without_sessions_serves_what_was_completed(self):
        self.completed_while_closing(keep_session=False)


class SocketUnitRestart(unittest.TestCase):
    """systemctl restart with echod.socket: systemd (here: this test) holds
    the listening socket, so while one echod drains and the next starts,
    connections wait in its queue instead of being refused; with
    --drain-sessions finish the sessions under way end as their clients
    end them, so nothing fails and no byte is lost."""

    def spawn(self, lsock, state):
        """Starts echod with |lsock| as LISTEN_FDS=1 (descriptor 3)."""
        env = dict(os.environ, ECHOD_STATE_DIR=state)
        argv = ["/bin/sh", "-c",
                'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@" 3<&%d'
                % lsock.fileno(), "sh",
                echod.binary("cmd/server"), "--no-admin", "--no-metrics",
                "--drain-timeout", "5s", "--drain-sessions", "finish"
                ] + echod.server_flags([])
        log = open(os.path.join(state, "server.log"), "ab")
        p = echod._track(subprocess.Popen(argv, env=env,
                                          pass_fds=(lsock.fileno(),),
                                          stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=log))
        log.close()
        return p

    def test_restart_refuses_nobody(self):
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(128)
        port = lsock.getsockname()[1]
        state = echod.tmpdir("sdsock-")
        p = self.spawn(lsock, state)
        logp = os.path.join(state, "server.log")
        echod.wait_until(lambda: "from=systemd" in open(logp).read(), 20,
                         what="the first echod listening")
        pki = os.path.join(state, "pki")
        ctx = echod.client_context(ca=os.path.join(pki, "ca.pem"),
                                   cert=os.path.join(pki, "dev-client.pem"),
                                   key=os.path.join(pki, "dev-client.key"))
        loop = fu.ClientLoop(port, ctx).start()
        for _ in range(2):  # two restarts
            time.sleep(0.5)
            p.send_signal(signal.SIGTERM)  # systemctl restart: stop ...
            self.assertEqual(p.wait(echod.scaled(20)), 0)
            echod._untrack(p)
            p = self.spawn(lsock, state)  # ... then start
        time.sleep(1)
        loop.stop()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(echod.scaled(20)), 0)
        echod._untrack(p)
        lsock.close()
        self.assertEqual(loop.failures, [])
        self.assertGreater(loop.sessions, 10)
        self.assertEqual(loop.echoed, loop.sent)
        text = open(logp).read()
        self.assertEqual(text.count("from=systemd"), 3)
        self.assertEqual(fu.refused_syscalls(text), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
