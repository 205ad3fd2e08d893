"""Zero-config first run: with no credential flags the server creates a CA,
a server certificate and the dev-client certificate in <state dir>/pki,
prints the client command, and the client connects with no flags; a second
run creates nothing new; with --cert/--key/--ca it creates nothing."""

import hashlib
import json
import os
import stat
import unittest

from tests.lib import echod

EXPECTED = ["ca.pem", "ca.key", "server.pem", "server.key",
            "dev-client.pem", "dev-client.key"]


def snapshot(d):
    """{relative path: (sha256, inode, mtime_ns)} for every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            st = os.stat(p)
            with open(p, "rb") as fh:
                h = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.relpath(p, d)] = (h, st.st_ino, st.st_mtime_ns)
    return out


class ZeroConfigTest(unittest.TestCase):

    def test_first_and_second_run(self):
        state = echod.tmpdir("state-")
        pki = os.path.join(state, "pki")
        self.assertFalse(os.path.exists(pki))
        with echod.Server(state_dir=state) as srv:
            for name in EXPECTED:
                p = os.path.join(pki, name)
                self.assertTrue(os.path.isfile(p), "missing %s" % p)
                if name.endswith(".key"):
                    mode = stat.S_IMODE(os.stat(p).st_mode)
                    self.assertEqual(mode & 0o077, 0,
                                     "%s has mode %o" % (name, mode))
            said = srv.stdout() + srv.log()
            self.assertIn(pki, said, "the pki directory is not named")
            # The hint names the installed client (not `bazel run`: this
            # binary was not started by bazel run), the real address, and
            # the state directory the server found in its environment,
            # which another shell does not have.
            hint = srv.events("connect with")
            self.assertEqual(len(hint), 1, said)
            self.assertEqual(hint[0]["cmd"],
                             "ECHOD_STATE_DIR=%s echo-client --connect "
                             "127.0.0.1:%d" % (state, srv.port))
            self.assertTrue(hint[0]["explicit"].startswith(
                "echo-client --connect 127.0.0.1:%d --ca %s/ca.pem "
                % (srv.port, pki)), hint[0])
            # ... and it works as printed.
            prefix, tool, args = hint[0]["cmd"].split(" ", 2)
            argv = args.split() + ["--quiet"]
            r = echod.run_client(argv, input=b"as hinted",
                                 state_dir=prefix.split("=", 1)[1])
            self.assertEqual((r.returncode, r.stdout), (0, b"as hinted"),
                             r.stderr)
            # The client needs no flags but the address (the dev server
            # listens on an ephemeral port here, not 7443).
            r = echod.run_client(["--connect", "127.0.0.1:%d" % srv.port],
                                 input=b"zero config", state_dir=state)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"zero config")
            self.assertIn("CN=server", r.stderr)
        self.assertEqual(srv.returncode, 0, srv.log_tail())
        before = snapshot(pki)

        with echod.Server(state_dir=state) as srv2:
            r = echod.run_client(["--connect", "127.0.0.1:%d" % srv2.port,
                                  "--quiet"], input=b"again",
                                 state_dir=state)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"again")
        after = snapshot(pki)
        self.assertEqual(sorted(before), sorted(after), "files changed")
        for name in before:
            self.assertEqual(before[name][0], after[name][0],
                             "%s was rewritten" % name)

    def test_explicit_credentials_create_nothing(self):
        ca = echod.TestCA()
        ca.issue("server", role="server")
        ca.issue("alice")
        state = echod.tmpdir("state-")
        with echod.Server(*ca.server_flags(), state_dir=state) as srv:
            ctx = echod.client_context(**ca.client("alice"))
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"mine"), b"mine")
            self.assertEqual(srv.events("connect with"), [])
        pki = os.path.join(state, "pki")
        if os.path.exists(pki):
            self.fail("a pki dir was created: %s" % os.listdir(pki))

    def test_hint_under_bazel_run(self):
        """Started by `bazel run`, the hint is a `bazel run` command; a
        state directory the client would not find is passed along."""
        state = echod.tmpdir("state-")
        env = {"BUILD_WORKSPACE_DIRECTORY": echod.tmpdir("ws-"),
               "BUILD_WORKING_DIRECTORY": echod.tmpdir("wd-")}
        with echod.Server("--state-dir", state, env=env,
                          state_dir=echod.tmpdir("other-")) as srv:
            hint = srv.events("connect with")[0]
            self.assertEqual(
                hint["cmd"], "ECHOD_STATE_DIR=%s bazel run //cmd:client -- "
                "--connect 127.0.0.1:%d" % (state, srv.port))
            self.assertTrue(hint["explicit"].startswith(
                "bazel run //cmd:client -- --connect 127.0.0.1:%d --ca %s/"
                % (srv.port, state)), hint)

    def test_dev_mode_replaces_nothing(self):
        """The operator rotates the dev server certificate by renaming a
        new one over <state>/pki/server.pem (as docs/deploy.md advises):
        the next start says which file does not match index.json and
        refuses (exit 2) instead of re-issuing `server` and revoking the
        operator's certificate; nothing in the directory changes."""
        state = echod.tmpdir("state-")
        pki = os.path.join(state, "pki")
        with echod.Server(state_dir=state):
            pass
        echod.run_pki(["issue", "server", "web"], state_dir=state)
        for ext in (".pem", ".key"):
            os.rename(os.path.join(pki, "web" + ext),
                      os.path.join(pki, "server" + ext))
        before = snapshot(pki)
        r = echod.run_server(["--listen", "127.0.0.1:0", "--no-admin",
                              "--no-metrics"], state_dir=state)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = [l for l in r.stderr.splitlines() if "level=" not in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(os.path.join(pki, "server.pem"), lines[0])
        self.assertIn("holds serial", lines[0])
        self.assertIn("--replace", lines[0])
        self.assertNotIn("listening", r.stderr)
        self.assertEqual(snapshot(pki), before, "the pki dir changed")
        listed = json.loads(echod.run_pki(["list", "--json"],
                                          state_dir=state).stdout)
        self.assertEqual([e["revoked"] for e in listed], [False] * 3, listed)
        # The fix it names works: rotate through the CA, start again.
        echod.run_pki(["issue", "server", "server", "--replace"],
                      state_dir=state)
        with echod.Server(state_dir=state) as srv:
            r = echod.run_client(["--connect", "127.0.0.1:%d" % srv.port,
                                  "--quiet"], input=b"ok", state_dir=state)
            self.assertEqual(r.stdout, b"ok", r.stderr)

    def test_key_readable_by_others_is_refused(self):
        ca = echod.TestCA()
        _, key = ca.issue("server", role="server")
        os.chmod(key, 0o644)
        r = echod.run_server(ca.server_flags() + [
            "--listen", "127.0.0.1:0", "--no-admin", "--no-metrics"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(key, r.stderr)
        self.assertNotIn("listening", r.stderr)
        # Readable by others: the flag would not help, so it is not named.
        self.assertNotIn("--allow-group-readable-key", r.stderr)

    def test_group_readable_root_key_names_the_flag(self):
        """A root-owned 0440 key (a Kubernetes Secret with fsGroup): the
        refusal names --allow-group-readable-key, which then works."""
        if os.geteuid() != 0:
            self.skipTest("needs a root-owned key")
        ca = echod.TestCA()
        _, key = ca.issue("server", role="server")
        os.chmod(key, 0o440)
        flags = ca.server_flags() + ["--listen", "127.0.0.1:0", "--no-admin",
                                     "--no-metrics"]
        r = echod.run_server(flags)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("chmod 600 " + key, r.stderr)
        self.assertIn("--allow-group-readable-key", r.stderr)
        with echod.Server(*(ca.server_flags() +
                            ["--allow-group-readable-key"])) as srv:
            self.assertTrue(srv.running())


if __name__ == "__main__":
    unittest.main(verbosity=2)
