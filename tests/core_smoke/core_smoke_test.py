"""Smoke test: the real server, zero-config, on 127.0.0.1 port 0.

Starts //cmd:server with a temporary state dir, waits for the listening
line, echoes bytes over mutual TLS with Python's ssl module and the dev
client certificate (fresh and resumed), checks that a client without a
certificate is refused and logged, then SIGTERM -> exit 0."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SERVER = os.path.join(os.environ.get("TEST_SRCDIR", ""), "echod", "cmd",
                      "server")


class Server:
    def __init__(self, state_dir, *args):
        env = dict(os.environ, ECHOD_STATE_DIR=state_dir)
        self.proc = subprocess.Popen(
            [SERVER, "--listen", "127.0.0.1:0", "--no-admin", "--no-metrics",
             "--workers", "2", "--handshake-threads", "2", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        m = self.wait_for(r"msg=listening addr=127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))

    def _read(self):
        for raw in self.proc.stderr:
            with self.cv:
                self.lines.append(raw.decode(errors="replace"))
                self.cv.notify_all()

    def wait_for(self, pattern, timeout=15):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        with self.cv:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("no %r in:\n%s" %
                                         (pattern, "".join(self.lines)))
                self.cv.wait(left)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class SmokeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(
            dir=os.environ.get("TEST_TMPDIR"))
        self.state = self.tmp.name
        self.server = Server(self.state)
        self.addCleanup(self.server.stop)
        self.addCleanup(self.tmp.cleanup)

    def context(self, with_cert=True):
        pki = os.path.join(self.state, "pki")
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        if with_cert:
            ctx.load_cert_chain(os.path.join(pki, "dev-client.pem"),
                                os.path.join(pki, "dev-client.key"))
        return ctx

    def echo(self, ctx, payload, session=None):
        with socket.create_connection(("127.0.0.1", self.server.port),
                                      timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost",
                                 session=session) as tls:
                tls.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                return got, tls.session, tls.session_reused

    def test_echo_resume_refuse_and_sigterm(self):
        ctx = self.context()
        payload = bytes(range(256)) * 64 + b"\0tail"
        got, session, reused = self.echo(ctx, payload)
        self.assertEqual(got, payload)
        self.assertFalse(reused)
        got, _, reused = self.echo(ctx, b"again", session)
        self.assertEqual(got, b"again")
        self.assertTrue(reused)
        self.server.wait_for(r'msg="session closed" id=\d+ .*cn=dev-client'
                             r'.*resumed=1 bytes_in=5 bytes_out=5')

        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.echo(self.context(with_cert=False), b"x")
        self.server.wait_for(r'msg="handshake failed" .*reason=no_client_cert')

        # An open session at SIGTERM gets close_notify, then exit 0.
        raw = socket.create_connection(("127.0.0.1", self.server.port),
                                       timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(b"ping")
        self.assertEqual(tls.recv(10), b"ping")
        self.server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(tls.recv(10), b"")  # close_notify, not a reset
        tls.close()
        self.assertEqual(self.server.proc.wait(timeout=10), 0)
        self.server.wait_for(r"reason=drain")


if __name__ == "__main__":
    unittest.main()
