"""SIGTERM with open sessions: every client receives close_notify, new
connections are no longer accepted, and the server exits 0 within the drain
timeout; a client that ignores the close_notify cannot hold it past the
drain timeout; a second signal exits at once."""

import signal
import socket
import ssl
import time
import unittest

from tests.lib import echod


class ShutdownTest(unittest.TestCase):

    def open_sessions(self, srv, n):
        ctx = echod.client_context(**srv.dev_client())
        out = []
        for i in range(n):
            s = echod.connect(srv.port, ctx, strict_eof=True)
            msg = b"session %d" % i
            self.assertEqual(echod.echo(s, msg), msg)
            out.append(s)
        return out

    def expect_close_notify(self, s, timeout=10):
        """recv() returns b"" only on close_notify (strict_eof); a bare
        TCP close raises SSLEOFError."""
        s.settimeout(echod.scaled(timeout))
        try:
            data = s.recv(100)
        except ssl.SSLEOFError:
            self.fail("connection closed without close_notify")
        self.assertEqual(data, b"", "unexpected data %r" % data)

    def test_sigterm_drains_cooperative_clients(self):
        srv = echod.Server("--drain-timeout", "10s")
        try:
            sessions = self.open_sessions(srv, 5)
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            for s in sessions:
                self.expect_close_notify(s)
                echod.close_tls(s)  # answer with ours
            # The listener is gone: a new connection is refused or closed
            # without a handshake.
            try:
                c = socket.create_connection(("127.0.0.1", srv.port),
                                             timeout=echod.scaled(5))
                c.settimeout(echod.scaled(5))
                try:
                    ctx = echod.client_context(**srv.dev_client())
                    t = ctx.wrap_socket(c, server_hostname="localhost")
                    t.sendall(b"x")
                    self.assertEqual(t.recv(10), b"",
                                     "a draining server echoed")
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    c.close()
            except ConnectionRefusedError:
                pass
            rc = srv.wait_exit(10)
            elapsed = time.monotonic() - t0
            self.assertEqual(rc, 0, srv.log_tail())
            # Everyone left at once, so well within the 10 s drain.
            self.assertLess(elapsed, echod.scaled(8))
            print("drained 5 sessions, exit 0 after %.2fs" % elapsed)
        finally:
            srv.stop()

    def test_sigterm_with_silent_client(self):
        # This client gets close_notify but never answers and never closes.
        drain = 2.0
        srv = echod.Server("--drain-timeout", "%ds" % drain)
        try:
            sessions = self.open_sessions(srv, 2)
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            self.expect_close_notify(sessions[0])
            rc = srv.wait_exit(drain + 10)
            elapsed = time.monotonic() - t0
            self.assertEqual(rc, 0, srv.log_tail())
            self.assertLess(elapsed, drain + echod.scaled(5))
            print("silent client: exit 0 after %.2fs (drain %.0fs)"
                  % (elapsed, drain))
            for s in sessions:
                s.close()
        finally:
            srv.stop()

    def test_second_signal_exits_at_once(self):
        srv = echod.Server("--drain-timeout", "60s")
        try:
            sessions = self.open_sessions(srv, 1)
            srv.signal(signal.SIGTERM)
            self.expect_close_notify(sessions[0])  # draining now
            t0 = time.monotonic()
            srv.signal(signal.SIGINT)
            rc = srv.wait_exit(10)
            self.assertLess(time.monotonic() - t0, echod.scaled(3))
            self.assertNotEqual(rc, 0, "a forced exit should not report 0")
            sessions[0].close()
        finally:
            srv.stop()

    def test_sigint_with_no_sessions(self):
        srv = echod.Server()
        try:
            t0 = time.monotonic()
            srv.signal(signal.SIGINT)
            self.assertEqual(srv.wait_exit(10), 0, srv.log_tail())
            self.assertLess(time.monotonic() - t0, echod.scaled(3))
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
