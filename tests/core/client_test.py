"""//cmd:client (echo-client): the errors a newcomer meets each print one
sentence that says what to do and exit non-zero (wrong --servername,
unknown CA, connection refused, the server rejecting the certificate and
why, a full server, a server shutting down, missing certificate files),
naming commands the way the client was started (installed names, or `bazel
run` forms under bazel run); the interactive mode on a terminal prompts,
echoes and ends on `quit`."""

import os
import pty
import select
import signal
import subprocess
import time
import unittest

from tests.lib import echod


class ClientTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server()  # dev PKI
        cls.acl_srv = echod.Server("--allow-cn", "somebody-else",
                                   state_dir=cls.srv.state_dir)
        cls.other = echod.TestCA(cn="another CA")
        cls.other.issue("server", role="server")
        cls.other.issue("stranger")

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.acl_srv):
            s.stop()

    def client(self, args, input=b"hello", state_dir=None, port=None):
        port = port or self.srv.port
        return echod.run_client(
            ["--connect", "127.0.0.1:%d" % port] + args, input=input,
            state_dir=state_dir or self.srv.state_dir, timeout=30)

    def assert_sentence(self, r, *wants):
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"")
        errs = [l for l in r.stderr.splitlines()
                if not l.startswith("echo-client: handshake ok")]
        self.assertEqual(len(errs), 1, "expected one sentence:\n" + r.stderr)
        for w in wants:
            self.assertIn(w, errs[0])

    def test_works_with_no_flags_but_the_port(self):
        r = self.client([])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello")

    def test_wrong_servername(self):
        r = self.client(["--servername", "wrong.example"])
        self.assert_sentence(r, '"wrong.example"', "--servername",
                             "localhost")

    def test_servername_that_is_in_the_cert(self):
        r = self.client(["--servername", "localhost"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_ca(self):
        r = self.client(["--ca", self.other.ca_pem])
        self.assert_sentence(r, "not signed by the CA", "--ca")

    def test_connection_refused(self):
        r = self.client([], port=echod.free_port())
        self.assert_sentence(r, "connection refused",
                             "is the server running?",
                             "start it with: echod")
        # Under `bazel run`, the bazel run form.
        r = echod.run_client(["--connect", "127.0.0.1:%d" % echod.free_port()],
                             state_dir=self.srv.state_dir,
                             env={"BUILD_WORKSPACE_DIRECTORY": "/src"})
        self.assert_sentence(r, "start it with: bazel run //cmd:server")

    def test_server_rejects_certificate_from_other_ca(self):
        d = self.srv.pki_dir()
        r = self.client(["--ca", os.path.join(d, "ca.pem"),
                         "--cert", self.other.path("stranger"),
                         "--key", self.other.path("stranger", "key")])
        self.assert_sentence(
            r, "the server refused this client's certificate (CN=stranger): "
            "it is not signed by a CA the server trusts (alert: unknown_ca)")

    def test_server_rejects_certificate_by_allow_list(self):
        r = self.client([], port=self.acl_srv.port)
        self.assert_sentence(
            r, "the server refused this client's certificate (CN=dev-client):"
            " it is valid but not on the server's allow-list (alert: "
            "access_denied); ask the server's operator to allow it")
        self.assertNotIn("get a valid one", r.stderr)

    def test_server_refuses_revoked_certificate(self):
        state = echod.tmpdir("state-")
        with echod.Server(state_dir=state):
            pass  # makes the dev PKI
        echod.run_pki(["revoke", "dev-client"], state_dir=state)
        with echod.Server(state_dir=state) as srv:
            r = self.client([], state_dir=state, port=srv.port)
        self.assert_sentence(
            r, "(CN=dev-client): it has been revoked by its CA (alert: "
            "certificate_revoked); ask the server's operator for a new "
            "certificate")
        self.assertNotIn("get a valid one", r.stderr)

    def test_full_server_closes_before_a_byte(self):
        """At --max-connections the server closes TCP at once; the client
        says so instead of "Invalid certificate verification context"."""
        with echod.Server("--max-connections", "1",
                          state_dir=self.srv.state_dir) as srv:
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as held:
                self.assertEqual(echod.echo(held, b"hold"), b"hold")
                r = self.client([], port=srv.port)
        self.assert_sentence(r, "the server at 127.0.0.1:%d" % srv.port,
                             "the connection before sending anything",
                             "--max-connections")
        self.assertNotIn("verification", r.stderr)

    def ended_by_server(self, srv, end):
        """Runs a --pipe client against |srv|, sends 16 bytes, waits for
        their echo, calls end() while the client waits on stdin, and
        returns the client's (exit code, stderr)."""
        env = dict(os.environ, ECHOD_STATE_DIR=srv.state_dir)
        p = echod._track(subprocess.Popen(
            [echod.binary("cmd/client"), "--connect",
             "127.0.0.1:%d" % srv.port, "--pipe"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env))
        try:
            p.stdin.write(b"before the end..")
            p.stdin.flush()
            out = b""
            deadline = time.monotonic() + echod.scaled(10)
            while len(out) < 16 and time.monotonic() < deadline:
                ready, _, _ = select.select([p.stdout], [], [], 0.5)
                if ready:
                    chunk = os.read(p.stdout.fileno(), 100)
                    if not chunk:
                        break
                    out += chunk
            self.assertEqual(out, b"before the end..")
            end()
            rc = p.wait(timeout=echod.scaled(15))
            err = p.stderr.read().decode()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
            p.stdin.close()
            p.stdout.close()
            p.stderr.close()
            echod._untrack(p)
        return rc, err

    def test_server_shutting_down(self):
        """A drain (SIGTERM) while the client waits on stdin: "the server
        is shutting down", not "echoing 0 of 0 bytes"."""
        with echod.Server(state_dir=self.srv.state_dir) as srv:
            rc, err = self.ended_by_server(
                srv, lambda: srv.signal(signal.SIGTERM))
            self.assertEqual(srv.wait_exit(15), 0)
        self.assertEqual(rc, 1, err)
        self.assertIn("the server ended the session: the server is shutting "
                      "down", err)
        self.assertIn("all 16 bytes sent were echoed", err)
        self.assertNotIn("0 of 0", err)

    def test_session_closed_by_revocation(self):
        """Revoked, then a reload: the server's re-check closes the live
        session with a bare close_notify; the client names revocation
        among the causes."""
        state = echod.tmpdir("state-")
        with echod.Server(state_dir=state) as srv:
            def revoke_and_reload():
                echod.run_pki(["revoke", "dev-client"], state_dir=state)
                srv.wait_log(r'msg="session closed"[^\n]*reason=revoked',
                             15)
            rc, err = self.ended_by_server(srv, revoke_and_reload)
        self.assertEqual(rc, 1, err)
        self.assertIn("the server ended the session", err)
        self.assertIn("a reload found this client's certificate revoked or "
                      "no longer allowed", err)
        self.assertIn("all 16 bytes sent were echoed", err)

    def test_missing_dev_certificates(self):
        empty = echod.tmpdir("state-")
        r = self.client([], state_dir=empty)
        self.assert_sentence(r, os.path.join(empty, "pki", "ca.pem"),
                             "does not exist", "dev certificates (echod)",
                             "echo-pki issue client NAME")

    def test_missing_cert_file_given(self):
        d = self.srv.pki_dir()
        r = self.client(["--ca", os.path.join(d, "ca.pem"),
                         "--cert", "/nonexistent/alice.pem",
                         "--key", "/nonexistent/alice.key"])
        self.assert_sentence(r, "/nonexistent/alice.pem (--cert)",
                             "does not exist", "create a client certificate "
                             "with: echo-pki issue client NAME")

    def test_missing_ca_file_given(self):
        d = self.srv.pki_dir()
        r = self.client(["--ca", "/nonexistent/ca.pem",
                         "--cert", os.path.join(d, "dev-client.pem"),
                         "--key", os.path.join(d, "dev-client.key")])
        self.assert_sentence(r, "CA certificate /nonexistent/ca.pem (--ca) "
                             "does not exist", "pass the CA certificate that "
                             "signed the server's certificate with --ca FILE")
        self.assertNotIn("create a client certificate", r.stderr)

    def test_usage_error(self):
        r = self.client(["--bogus"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--bogus", r.stderr)
        r = echod.run_client(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--servername", r.stdout)
        self.assertTrue(r.stdout.startswith(b"usage: echo-client "))

    def test_interactive_on_a_terminal(self):
        master, slave = pty.openpty()
        env = dict(os.environ, ECHOD_STATE_DIR=self.srv.state_dir)
        p = echod._track(subprocess.Popen(
            [echod.binary("cmd/client"), "--connect",
             "127.0.0.1:%d" % self.srv.port],
            stdin=slave, stdout=slave, stderr=slave, env=env,
            close_fds=True))
        os.close(slave)
        out = bytearray()

        def read_until(token, timeout=15):
            deadline = time.monotonic() + echod.scaled(timeout)
            while token not in out:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail("no %r from the client; got:\n%s"
                              % (token, out.decode(errors="replace")))
                r, _, _ = select.select([master], [], [], min(left, 0.5))
                if r:
                    try:
                        out.extend(os.read(master, 4096))
                    except OSError:  # EIO: the client exited
                        break
            return out

        try:
            read_until(b"echo> ")
            self.assertIn(b"handshake ok", out)
            os.write(master, b"hello there\n")
            # The terminal echoes what we type; the server's echo is the
            # second copy, followed by the next prompt.
            read_until(b"hello there\r\nhello there\r\necho> ")
            os.write(master, b"quit\n")
            self.assertEqual(p.wait(timeout=echod.scaled(10)), 0,
                             out.decode(errors="replace"))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
            echod._untrack(p)
            os.close(master)


if __name__ == "__main__":
    unittest.main(verbosity=2)
