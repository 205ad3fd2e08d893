"""A client that sends 64 MiB and never reads: the server stops reading it
(backpressure), its memory stays bounded (RSS from /proc), other clients
are unaffected, and once the client reads, every byte comes back in order.
"""

import hashlib
import os
import threading
import time
import unittest

from tests.lib import echod

MIB = 1 << 20
TOTAL = 64 * MIB
RSS_LIMIT_KB = 64 * 1024  # growth allowed (the brief's bound)


class BackpressureTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server()  # default --max-buffer 64 KiB
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def test_sender_that_never_reads(self):
        block = os.urandom(MIB)
        # Warm the server up so the baseline includes normal allocations.
        for _ in range(3):
            with echod.connect(self.srv.port, self.ctx) as s:
                echod.echo(s, block)
        rss0 = self.srv.rss_kb()

        hog = echod.connect(self.srv.port, self.ctx)
        hog.settimeout(echod.scaled(2))
        sent = 0
        stop = threading.Event()
        stalled = threading.Event()

        def push():
            nonlocal sent
            while sent < TOTAL and not stop.is_set():
                off = sent % MIB
                try:
                    sent += hog.send(block[off:off + 65536])
                except TimeoutError:
                    stalled.set()  # the server stopped reading us
                    if stop.wait(0.05):
                        return
                except OSError:
                    return

        pusher = threading.Thread(target=push, daemon=True)
        pusher.start()
        try:
            echod.wait_until(stalled.is_set, 60, what="the sender to stall")
            peak = rss0
            # Other clients are unaffected while the hog is stuck.
            t0 = time.monotonic()
            for _ in range(3):
                with echod.connect(self.srv.port, self.ctx) as s:
                    self.assertEqual(echod.echo(s, block, timeout=30), block)
                peak = max(peak, self.srv.rss_kb())
            other = time.monotonic() - t0
            for _ in range(10):
                time.sleep(0.1)
                peak = max(peak, self.srv.rss_kb())
            stuck_at = sent
            print("hog stalled after %.1f MiB; RSS %d -> %d KiB (+%d); "
                  "3 x 1 MiB echoes by others took %.2fs"
                  % (stuck_at / MIB, rss0, peak, peak - rss0, other))
            self.assertLess(stuck_at, TOTAL,
                            "the server read all 64 MiB without the client "
                            "reading a byte: no backpressure")
            self.assertLess(peak - rss0, RSS_LIMIT_KB,
                            "server RSS grew by %d KiB" % (peak - rss0))
            self.assertLess(other, echod.scaled(10))
        finally:
            stop.set()
            pusher.join(echod.scaled(10))
        self.assertFalse(pusher.is_alive())

        # Now read: everything sent so far and the rest of the 64 MiB come
        # back exactly, in order.
        want = hashlib.sha256()
        for i in range(TOTAL // MIB):
            want.update(block)
        rest = bytearray()
        off = sent % MIB
        rest += block[off:]
        while sent + len(rest) < TOTAL:
            rest += block
        rest = bytes(rest[:TOTAL - sent])
        got = hashlib.sha256()
        n = 0
        # The first |sent| bytes are already in flight; stream() reads
        # while writing the rest.
        hog.setblocking(True)
        data = echod.stream(hog, rest, TOTAL, timeout=120)
        got.update(data)
        n = len(data)
        self.assertEqual(n, TOTAL)
        self.assertEqual(got.hexdigest(), want.hexdigest())
        self.assertTrue(echod.close_tls(hog))


if __name__ == "__main__":
    unittest.main(verbosity=2)
