"""Fail before serving (issue 12, item 5), one case per startup step.

Every failure is one line on stderr naming what and why, exit 2 for a
usage or configuration mistake and 1 for a runtime refusal — and nothing
ever accepted a connection: no "listening" line, and the echo port, probed
every few milliseconds while the server ran, never took one. The order of
the steps and the exit codes are README's ("Startup and exit codes")."""

import os
import socket
import tempfile
import threading
import time
import unittest

from tests.lib import echod


class Probe(threading.Thread):
    """Tries to connect to 127.0.0.1:|port| until stopped; |connected| says
    whether a connection ever succeeded."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.connected = False
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                self.connected = True
            except OSError:
                pass
            time.sleep(0.005)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(5)


def listener(family=socket.AF_INET, addr="127.0.0.1", reuseport=False):
    """A socket another program would hold: listening on an ephemeral
    port. Returns (socket, port)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((addr, 0))
    s.listen(8)
    return s, s.getsockname()[1]


class ExitCodes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ca = echod.TestCA()
        cls.ca.issue("server", role="server")
        cls.ca.issue("alice")

    def creds(self, **override):
        flags = {"--cert": self.ca.path("server"),
                 "--key": self.ca.path("server", "key"),
                 "--ca": self.ca.ca_pem}
        flags.update(override)
        out = []
        for k, v in flags.items():
            out += [k, v]
        return out

    def fails(self, args, status, *words, admin=False, metrics=False,
              probe=True, port=None, env=None, nofile=None):
        """Runs echod with |args| (plus --listen on a free port unless
        |args| has one) and asserts it exits |status| with one stderr
        line holding every word, having accepted nothing. Returns the
        line."""
        port = port or echod.free_port()
        args = list(args) + ["--log-level", "warn"]
        if "--listen" not in args:
            args += ["--listen", "127.0.0.1:%d" % port]
        if not admin:
            args.append("--no-admin")
        if not metrics:
            args.append("--no-metrics")
        with Probe(port) as p:
            if nofile:  # RLIMIT_NOFILE soft = hard = |nofile|, for echod alone
                e = dict(env or {}, ECHOD_STATE_DIR=echod.tmpdir("state-"))
                r = echod.run_tool(
                    ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--",
                     echod.binary("cmd/server")] + echod.server_flags(args),
                    env=e, timeout=30)
            else:
                r = echod.run_server(args, env=env, timeout=30)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(r.returncode, status, r.stderr)
        self.assertEqual(len(lines), 1, "stderr was:\n" + r.stderr)
        for w in words:
            self.assertIn(w, lines[0])
        self.assertNotIn("listening addr=", r.stderr)
        if probe:
            self.assertFalse(p.connected, "port %d took a connection" % port)
        return lines[0]

    # -- 2: the command line, the environment, files they name --

    def test_bad_flag(self):
        self.fails(["--bogus"], 2, "unknown flag --bogus")

    def test_unreadable_config_file(self):
        self.fails(["--config", "/nonexistent/echod.json"], 2,
                   "/nonexistent/echod.json", "cannot read")

    def test_missing_certificate(self):
        self.fails(self.creds(**{"--cert": "/nonexistent/server.pem"}), 2,
                   "/nonexistent/server.pem")

    def test_key_readable_by_others(self):
        d = echod.tmpdir()
        key = os.path.join(d, "server.key")
        with open(self.ca.path("server", "key"), "rb") as f:
            data = f.read()
        with open(key, "wb") as f:
            f.write(data)
        os.chmod(key, 0o644)
        self.fails(self.creds(**{"--key": key}), 2, key, "chmod 600")

    def test_ca_not_pem(self):
        d = echod.tmpdir()
        bad = os.path.join(d, "ca.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        self.fails(self.creds(**{"--ca": bad}), 2, bad)

    def test_missing_crl(self):
        self.fails(self.creds() + ["--crl", "/nonexistent/crl.pem"], 2,
                   "/nonexistent/crl.pem")

    def test_bad_allow_file(self):
        d = echod.tmpdir()
        bad = os.path.join(d, "allow.txt")
        with open(bad, "w") as f:
            f.write("# clients\nallow-cn alice\nallow-dns bob\n")
        self.fails(self.creds() + ["--allow-file", bad], 2,
                   bad + ":3:", "unknown keyword")

    def test_missing_allow_file(self):
        self.fails(self.creds() + ["--allow-file", "/nonexistent/allow"], 2,
                   "/nonexistent/allow", "cannot read")

    def test_admin_socket_path_too_long(self):
        path = "/tmp/" + "x" * 120 + "/admin.sock"
        self.fails(self.creds() + ["--admin-socket", path], 2,
                   "admin socket", "path longer than 107 bytes", admin=True)

    def test_unresolvable_listen_address(self):
        self.fails(self.creds() + ["--listen", "no-such-host.invalid:7443"], 2,
                   "no-such-host.invalid", "cannot resolve", probe=False)

    def test_unknown_user(self):
        self.fails(self.creds() + ["--user", "no-such-user-x"], 2,
                   "--user no-such-user-x: no such user")

    def test_group_without_user(self):
        self.fails(self.creds() + ["--group", "nogroup"], 2, "needs --user")

    def test_max_connections_over_the_descriptor_limit(self):
        self.fails(self.creds() + ["--max-connections", "500"], 2,
                   "--max-connections 500 does not fit", "RLIMIT_NOFILE is 64",
                   "connections fit", nofile=64)

    # -- 1: the system refuses at run time --

    def test_admin_socket_in_use(self):
        d = tempfile.mkdtemp(prefix="adm-", dir="/tmp")
        path = os.path.join(d, "admin.sock")
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(path)
        other.listen(8)
        try:
            self.fails(self.creds() + ["--admin-socket", path], 1,
                       "admin socket", path,
                       "another process is listening there", admin=True)
        finally:
            other.close()
            os.unlink(path)
            os.rmdir(d)

    def test_metrics_address_in_use(self):
        other, mport = listener()
        with other:
            self.fails(self.creds() + ["--metrics-listen",
                                       "127.0.0.1:%d" % mport], 1,
                       "127.0.0.1:%d" % mport, "address already in use",
                       metrics=True)

    def test_listen_address_held_by_another_program(self):
        other, port = listener(reuseport=True)
        d = tempfile.mkdtemp(prefix="adm-", dir="/tmp")
        path = os.path.join(d, "admin.sock")
        with other:
            line = self.fails(self.creds() + ["--admin-socket", path], 1,
                              "127.0.0.1:%d" % port,
                              "address already in use by pid %d"
                              % os.getpid(), port=port, probe=False,
                              admin=True)
        self.assertTrue(line.startswith("echod: error: cannot listen on"),
                        line)
        # The admin socket, made before the listen addresses, is gone.
        self.assertEqual(os.listdir(d), [])
        os.rmdir(d)

    def test_second_address_in_use_first_never_listens(self):
        other, busy = listener()
        free = echod.free_port()
        with other:
            self.fails(self.creds() + ["--listen", "127.0.0.1:%d" % free,
                                       "--listen", "127.0.0.1:%d" % busy],
                       1, "127.0.0.1:%d" % busy, "already in use", port=free)

    def test_address_not_on_this_host(self):
        self.fails(self.creds() + ["--listen", "192.0.2.1:7443"], 1,
                   "192.0.2.1:7443", "address", probe=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
