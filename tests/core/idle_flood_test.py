"""500 connections that never send a byte do not delay a good client's
handshake, and the server closes them after --handshake-timeout (2 s here),
logging each as a handshake failure with reason=timeout."""

import selectors
import socket
import statistics
import time
import unittest

from tests.lib import echod

N_IDLE = 500
HS_TIMEOUT = 2.0


class IdleFloodTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        echod.raise_fd_limit(4096)
        cls.srv = echod.Server("--handshake-timeout", "%ds" % HS_TIMEOUT)
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def handshake_time(self):
        """Seconds for TCP connect + full handshake + a 1-byte echo."""
        t0 = time.monotonic()
        with echod.connect(self.srv.port, self.ctx) as s:
            self.assertEqual(echod.echo(s, b"x"), b"x")
            t = time.monotonic() - t0
            echod.close_tls(s)
        return t

    def test_idle_flood(self):
        base = statistics.median(self.handshake_time() for _ in range(5))

        idle = []
        try:
            t_open = time.monotonic()
            for _ in range(N_IDLE):
                s = socket.create_connection(("127.0.0.1", self.srv.port),
                                             timeout=echod.scaled(10))
                s.setblocking(False)
                idle.append(s)
            # A good client right in the middle of the flood.
            during = [self.handshake_time() for _ in range(5)]
            during_med = statistics.median(during)
            print("good handshake+echo: %.1f ms alone, %.1f ms (median, "
                  "max %.1f) with %d idle connections"
                  % (base * 1e3, during_med * 1e3, max(during) * 1e3,
                     N_IDLE))
            # Not delayed: within a small bound of the quiet baseline.
            self.assertLess(during_med, base + echod.scaled(0.25))
            self.assertLess(max(during), echod.scaled(1.0))

            # An established session is not subject to the handshake
            # timeout: open it now, use it after the idle ones are gone.
            est = echod.connect(self.srv.port, self.ctx)
            self.assertEqual(echod.echo(est, b"early"), b"early")

            # None is closed before the timeout...
            sel = selectors.DefaultSelector()
            for s in idle:
                sel.register(s, selectors.EVENT_READ)
            early_window = HS_TIMEOUT * 0.5 - (time.monotonic() - t_open)
            if early_window > 0:
                early = sel.select(early_window)
                self.assertEqual(len(early), 0,
                                 "%d idle connections closed before the "
                                 "handshake timeout" % len(early))
            # ... and every one is closed after it (bounded wait).
            closed = set()
            deadline = t_open + HS_TIMEOUT + echod.scaled(8)
            while len(closed) < N_IDLE and time.monotonic() < deadline:
                for key, _ in sel.select(0.2):
                    s = key.fileobj
                    try:
                        data = s.recv(1024)
                    except (ConnectionResetError, BlockingIOError):
                        data = b""
                    if not data:
                        closed.add(s)
                        sel.unregister(s)
            elapsed = time.monotonic() - t_open
            sel.close()
            self.assertEqual(len(closed), N_IDLE,
                             "%d of %d idle connections still open after "
                             "%.1fs" % (N_IDLE - len(closed), N_IDLE, elapsed))
            print("all %d idle connections closed %.2fs after opening"
                  % (N_IDLE, elapsed))

            # Logged with reason=timeout.
            echod.wait_until(
                lambda: len([e for e in self.srv.events("handshake failed")
                             if e.get("reason") == "timeout"]) >= N_IDLE,
                10, what="%d reason=timeout lines" % N_IDLE)

            # The established session still echoes.
            self.assertEqual(echod.echo(est, b"late"), b"late")
            echod.close_tls(est)
            # And new clients are served.
            self.handshake_time()
        finally:
            for s in idle:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
