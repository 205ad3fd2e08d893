"""Zero-config first run: with no credential flags the server creates a CA,
a server certificate and the dev-client certificate in <state dir>/pki,
prints the client command, and the client connects with no flags; a second
run creates nothing new; with --cert/--key/--ca it creates nothing."""

import hashlib
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
            self.assertIn("//cmd:client", said,
                          "no client command printed:\n" + said)
            self.assertIn(pki, said, "the pki directory is not named")
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
            self.assertNotIn("//cmd:client", srv.stdout())
        pki = os.path.join(state, "pki")
        if os.path.exists(pki):
            self.fail("a pki dir was created: %s" % os.listdir(pki))

    def test_key_readable_by_others_is_refused(self):
        ca = echod.TestCA()
        _, key = ca.issue("server", role="server")
        os.chmod(key, 0o644)
        r = echod.run_server(ca.server_flags() + [
            "--listen", "127.0.0.1:0", "--no-admin", "--no-metrics"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(key, r.stderr)
        self.assertNotIn("listening", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
