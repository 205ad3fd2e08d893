"""End to end: echoctl with no flags finds the admin socket wherever it
is — $ECHOD_ADMIN_SOCKET (which the server reads too), the state dir
(dev mode, the container) — past a missing or stale one, and when none
answers says every place it looked, in one line, with exit 3. --socket
and --state-dir name the only place to try. (/run/echod/admin.sock and
/var/lib/echod/admin.sock, the systemd unit's and the package's, are
tried by the package test in a container: deploy/package-install-test.sh.)"""

import os
import socket
import unittest

from tests.lib import echod


def echoctl(*args, env):
    """Runs echoctl with exactly |env| plus PATH (no inherited ECHOD_*)."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    e.update(env)
    full = dict(os.environ)
    for k in list(full):
        if k.startswith("ECHOD_") or k in ("HOME", "XDG_STATE_HOME"):
            del full[k]
    full.update(e)
    return echod._run([echod.binary("cmd/echoctl")] + list(args), full, 30)


def system_server_present():
    return any(os.path.exists(p) for p in ("/run/echod/admin.sock",
                                           "/var/lib/echod/admin.sock"))


class FindSocket(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # A server with its admin socket in its state dir (the default).
        cls.state = echod.tmpdir("st-")
        os.chmod(cls.state, 0o700)
        cls.srv = echod.Server(state_dir=cls.state, admin=True)
        cls.sock = os.path.join(cls.state, "admin.sock")
        echod.wait_until(lambda: os.path.exists(cls.sock), 10,
                         what="admin socket")
        cls.home = echod.tmpdir("home-")  # a user with no state of echod's

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def test_state_dir(self):
        r = echoctl("status", env={"ECHOD_STATE_DIR": self.state})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_admin_socket_variable(self):
        r = echoctl("--json", "status", env={"HOME": self.home,
                                             "ECHOD_ADMIN_SOCKET": self.sock})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_past_a_missing_and_a_stale_socket(self):
        # $ECHOD_ADMIN_SOCKET names a stale socket (nobody listens):
        # refused, so the state dir's live one answers.
        stale = os.path.join(echod.tmpdir("stale-"), "admin.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        r = echoctl("status", env={"ECHOD_ADMIN_SOCKET": stale,
                                   "ECHOD_STATE_DIR": self.state})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = echoctl("status", env={"ECHOD_ADMIN_SOCKET": "/nonexistent/a",
                                   "XDG_STATE_HOME": os.path.dirname(
                                       self.state), "HOME": self.home})
        # XDG_STATE_HOME/echod is not the server's dir: that one misses.
        if not system_server_present():
            self.assertEqual(r.returncode, 3, r.stderr)

    def test_explicit_flags_are_the_only_place(self):
        r = echoctl("--socket", "/nonexistent/x.sock", "status",
                    env={"ECHOD_STATE_DIR": self.state})
        self.assertEqual(r.returncode, 3)
        self.assertIn("/nonexistent/x.sock", r.stderr)
        r = echoctl("--state-dir", self.home, "status",
                    env={"ECHOD_ADMIN_SOCKET": self.sock})
        self.assertEqual(r.returncode, 3)
        self.assertIn(os.path.join(self.home, "admin.sock"), r.stderr)
        r = echoctl("--state-dir", self.state, "status", env={})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_nothing_answers_says_where_it_looked(self):
        if system_server_present():
            self.skipTest("an echod answers at the system places here")
        r = echoctl("status", env={"HOME": self.home,
                                   "ECHOD_ADMIN_SOCKET": "/nonexistent/a"})
        self.assertEqual(r.returncode, 3)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        for place in ("/nonexistent/a", os.path.join(
                self.home, ".local/state/echod/admin.sock"),
                "/run/echod/admin.sock", "/var/lib/echod/admin.sock"):
            self.assertIn(place + " (", r.stderr)
        self.assertIn("systemctl start echod", r.stderr)


if __name__ == "__main__":
    unittest.main()
