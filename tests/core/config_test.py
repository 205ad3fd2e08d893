"""Server configuration end to end: an unknown flag, a bad value or an
unreadable/invalid --config file is one line on stderr and exit 2 before
anything listens; --help, --version and --print-config exit 0; precedence is
flag > environment > file > default; --print-config output is accepted back
by --config; environment settings take effect at run time."""

import json
import os
import socket
import unittest

from tests.lib import echod


class ConfigTest(unittest.TestCase):

    def usage_error(self, args, want, env=None):
        port = echod.free_port()
        r = echod.run_server(args + ["--listen", "127.0.0.1:%d" % port,
                                     "--no-admin", "--no-metrics"],
                             env=env, timeout=20)
        self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "%s: stderr was\n%s"
                         % (args, r.stderr))
        self.assertIn(want, lines[0])
        self.assertNotIn("listening", r.stderr)
        self.assertEqual(r.stdout, "")
        # Nothing was listening (it exited before binding, or unbound).
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return lines[0]

    def test_unknown_flag(self):
        self.usage_error(["--bogus"], "--bogus")

    def test_bad_values(self):
        for args, want in [
                (["--listen", "127.0.0.1:99999"], "--listen"),
                (["--listen", "127.0.0.1"], "--listen"),
                (["--workers", "many"], "--workers"),
                (["--workers=-1"], "--workers"),
                (["--tls-min", "1.1"], "--tls-min"),
                (["--handshake-timeout", "soon"], "--handshake-timeout"),
                (["--max-buffer", "lots"], "--max-buffer"),
                (["--allow-sha256", "abc"], "--allow-sha256"),
                (["--log-level", "loud"], "--log-level"),
                (["--cert", "/x.pem"], "--key"),
        ]:
            with self.subTest(args=args):
                self.usage_error(args, want)

    def test_bad_environment(self):
        self.usage_error([], "ECHOD_WORKERS", env={"ECHOD_WORKERS": "x"})

    def test_unreadable_config_file(self):
        line = self.usage_error(["--config", "/nonexistent/echod.json"],
                                "/nonexistent/echod.json")
        self.assertIn("cannot read", line)

    def test_invalid_config_file(self):
        d = echod.tmpdir()
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write('{"workers": 2,\n "listen": [\n')
        self.usage_error(["--config", bad], "invalid JSON")
        with open(bad, "w") as f:
            f.write('{"wrkers": 2}')
        self.usage_error(["--config", bad], 'unknown key "wrkers"')

    def test_help_and_version(self):
        r = echod.run_server(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for flag in ("--listen", "--cert", "--tls-min", "--allow-cn",
                     "--handshake-timeout", "--drain-timeout", "--config",
                     "--print-config"):
            self.assertIn(flag, r.stdout)
        r = echod.run_server(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue((r.stdout + r.stderr).strip())

    def print_config(self, args, env=None, state_dir=None):
        r = echod.run_server(args + ["--print-config"], env=env,
                             state_dir=state_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("listening", r.stderr)
        return json.loads(r.stdout)

    def test_print_config(self):
        cfg = self.print_config([])
        self.assertEqual(cfg["listen"], ["127.0.0.1:7443"])
        self.assertEqual(cfg["tls_min"], "1.3")
        self.assertEqual(cfg["max_buffer"], 65536)
        self.assertEqual(cfg["handshake_timeout"], "10s")
        self.assertEqual(cfg["idle_timeout"], "5m")
        self.assertEqual(cfg["ticket_rotate"], "1h")  # not a bare 3600

    def test_precedence(self):
        d = echod.tmpdir()
        path = os.path.join(d, "echod.json")
        with open(path, "w") as f:
            json.dump({"workers": 3, "handshake_threads": 3,
                       "max_buffer": "32k", "listen": ["127.0.0.1:1111"]}, f)
        env = {"ECHOD_WORKERS": "2", "ECHOD_HANDSHAKE_THREADS": "5",
               "ECHOD_CONFIG": path}
        cfg = self.print_config(["--workers", "1"], env=env)
        self.assertEqual(cfg["workers"], 1)            # flag
        self.assertEqual(cfg["handshake_threads"], 5)  # env over file
        self.assertEqual(cfg["max_buffer"], 32768)     # file over default
        self.assertEqual(cfg["listen"], ["127.0.0.1:1111"])
        self.assertEqual(cfg["max_connections"], 0)  # default: sized at start
        self.assertEqual(cfg["max_handshaking"], 4096)  # default

    def test_print_config_round_trip(self):
        args = ["--listen", "127.0.0.1:7001,[::1]:7002", "--tls-min", "1.2",
                "--allow-cn", "alice", "--max-buffer", "128k",
                "--idle-timeout", "90s", "--no-metrics", "--log-level",
                "debug"]
        d = echod.tmpdir()
        first = self.print_config(args, state_dir=d)
        path = os.path.join(d, "rt.json")
        with open(path, "w") as f:
            json.dump(first, f)
        second = self.print_config(["--config", path], state_dir=d)
        self.assertEqual(first, second)

    def test_environment_applies_at_run_time(self):
        with echod.Server(listen=None,
                          env={"ECHOD_LISTEN": "127.0.0.1:0"}) as srv:
            self.assertTrue(srv.addrs[0].startswith("127.0.0.1:"))
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"env"), b"env")


if __name__ == "__main__":
    unittest.main(verbosity=2)
