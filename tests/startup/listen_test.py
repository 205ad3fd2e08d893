"""Listening sockets end to end (issue 12 item 1, issue 16's socket
activation):

- nobody shares echod's port: a second echod is refused naming the first
  one's pid, and a program with SO_REUSEPORT cannot bind it at all (both
  used to succeed and split the connections);
- --workers N splits connections evenly across the loops (one socket, the
  accepting loop hands each connection to the next loop in turn);
- out of file descriptors, accepting pauses instead of spinning, and the
  server serves again once descriptors are free;
- systemd socket activation (tests/startup/activate.py plays systemd):
  the inherited sockets are served (with --workers 2), --listen is
  ignored, and a descriptor that is not a listening TCP socket is a
  startup error."""

import os
import resource
import socket
import sys
import time
import unittest

from tests.lib import echod

ACTIVATE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "activate.py")


def admin(path, req):
    reply = echod.admin_request(path, req, 10)
    if not reply.get("ok"):
        raise AssertionError("admin %r: %r" % (req, reply))
    return reply["result"]


def per_worker(admin_path):
    sessions = admin(admin_path, {"cmd": "sessions"})
    if isinstance(sessions, dict):
        sessions = sessions["sessions"]
    counts = {}
    for s in sessions:
        counts[s["worker"]] = counts.get(s["worker"], 0) + 1
    return counts


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Exclusive(unittest.TestCase):

    def test_second_server_is_refused(self):
        with echod.Server() as first:
            r = echod.run_server(["--listen", first.addrs[0], "--no-admin",
                                  "--no-metrics"], timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            last = r.stderr.strip().splitlines()[-1]
            self.assertIn("cannot listen on %s" % first.addrs[0], last)
            self.assertIn("address already in use by pid %d" % first.pid,
                          last)
            self.assertNotIn("listening addr=", r.stderr)
            ctx = echod.client_context(**first.dev_client())
            with echod.connect(first.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"still mine"), b"still mine")
            first.stop_clean()

    def test_reuseport_program_cannot_join(self):
        with echod.Server() as srv:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with self.assertRaises(OSError) as cm:
                s.bind(("127.0.0.1", srv.port))
            s.close()
            self.assertEqual(cm.exception.errno, 98)  # EADDRINUSE
            srv.stop_clean()


class Workers(unittest.TestCase):

    def test_connections_split_evenly(self):
        d = echod.tmpdir("adm-")
        path = os.path.join(d, "admin.sock")
        with echod.Server("--workers", "2", "--admin-socket", path,
                          admin=True) as srv:
            ctx = echod.client_context(**srv.dev_client())
            conns = [echod.connect(srv.port, ctx) for _ in range(64)]
            for c in conns:
                self.assertEqual(echod.echo(c, b"x"), b"x")
            self.assertEqual(per_worker(path), {0: 32, 1: 32})
            for c in conns:
                echod.close_tls(c)
            srv.stop_clean()


class OutOfDescriptors(unittest.TestCase):

    def test_pauses_then_serves_again(self):
        # echod sizes --max-connections under the limit it starts with
        # (tests/core/capacity_test.py: past it, refused as max_connections);
        # a limit lowered after the start is the one it can run out of.
        limit = 64
        with echod.Server("--workers", "1", "--handshake-threads", "1") as srv:
            resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (limit, limit))
            held = []
            for _ in range(limit):
                held.append(socket.create_connection(
                    ("127.0.0.1", srv.port), timeout=echod.scaled(5)))
            srv.wait_log(r"out of file descriptors", 10)
            before = cpu_seconds(srv.pid)
            time.sleep(1)
            spent = cpu_seconds(srv.pid) - before
            self.assertLess(spent, 0.5, "the server spun while out of fds")
            for s in held:
                s.close()
            ctx = echod.client_context(**srv.dev_client())
            echod.wait_until(lambda: echod.serves(srv.port, ctx), 15, interval=0.2, what="serving again")
            srv.stop_clean()


class SocketActivation(unittest.TestCase):

    def activated(self, *flags, offset=0, listen=None, admin_path=None):
        launcher = [sys.executable, ACTIVATE, "--pid-offset", str(offset),
                    "127.0.0.1:0", "--"]
        extra = ["--admin-socket", admin_path] if admin_path else []
        return echod.Server(*(list(flags) + extra), listen=listen,
                            admin=bool(admin_path), launcher=launcher)

    def test_serves_the_inherited_socket(self):
        ignored = echod.free_port()
        d = echod.tmpdir("adm-")
        path = os.path.join(d, "admin.sock")
        with self.activated("--workers", "2", admin_path=path,
                            listen="127.0.0.1:%d" % ignored) as srv:
            self.assertRegex(srv.log(), r'msg="socket activation" sockets=1 ')
            self.assertRegex(srv.log(), r"msg=listening addr=127\.0\.0\.1:"
                             r"%d .*from=systemd" % srv.port)
            self.assertNotEqual(srv.port, ignored)
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", ignored), 2).close()
            ctx = echod.client_context(**srv.dev_client())
            conns = [echod.connect(srv.port, ctx) for _ in range(8)]
            for c in conns:
                self.assertEqual(echod.echo(c, b"activated"), b"activated")
            self.assertEqual(per_worker(path), {0: 4, 1: 4})
            for c in conns:
                echod.close_tls(c)
            srv.stop_clean()

    def test_socket_not_listening_is_refused(self):
        for kind, why in (("bound", "is not listening"),
                          ("udp", "is not a TCP stream socket")):
            with self.subTest(kind=kind):
                argv = [sys.executable, ACTIVATE, "--kind", kind,
                        "127.0.0.1:0", "--", echod.binary("cmd/server")]
                argv += echod.server_flags(["--no-admin", "--no-metrics",
                                            "--log-level", "warn"])
                r = echod.run_tool(argv, env={
                    "ECHOD_STATE_DIR": echod.tmpdir("state-")})
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("socket activation: descriptor 3 (echo) " + why,
                              lines[0])

    def test_variables_for_another_process_are_ignored(self):
        with self.activated(offset=1, listen="127.0.0.1:0") as srv:
            self.assertNotIn("socket activation", srv.log())
            self.assertNotIn("from=systemd", srv.log())
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"mine"), b"mine")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main(verbosity=2)
