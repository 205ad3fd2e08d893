"""End to end: echod speaks systemd's notification protocol to a test
$NOTIFY_SOCKET, as under Type=notify. READY=1 is the first datagram and
arrives only once the echo port and the admin socket both answer;
RELOADING=1 (with MONOTONIC_USEC) and READY=1 frame every reload —
`echoctl reload`, SIGHUP, a failed one — but not `reload --check`; STATUS=
tells sessions and the last reload; STOPPING=1 comes when a drain starts
(SIGTERM or `echoctl drain`), while sessions are still open; a signal
right after READY=1 is handled, not fatal; WATCHDOG=1
comes every WATCHDOG_USEC/2 when the watchdog is for this process; an
abstract socket ("@name") works too."""

import os
import shutil
import signal
import socket
import time
import unittest

from tests.lib import echod
from tests.service import service_util as su


def echoctl(sock, *args):
    return echod.run_tool([echod.binary("cmd/echoctl"), "--socket", sock] +
                          list(args))


def is_ready(m):
    return m.get("READY") == "1"


class Notify(unittest.TestCase):

    def setUp(self):
        self.ntf = su.NotifySocket()
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        self.ntf.close()

    def start(self, *flags, env=None, ntf=None):
        """Starts echod (admin socket in a short dir, metrics off) with
        NOTIFY_SOCKET set, without waiting for anything."""
        sock_dir = echod.tmpdir("adm-")
        os.chmod(sock_dir, 0o700)
        e = {"NOTIFY_SOCKET": (ntf or self.ntf).name}
        e.update(env or {})
        for k in ("WATCHDOG_USEC", "WATCHDOG_PID"):
            if k not in e:
                e[k] = ""
        srv = su.SpawnedServer(*flags, "--admin-socket",
                               os.path.join(sock_dir, "admin.sock"),
                               admin=True, env=e, start=False,
                               listen=None)
        srv.admin_path = os.path.join(sock_dir, "admin.sock")
        self.servers.append(srv)
        return srv

    def test_ready_first_and_only_once_serving(self):
        port = echod.free_port()
        srv = self.start("--listen", "127.0.0.1:%d" % port).start()
        first = self.ntf.receive(20)
        self.assertIsNotNone(first, "no notification at all\n%s"
                             % srv.log_tail())
        self.assertEqual(first.get("READY"), "1", self.ntf.messages)
        # The moment READY=1 arrives, with no retry: the admin socket and
        # the echo port accept (raw connects first, microseconds after
        # the datagram), then serve.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as a:
            a.connect(srv.admin_path)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(port, ctx) as s:
            self.assertEqual(echod.echo(s, b"ready?"), b"ready?")
        r = echoctl(srv.admin_path, "--json", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = su.STATUS_RE.match(first.get("STATUS", ""))
        self.assertTrue(m, first)
        self.assertEqual((m.group(1), m.group(3), m.group(4)),
                         ("running", "ok", "startup"))
        self.assertIn("msg=\"systemd notify\"", srv.log())
        srv.stop_clean()

    def test_signals_right_after_ready_are_handled(self):
        # systemd may send SIGHUP (reload) or SIGTERM (stop) the moment it
        # has READY=1: the handlers must already be installed.
        srv = self.start("--listen", "127.0.0.1:0").start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        srv.signal(signal.SIGHUP)
        self.ntf.wait_for(lambda m: "RELOADING" in m, 10,
                          "RELOADING=1 after SIGHUP")
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(20), 0, srv.log_tail())

    def test_reloads_are_framed(self):
        ca = echod.TestCA()
        ca.issue("server", role="server")
        certs = echod.tmpdir("certs-")
        cert = os.path.join(certs, "server.pem")
        shutil.copy(ca.path("server"), cert)
        srv = self.start("--listen", "127.0.0.1:0", "--cert", cert, "--key",
                         ca.path("server", "key"), "--ca", ca.ca_pem,
                         "--no-watch").start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")

        def reload_framed(trigger, do, ok=True):
            mark = len(self.ntf.messages)
            before = time.monotonic_ns() // 1000
            do()
            result = "ok" if ok else "FAILED"
            self.ntf.wait_for(
                lambda m: "(%s, " % trigger in m.get("STATUS", "") and
                "last reload %s" % result in m["STATUS"], 10,
                "STATUS after the %s reload" % trigger)
            after = time.monotonic_ns() // 1000
            got = self.ntf.since(mark)
            kinds = [("RELOADING" if "RELOADING" in m else
                      "READY" if is_ready(m) else "STATUS") for m in got]
            # Exactly one RELOADING, then READY, then the new STATUS.
            self.assertEqual(kinds.count("RELOADING"), 1, got)
            i = kinds.index("RELOADING")
            self.assertIn("READY", kinds[i + 1:], got)
            self.assertLess(kinds.index("READY"), len(kinds) - 1, got)
            self.assertNotIn("READY", kinds[:i], got)
            usec = int(got[i]["MONOTONIC_USEC"])
            self.assertTrue(before <= usec <= after,
                            (before, usec, after))
            return got[-1]["STATUS"]

        r = echoctl(srv.admin_path, "reload", "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        reload_framed("admin", lambda: self.assertEqual(
            echoctl(srv.admin_path, "reload").returncode, 0))
        reload_framed("signal", lambda: srv.signal(signal.SIGHUP))
        # A failed reload: RELOADING/READY all the same, STATUS says why.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        status = reload_framed("admin", lambda: self.assertEqual(
            echoctl(srv.admin_path, "reload").returncode, 1), ok=False)
        self.assertRegex(status, r"\): \S")
        self.assertNotIn("\n", status)
        # The server kept its old credentials and serves.
        ca.issue("alice")
        port = int(srv.wait_log(r"msg=listening addr=\S+:(\d+)").group(1))
        with echod.connect(port, echod.client_context(**ca.client("alice"))) as s:
            self.assertEqual(echod.echo(s, b"still"), b"still")
        srv.stop_clean()

    def test_stopping_when_drain_starts(self):
        srv = self.start("--listen", "127.0.0.1:0", "--drain-timeout",
                         "20s").start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        port = int(srv.wait_log(r"msg=listening addr=\S+:(\d+)").group(1))
        s = echod.connect(port, echod.client_context(**srv.dev_client()))
        self.assertEqual(echod.echo(s, b"x"), b"x")
        srv.signal(signal.SIGTERM)
        self.ntf.wait_for(lambda m: m.get("STOPPING") == "1", 10,
                          "STOPPING=1 after SIGTERM")
        # Sent when the drain starts: the session is still open.
        self.assertTrue(srv.running())
        echod.close_tls(s)
        s.close()
        self.assertEqual(srv.wait_exit(20), 0)

    def test_stopping_on_echoctl_drain(self):
        srv = self.start("--listen", "127.0.0.1:0").start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        r = echoctl(srv.admin_path, "drain", "--timeout", "5s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.ntf.wait_for(lambda m: m.get("STOPPING") == "1", 10,
                          "STOPPING=1 after echoctl drain")
        self.assertEqual(srv.wait_exit(20), 0)

    def test_watchdog_and_status_refresh(self):
        srv = self.start("--listen", "127.0.0.1:0",
                         env={"WATCHDOG_USEC": "200000",
                              "WATCHDOG_PID": ""}).start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        # At least every 100 ms: 5 pings well within 2 s.
        t0 = time.monotonic()
        for i in range(5):
            self.ntf.wait_for(lambda m: m.get("WATCHDOG") == "1", 2,
                              "WATCHDOG=1 number %d" % (i + 1))
        self.assertLess(time.monotonic() - t0, echod.scaled(2))
        self.assertIn("watchdog_ms=200", srv.log())
        # A session opened: STATUS says so at the next tick.
        port = int(srv.wait_log(r"msg=listening addr=\S+:(\d+)").group(1))
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(port, ctx) as s:
            self.assertEqual(echod.echo(s, b"x"), b"x")
            self.ntf.wait_for(
                lambda m: m.get("STATUS", "").startswith(
                    "running, 1 session;"), 5, "STATUS with 1 session")
        srv.stop_clean()

    def test_watchdog_for_another_process_is_not_ours(self):
        srv = self.start("--listen", "127.0.0.1:0",
                         env={"WATCHDOG_USEC": "100000",
                              "WATCHDOG_PID": "1"}).start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = self.ntf.receive(0.2)
            self.assertFalse(m and "WATCHDOG" in m, self.ntf.messages)
        srv.stop_clean()
        # A value that is not a number is logged, not fatal.
        srv = self.start("--listen", "127.0.0.1:0",
                         env={"WATCHDOG_USEC": "30s"}).start()
        self.ntf.wait_for(is_ready, 20, "READY=1 at start")
        self.assertIn('msg="systemd watchdog ignored" WATCHDOG_USEC=30s',
                      srv.log())
        srv.stop_clean()

    def test_abstract_socket(self):
        ntf = su.NotifySocket(abstract=True)
        try:
            srv = self.start("--listen", "127.0.0.1:0", ntf=ntf).start()
            ntf.wait_for(is_ready, 20, "READY=1 on an abstract socket")
            srv.stop_clean()
        finally:
            ntf.close()

    def test_without_notify_socket_nothing_changes(self):
        with echod.Server(env={"NOTIFY_SOCKET": ""}) as srv:
            self.assertNotIn("systemd", srv.log())
            srv.stop_clean()
        # A socket nobody listens on: logged once, the server serves.
        gone = os.path.join(echod.tmpdir("ntf-"), "gone")
        with echod.Server(env={"NOTIFY_SOCKET": gone}) as srv:
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"x"), b"x")
            srv.wait_log(r'msg="systemd notify failed"')
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
