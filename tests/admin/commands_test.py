"""End to end: every admin command through echoctl (human and --json) and
through a raw socket client; every kind of bad admin input; echoctl's exit
codes; the SO_PEERCRED uid check. An echo client keeps working
throughout."""

import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from tests.admin import admin_util as au
from tests.lib import echod


class Commands(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = au.start(env={"ECHOD_ADMIN_TIMEOUT": "1500ms"})
        cls.path = cls.srv.admin_path
        cls.ctx = echod.client_context(**cls.srv.dev_client())
        cls.keeper = echod.connect(cls.srv.port, cls.ctx)
        cls.assert_echoes(cls)

    @classmethod
    def tearDownClass(cls):
        cls.keeper.close()
        cls.srv.stop()

    def assert_echoes(self):
        data = os.urandom(4096)
        got = echod.echo(self.keeper, data)
        assert got == data, "the echo client was disturbed"

    def tearDown(self):
        self.assert_echoes()

    def ctl(self, *args, code=0):
        r = au.echoctl(self.path, *args)
        self.assertEqual(r.returncode, code,
                         "echoctl %s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def ctl_json(self, *args):
        r = self.ctl("--json", *args)
        reply = json.loads(r.stdout)
        self.assertIs(reply["ok"], True)
        return reply["result"]

    # ---- every command, echoctl ----

    def test_status(self):
        out = self.ctl("status").stdout
        self.assertRegex(out, r"echod \S+ — running, up ")
        for label in ("listening", "threads", "sessions", "handshakes",
                      "traffic", "last reload", "server cert", "CA", "CRL"):
            self.assertRegex(out, r"(?m)^%s\s" % label)
        self.assertIn("127.0.0.1:%d" % self.srv.port, out)
        r = self.ctl_json("status")
        self.assertEqual(r["state"], "running")
        self.assertGreaterEqual(r["connections"]["established"], 1)
        self.assertGreaterEqual(r["bytes"]["in"], 4096)
        self.assertIn("cert_revoked", r["handshakes"]["refusals"])
        self.assertGreater(r["certs"]["server"]["seconds_to_expiry"], 0)
        self.assertIs(r["last_reload"]["ok"], True)
        self.assertGreaterEqual(r["handshake_pool"]["threads"], 1)
        self.assertEqual(r["pid"], self.srv.pid)

    def test_sessions_and_session(self):
        port = echod.local_port(self.keeper)
        out = self.ctl("sessions").stdout
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^ID\s+STATE\s+PEER\s+CN\s+TLS\s+CIPHER")
        row = [l for l in lines if ":%d " % port in l]
        self.assertEqual(len(row), 1, out)
        self.assertIn("dev-client", row[0])
        self.assertIn("established", row[0])
        # columns line up with the header
        self.assertEqual(row[0].index("dev-client"), lines[0].index("CN"))

        r = self.ctl_json("sessions", "--cn", "dev-client", "--state",
                          "established")
        mine = [s for s in r["sessions"]
                if s["peer"].endswith(":%d" % port)]
        self.assertEqual(len(mine), 1)
        s = mine[0]
        self.assertEqual(s["version"], "TLSv1.3")
        self.assertGreaterEqual(s["bytes_in"], 4096)
        self.assertTrue(s["serial"])
        self.assertEqual(self.ctl("sessions", "--cn", "nobody").stdout,
                         "no sessions\n")
        self.assertEqual(
            self.ctl_json("sessions", "--older-than", "1h")["sessions"], [])
        r = self.ctl_json("sessions", "--limit", "1")
        self.assertEqual(len(r["sessions"]), 1)

        out = self.ctl("session", str(s["id"])).stdout
        self.assertIn("127.0.0.1:%d" % port, out)
        self.assertIn("dev-client", out)
        one = self.ctl_json("session", str(s["id"]))["session"]
        self.assertEqual(one["id"], s["id"])
        r = self.ctl("session", "987654321", code=1)
        self.assertIn("not_found", r.stderr)

    def test_certs(self):
        out = self.ctl("certs").stdout
        for word in ("server certificate", "subject", "issuer", "serial",
                     "SANs", "expires", "sha256", "CRL"):
            self.assertIn(word, out)
        r = self.ctl_json("certs")
        self.assertEqual(r["server"]["serial"].lstrip("0"),
                         au.served_serial(self.srv.port, self.ctx))
        self.assertEqual(len(r["server"]["sha256"]), 64)
        self.assertIn({"type": "DNS", "value": "localhost"},
                      r["server"]["sans"])

    def test_reload_and_check(self):
        self.assertIn("check passed", self.ctl("reload", "--check").stdout)
        self.assertIn("reloaded", self.ctl("reload").stdout)
        r = self.ctl_json("reload")
        self.assertIs(r["published"], True)
        st = self.ctl_json("status")["last_reload"]
        self.assertEqual(st["trigger"], "admin")
        self.assertIs(st["ok"], True)

    def test_log_level(self):
        self.assertEqual(self.ctl("log-level").stdout, "log level: info\n")
        self.assertEqual(self.ctl("log-level", "debug").stdout,
                         "log level: debug (was info)\n")
        self.assertEqual(self.ctl_json("log-level", "info"),
                         {"previous": "debug", "level": "info"})
        # echoctl refuses it itself (usage, exit 2) before any round trip;
        # the server's own bad_request is internal/admin/proto_test's.
        r = self.ctl("log-level", "loud", code=2)
        self.assertIn('log-level "loud" is not a level', r.stderr)

    def test_version_and_metrics(self):
        self.assertRegex(self.ctl("version").stdout,
                         r"^echod \S+ \(BoringSSL api-\d+, libuv ")
        self.assertEqual(self.ctl_json("version")["protocol"], 1)
        r = au.echoctl(self.path, "--json", "metrics")
        reply = json.loads(r.stdout)
        if reply["ok"]:
            self.assertIn("echod_", reply["result"]["text"])
        else:  # built without the metrics hook: a clean error, exit 1
            self.assertEqual(reply["error"]["code"], "unavailable")
            self.assertEqual(r.returncode, 1)

    def test_kill_by_id(self):
        with echod.connect(self.srv.port, self.ctx, strict_eof=True) as s:
            self.assertEqual(echod.echo(s, b"hello"), b"hello")
            port = echod.local_port(s)
            sid = [x["id"] for x in self.ctl_json("sessions")["sessions"]
                   if x["peer"].endswith(":%d" % port)][0]
            self.assertEqual(self.ctl("kill", str(sid)).stdout,
                             "killed 1 session\n")
            self.assertEqual(s.recv(10), b"")  # close_notify, not a reset
            self.assertEqual(self.srv.session_closed(port)["reason"],
                             "killed")
        r = self.ctl("kill", str(sid), code=1)
        self.assertIn("not_found", r.stderr)

    # ---- raw socket ----

    def test_raw_every_command(self):
        reqs = [
            {"cmd": "status", "id": 11},
            {"cmd": "sessions", "limit": 5, "id": "two"},
            {"cmd": "certs", "id": True},
            {"cmd": "reload", "check": True, "id": None},
            {"cmd": "log-level", "id": 2.5},
            {"cmd": "version", "id": -7},
            {"cmd": "metrics", "id": "m"},
            {"cmd": "session", "session": 987654321, "id": "s"},
            {"cmd": "kill", "session": 987654321, "id": "k"},
            {"cmd": "kill", "cn": "nobody-at-all", "id": "kc"},
        ]
        with au.dial(self.path) as s:
            # all pipelined in one write: replies come back in order
            s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
            replies, eof = au.read_lines(s, len(reqs))
        self.assertFalse(eof)
        self.assertEqual([r.get("id") for r in replies],
                         [r["id"] for r in reqs])
        by = {r["id"]: r for r in replies}
        self.assertEqual(by[11]["result"]["state"], "running")
        self.assertIn("sessions", by["two"]["result"])
        self.assertIn("server", by[True]["result"])
        self.assertIs(by[None]["result"]["published"], False)
        self.assertEqual(by[2.5]["result"]["level"], "info")
        self.assertIn("version", by[-7]["result"])
        if by["m"]["ok"]:
            self.assertIn("echod_", by["m"]["result"]["text"])
        else:  # built without the metrics hook: a clean error
            self.assertEqual(by["m"]["error"]["code"], "unavailable")
        self.assertEqual(by["s"]["error"]["code"], "not_found")
        self.assertEqual(by["k"]["error"]["code"], "not_found")
        self.assertEqual(by["kc"]["result"], {"killed": 0})
        # socat works too (half-close after the request)
        r = echod.run_tool(["socat", "-t5", "-",
                            "UNIX-CONNECT:" + self.path],
                           input='{"cmd":"version"}\n', timeout=20)
        self.assertEqual(json.loads(r.stdout)["ok"], True, r.stderr)

    # ---- bad input ----

    def test_bad_input_keeps_connection(self):
        bad = [
            (b"status", "bad_request", "not valid JSON"),
            (b'["status"]', "bad_request", "JSON object"),
            (b'"status"', "bad_request", "JSON object"),
            (b"{}", "bad_request", "missing field"),
            (b'{"cmd":42}', "bad_request", "must be a string"),
            (b'{"cmd":"reboot","id":9}', "unknown_command", "reboot"),
            (b'{"cmd":"sessions","limit":"5"}', "bad_request", "limit"),
            (b'{"cmd":"sessions","olderthan":5}', "bad_request",
             "unknown field"),
            (b'{"cmd":"kill"}', "bad_request", "exactly one"),
            (b'{"cmd":"reload","check":"yes"}', "bad_request", "check"),
            (b'{"cmd":"drain","timeout":"soon"}', "bad_request", "timeout"),
            (b'{"cmd":"status"} trailing', "bad_request", "trailing"),
            (b'{"cmd":"status","id":{"a":1}}', "bad_request", "id"),
            (b"\x00\xff\xfe", "bad_request", "NUL"),
            # cJSON ends its strings at a NUL: this was kill --cn
            # dev-client, and sessions --cn x.
            (b'{"cmd":"kill","cn":"dev-client\\u0000zzz"}', "bad_request",
             'field "cn" holds a NUL'),
            (b'{"cmd":"sessions","cn":"x\\u0000"}', "bad_request",
             'field "cn" holds a NUL'),
            (b"", "bad_request", "empty"),
        ]
        with au.dial(self.path) as s:
            for line, code, words in bad:
                s.sendall(line + b"\n")
                (r,), eof = au.read_lines(s, 1)
                self.assertFalse(eof)
                self.assertIs(r["ok"], False, line)
                self.assertEqual(r["error"]["code"], code, line)
                self.assertIn(words, r["error"]["message"], line)
                if line.startswith(b'{"cmd":"reboot"'):
                    self.assertEqual(r["id"], 9)
            s.sendall(b'{"cmd":"status"}\n')
            (r,), _ = au.read_lines(s, 1)
            self.assertIs(r["ok"], True)
        r = self.ctl("--json", "status")
        self.assertIn('"ok":true', r.stdout)

    def test_oversized_line_closes(self):
        # without a newline, and with one (the whole line in one write)
        for tail in (b"", b"\n"):
            with au.dial(self.path) as s:
                try:
                    s.sendall(b"{" + b" " * (70 * 1024) + tail)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                (r,), _ = au.read_lines(s, 1)
                self.assertEqual(r["error"]["code"], "too_large", tail)
                self.assertTrue(au.sees_eof(s), tail)

    def test_silent_and_partial_clients_time_out(self):
        for payload in (b"", b'{"cmd":"sta'):
            t0 = time.monotonic()
            with au.dial(self.path) as s:
                s.sendall(payload)
                (r,), _ = au.read_lines(s, 1, timeout=15)
                self.assertEqual(r["error"]["code"], "timeout")
                self.assertTrue(au.sees_eof(s))
            self.assertLess(time.monotonic() - t0, echod.scaled(8))

    def test_many_bad_clients_do_not_disturb_echo(self):
        socks = []
        try:
            for _ in range(40):
                try:
                    s = au.dial(self.path)
                except OSError:
                    continue
                socks.append(s)
                try:  # past the connection cap the server says busy
                    s.sendall(b"garbage" * 100)
                except OSError:
                    pass
            for _ in range(20):
                self.assert_echoes()
        finally:
            for s in socks:
                s.close()
        # The server notices the closes asynchronously; later tests must
        # not meet its connection cap, so wait until it answers again (a
        # try while it is still full is refused or reset: not yet).
        def answers():
            try:
                return au.request(self.path, {"cmd": "version"}).get("ok")
            except (OSError, ValueError):
                return False
        echod.wait_until(answers, 10, what="admin connections released")

    # ---- echoctl exit codes ----

    def test_echoctl_exit_codes(self):
        missing = os.path.join(au.short_dir(), "nothing.sock")
        r = au.echoctl(missing, "status")
        self.assertEqual(r.returncode, 3)
        self.assertIn(missing, r.stderr)
        self.assertIn("--socket", r.stderr)
        # found the same way the server finds it: the state directory
        r = au.echoctl(None, "--state-dir", au.short_dir(), "status")
        self.assertEqual(r.returncode, 3)
        self.assertIn("admin.sock", r.stderr)
        self.assertEqual(au.echoctl(self.path, "frobnicate").returncode, 2)
        self.assertEqual(au.echoctl(self.path, "kill").returncode, 2)
        self.assertEqual(au.echoctl(self.path, "session", "x").returncode, 2)
        r = au.echoctl(self.path, "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: echoctl", r.stdout)


class Permission(unittest.TestCase):
    """Another uid is refused by the SO_PEERCRED check itself: the socket
    file is made world-writable (test only) in a world-traversable dir, so
    nothing but the uid check stands in the way."""

    def test_other_uid_refused(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv")
        d = au.short_dir(mode=0o711)
        if os.path.dirname(d) != "/tmp":
            os.chmod(os.path.dirname(d), 0o711)
        with au.start(sock_dir=d) as srv:
            os.chmod(srv.admin_path, 0o666)
            ctl = os.path.join(d, "echoctl")
            shutil.copy(echod.binary("cmd/echoctl"), ctl)
            os.chmod(ctl, 0o755)
            as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                         "--clear-groups"]
            raw = ("import socket,sys;s=socket.socket(socket.AF_UNIX);"
                   "s.settimeout(10);s.connect(sys.argv[1]);"
                   "\ntry: s.sendall(b'{\"cmd\":\"status\"}\\n')\n"
                   "except OSError: pass\n"
                   "d=b''\nwhile True:\n c=s.recv(4096)\n if not c: break\n"
                   " d+=c\nsys.stdout.write(d.decode())")
            r = echod.run_tool(as_nobody + ["/usr/bin/python3", "-c", raw,
                                            srv.admin_path], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.splitlines()
            self.assertEqual(len(lines), 1, r.stdout)  # one reply, then EOF
            reply = json.loads(lines[0])
            self.assertEqual(reply["error"]["code"], "forbidden")
            r = echod.run_tool(as_nobody + [ctl, "--socket", srv.admin_path,
                                            "status"], timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("forbidden", r.stderr)
            srv.wait_log(r'msg="admin peer refused"[^\n]*uid=65534')
            st = au.result(srv.admin_path, {"cmd": "status"})
            self.assertGreaterEqual(st["admin"]["refused_peers"], 2)
            # with the server's own 0600 mode, nobody cannot even connect
            os.chmod(srv.admin_path, 0o600)
            r = echod.run_tool(as_nobody + [ctl, "--socket", srv.admin_path,
                                            "status"], timeout=30)
            self.assertEqual(r.returncode, 3)
            self.assertIn("another user", r.stderr)

    def test_socket_modes_and_live_socket(self):
        d = os.path.join(au.short_dir(), "sub")
        with au.start(sock_dir=d) as srv:
            self.assertEqual(os.stat(srv.admin_path).st_mode & 0o777, 0o600)
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
            # a second server on the same socket refuses to start
            r = echod.run_server(["--listen", "127.0.0.1:0", "--no-metrics",
                                  "--admin-socket", srv.admin_path],
                                 state_dir=srv.state_dir, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            # one line: what, where and why
            self.assertIn("echod: error: cannot listen on admin socket %s: "
                          "another process is listening there\n"
                          % srv.admin_path, r.stderr)
            self.assertEqual(au.result(srv.admin_path,
                                       {"cmd": "version"})["protocol"], 1)
        # SIGKILL leaves the socket file behind; the next start replaces it
        srv2 = au.start(sock_dir=d)
        srv2.proc.kill()
        srv2.proc.wait(10)
        srv2.stop()
        self.assertTrue(os.path.exists(srv2.admin_path))
        with au.start(sock_dir=d, state_dir=srv2.state_dir) as srv3:
            self.assertIs(au.request(srv3.admin_path,
                                     {"cmd": "status"})["ok"], True)


class Drain(unittest.TestCase):

    def test_drain_via_echoctl(self):
        srv = au.start()
        try:
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx, strict_eof=True) as s:
                self.assertEqual(echod.echo(s, b"abc"), b"abc")
                r = au.echoctl(srv.admin_path, "drain", "--timeout", "5s")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^draining: 1 sessions open")
                self.assertEqual(s.recv(10), b"")  # close_notify
            self.assertEqual(srv.wait_exit(15), 0)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
