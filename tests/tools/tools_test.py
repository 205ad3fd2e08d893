"""The five tools as a newcomer meets them: every one answers --version
(same version and commit, first line "<installed-name> <version> ...") and
names itself by its installed name in --help; run the way `bazel run` runs
them (in another directory, BUILD_WORKING_DIRECTORY set), every relative
path -- flags, ECHOD_* variables, the config file and the paths inside it
(relative to the file) -- means the user's directory, and the hints name
`bazel run` commands; echoctl refuses bad arguments without a round trip
and never prints control bytes from the server raw."""

import json
import os
import re
import socket
import subprocess
import threading
import unittest

from tests.lib import echod

TOOLS = {  # runfiles label -> installed name
    "cmd/server": "echod",
    "cmd/client": "echo-client",
    "cmd/echoctl": "echoctl",
    "cmd/pki": "echo-pki",
    "cmd/bench": "echo-bench",
}

VERSION_LINE = re.compile(
    r"^(\S+) (\d+\.\d+\.\d+) \(commit ([0-9a-f]{4,40}|unknown), "
    r"BoringSSL API (\d+) ([0-9a-f]{8}|unknown)\)$")


def run(label, args, cwd=None, env=None, input=None, timeout=30):
    """Runs a tool with |args| in |cwd|; returns CompletedProcess (bytes
    stdout, str stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    p = echod._track(subprocess.Popen(
        [echod.binary(label)] + list(args), cwd=cwd, env=e,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        out, err = p.communicate(input, timeout=echod.scaled(timeout))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        echod._untrack(p)
    return subprocess.CompletedProcess(p.args, p.returncode, out,
                                       err.decode("utf-8", "replace"))


class Names(unittest.TestCase):

    def test_version_every_tool(self):
        seen = set()
        for label, name in TOOLS.items():
            with self.subTest(tool=name):
                r = run(label, ["--version"])
                self.assertEqual(r.returncode, 0, r.stderr)
                first = r.stdout.decode().splitlines()[0]
                m = VERSION_LINE.match(first)
                self.assertTrue(m, first)
                self.assertEqual(m.group(1), name)
                seen.add(m.group(2, 3, 4, 5))
        self.assertEqual(len(seen), 1, "the tools disagree: %s" % seen)

    def test_usage_says_installed_names(self):
        for label, name in TOOLS.items():
            with self.subTest(tool=name):
                r = run(label, ["--help"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.decode().startswith("usage: " + name),
                                r.stdout[:80])


class UnderBazelRun(unittest.TestCase):
    """Each binary runs in |self.runfiles| (as Bazel runs it) while the
    user typed the command in |self.user|."""

    def setUp(self):
        self.user = echod.tmpdir("user-")
        self.runfiles = echod.tmpdir("runfiles-")
        self.env = {"BUILD_WORKING_DIRECTORY": self.user,
                    "BUILD_WORKSPACE_DIRECTORY": echod.tmpdir("ws-"),
                    "ECHOD_STATE_DIR": os.path.join(self.user, "state")}

    def tool(self, label, *args, check=True, env=None, input=None):
        e = dict(self.env)
        e.update(env or {})
        r = run(label, args, cwd=self.runfiles, env=e, input=input)
        if check and r.returncode != 0:
            self.fail("%s %s: %d %s" % (label, args, r.returncode, r.stderr))
        return r

    def in_user(self, *parts):
        return os.path.join(self.user, *parts)

    def assert_nothing_in_runfiles(self):
        self.assertEqual(os.listdir(self.runfiles), [],
                         "something was written in the runfiles dir")

    def make_ca(self):
        self.tool("cmd/pki", "--dir", "ca", "init")
        self.tool("cmd/pki", "--dir", "./ca", "issue", "server", "srv")
        self.tool("cmd/pki", "--dir", "ca", "issue", "client", "alice")
        self.assertTrue(os.path.isfile(self.in_user("ca", "alice.pem")))

    def test_pki_hint_never_points_into_bazel(self):
        r = self.tool("cmd/pki", "--dir", "ca", "list", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no CA in %s; create one with: bazel run //cmd:pki -- "
                      "--dir %s init" % (self.in_user("ca"),
                                         self.in_user("ca")), r.stderr)
        self.assert_nothing_in_runfiles()

    def test_every_tool_reads_the_users_paths(self):
        self.make_ca()
        sock = "a.sock"
        with echod.Server("--cert", "ca/srv.pem", "--key", "ca/srv.key",
                          "--ca", "ca/ca.pem", "--admin-socket", sock,
                          admin=True, state_dir=self.runfiles,
                          env=dict(self.env, ECHOD_CRL="ca/crl.pem")) as srv:
            connect = "127.0.0.1:%d" % srv.port
            r = self.tool("cmd/client", "--connect", connect, "--servername",
                          "localhost", "--ca", "ca/ca.pem", "--cert",
                          "ca/alice.pem", "--key", "ca/alice.key",
                          "--sess-out", "sess.bin", "--quiet",
                          input=b"relative")
            self.assertEqual(r.stdout, b"relative", r.stderr)
            self.assertTrue(os.path.isfile(self.in_user("sess.bin")))
            r = self.tool("cmd/echoctl", "--socket", sock, "--json",
                          "certs")
            files = json.loads(r.stdout)["result"]["files"]
            self.assertEqual(files["crl"], self.in_user("ca", "crl.pem"))
            r = self.tool("cmd/bench", "handshake", "--connect", connect,
                          "--servername", "localhost", "--ca", "ca/ca.pem",
                          "--cert", "ca/alice.pem", "--key", "ca/alice.key",
                          "-c", "1", "-d", "0", "-n", "2", "--json")
            res = json.loads(r.stdout)
            self.assertEqual((res["ok"], res["ops"]), (True, 2), r.stdout)
        self.assertEqual(srv.returncode, 0, srv.log_tail())
        self.assertEqual(sorted(os.listdir(self.runfiles)),
                         [], "written in the runfiles dir")

    def test_config_file_paths_are_relative_to_the_file(self):
        self.make_ca()
        os.mkdir(self.in_user("conf"))
        with open(self.in_user("conf", "echod.json"), "w") as f:
            json.dump({"cert": "../ca/srv.pem", "key": "../ca/srv.key",
                       "ca": "../ca/ca.pem", "crl": "../ca/crl.pem",
                       "drain_timeout": "2s"}, f)
        r = self.tool("cmd/server", "--config", "conf/echod.json",
                      "--print-config")
        cfg = json.loads(r.stdout)
        # Absolute, from the file's directory (not normalised: "conf" may
        # be a symlink).
        self.assertEqual(cfg["cert"], self.in_user("conf", "..", "ca",
                                                   "srv.pem"))
        self.assertEqual(cfg["crl"], [self.in_user("conf", "..", "ca",
                                                   "crl.pem")])
        self.assertEqual(cfg["ticket_rotate"], "1h")
        # --print-config's output is a config file again, from anywhere.
        with open(self.in_user("printed.json"), "w") as f:
            f.write(r.stdout.decode())
        again = json.loads(self.tool("cmd/server", "--config", "printed.json",
                                     "--print-config").stdout)
        self.assertEqual(again, cfg)
        with echod.Server("--config", "conf/echod.json", state_dir=self.runfiles,
                          env=self.env) as srv:
            ctx = echod.client_context(ca=self.in_user("ca", "ca.pem"),
                                       cert=self.in_user("ca", "alice.pem"),
                                       key=self.in_user("ca", "alice.key"))
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"from the file"),
                                 b"from the file")

    def test_dev_mode_state_dir_and_hints(self):
        with echod.Server("--state-dir", "st", state_dir=self.runfiles,
                          env=self.env) as srv:
            self.assertTrue(os.path.isfile(self.in_user("st", "pki",
                                                        "dev-client.pem")))
            hint = srv.events("connect with")[0]
            self.assertEqual(
                hint["cmd"], "ECHOD_STATE_DIR=%s bazel run //cmd:client -- "
                "--connect 127.0.0.1:%d" % (self.in_user("st"), srv.port))
            # As hinted (a relative ECHOD_STATE_DIR works too).
            r = self.tool("cmd/client", "--connect", "127.0.0.1:%d" % srv.port,
                          "--quiet", env={"ECHOD_STATE_DIR": "st"},
                          input=b"hinted")
            self.assertEqual(r.stdout, b"hinted")
        r = self.tool("cmd/client", "--connect", "127.0.0.1:%d" % srv.port,
                      env={"ECHOD_STATE_DIR": "st"}, check=False)
        self.assertIn("connection refused; is the server running? start it "
                      "with: bazel run //cmd:server", r.stderr)
        r = self.tool("cmd/echoctl", "--state-dir", "st", "status",
                      check=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn(self.in_user("st", "admin.sock"), r.stderr)
        self.assertIn("bazel run //cmd:server", r.stderr)


class FakeAdmin:
    """A Unix socket that records connections and answers each request
    line with |reply|."""

    def __init__(self, path, reply):
        self.path, self.reply, self.requests = path, reply, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(self.reply)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


class Echoctl(unittest.TestCase):

    def setUp(self):
        self.path = os.path.join(echod.tmpdir("ctl-"), "admin.sock")
        evil = "\u001b]0;pwned\u0007\u001b[2Jroot\nx\u009b"
        session = {"id": 1, "state": "established", "peer": "127.0.0.1:9",
                   "cn": evil, "sans": ["URI:" + evil,
                                        {"type": "DNS", "value": evil}],
                   "serial": "01", "version": "TLSv1.3"}
        reply = {"ok": True, "result": {"session": session,
                                        "sessions": [session], "count": 1}}
        self.raw = json.dumps(reply).encode() + b"\n"
        self.admin = FakeAdmin(self.path, self.raw)
        self.addCleanup(self.admin.close)

    def ctl(self, *args):
        return run("cmd/echoctl", ["--socket", self.path] + list(args))

    def test_bad_arguments_never_reach_the_server(self):
        for args in (["sessions", "--state", "bogus"], ["log-level", "chatty"],
                     ["sessions", "--limit", "0"], ["kill", "0"],
                     ["session", "99999999999999999999999"],
                     ["drain", "--timeout", "90d"],
                     ["sessions", "--older-than", "soon"]):
            with self.subTest(args=args):
                r = self.ctl(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("echoctl: "), r.stderr)
        self.assertEqual(self.admin.requests, [])
        # The fake does answer a good request: the test can see one.
        self.assertEqual(self.ctl("session", "1").returncode, 0)
        self.assertEqual(len(self.admin.requests), 1)

    def test_human_output_escapes_control_bytes(self):
        for cmd in (["session", "1"], ["sessions"]):
            with self.subTest(cmd=cmd):
                r = self.ctl(*cmd)
                self.assertEqual(r.returncode, 0, r.stderr)
                out = r.stdout
                self.assertNotIn(b"\x1b", out)
                self.assertNotIn(b"\x07", out)
                self.assertNotIn(b"\xc2\x9b", out)
                self.assertIn(b"\\x1b]0;pwned\\x07\\x1b[2Jroot\\x0ax\\xc2\\x9b",
                              out)
                lines = out.splitlines()
                self.assertFalse(any(l.startswith(b"x") for l in lines), out)
        r = self.ctl("--json", "session", "1")
        self.assertEqual(r.stdout, self.raw)  # --json: as the server sent it


if __name__ == "__main__":
    unittest.main(verbosity=2)
