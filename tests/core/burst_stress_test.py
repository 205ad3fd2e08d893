"""ED_READ_BURST (review2): sessions that stream as fast as they can, so
they yield every iteration, while the server reloads, kills one, sees
half-closes, and drains. Every byte the server echoes comes back in
order; the server exits 0 with no sanitizer report (run it under
--config=asan and --config=tsan too)."""

import os
import selectors
import socket
import ssl
import time
import unittest

from tests.lib import echod

CHUNK = 256 * 1024


def pattern(n, seed):
    b = bytes((i * 7 + seed) & 0xFF for i in range(4093))
    return (b * (n // len(b) + 1))[:n]


class Streamer:
    def __init__(self, port, ctx, total, seed, end=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.lport = raw.getsockname()[1]
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.s.setblocking(False)
        self.total, self.end = total, end
        self.data = pattern(total, seed)
        self.got = bytearray()
        self.sent = 0
        self.closed = False   # the server ended it (EOF or error)
        self.err = None
        self.done_sending = False

    def on_write(self):
        if self.done_sending:
            return
        try:
            while self.sent < self.total:
                self.sent += self.s.send(
                    self.data[self.sent:self.sent + CHUNK])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                BlockingIOError):
            return
        except (ssl.SSLError, OSError) as e:
            self.err, self.done_sending = e, True
            return
        self.done_sending = True
        if self.end == "fin":
            # socket.socket's: SSLSocket.shutdown drops the TLS layer
            socket.socket.shutdown(self.s, socket.SHUT_WR)

    def on_read(self):
        try:
            while True:
                b = self.s.recv(1 << 20)
                if not b:
                    self.closed = True
                    return
                self.got += b
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                BlockingIOError):
            return
        except (ssl.SSLError, OSError) as e:
            self.err, self.closed = e, True

    def prefix_ok(self):
        g = bytes(self.got)
        return g == self.data[:len(g)]


def pump(streamers, until, timeout):
    sel = selectors.DefaultSelector()
    for s in streamers:
        sel.register(s.s, selectors.EVENT_READ | selectors.EVENT_WRITE, s)
    deadline = time.monotonic() + timeout
    try:
        while not until() and time.monotonic() < deadline:
            for key, ev in sel.select(0.05):
                st = key.data
                if ev & selectors.EVENT_READ:
                    st.on_read()
                if ev & selectors.EVENT_WRITE:
                    st.on_write()
                if st.closed or st.done_sending:
                    try:
                        sel.modify(st.s, 0 if st.closed else
                                   selectors.EVENT_READ, st)
                    except (ValueError, KeyError):
                        try:
                            sel.unregister(st.s)
                        except KeyError:
                            pass
    finally:
        sel.close()


class BurstStressTest(unittest.TestCase):

    def server(self, *flags):
        d = echod.tmpdir("bs-")
        self.sock = os.path.join(d, "admin.sock")
        srv = echod.Server("--admin-socket", self.sock, *flags, admin=True)
        echod.wait_until(lambda: os.path.exists(self.sock), 10,
                         what="admin socket")
        return srv

    def admin(self, req):
        return echod.admin_request(self.sock, req, 30)

    def test_kill_reload_drain_while_streaming(self):
        srv = self.server("--workers", "1")
        try:
            ctx = echod.client_context(**srv.dev_client())
            ss = [Streamer(srv.port, ctx, 64 << 20, i) for i in range(4)]
            t0 = time.monotonic()
            pump(ss, lambda: time.monotonic() - t0 > 0.5, 5)
            for _ in range(3):
                r = self.admin({"cmd": "reload"})
                self.assertTrue(r.get("ok"), r)
                t0 = time.monotonic()
                pump(ss, lambda: time.monotonic() - t0 > 0.2, 5)
            sess = self.admin({"cmd": "sessions"})
            ids = [x["id"] for x in sess["result"]["sessions"]
                   if str(ss[0].lport) in str(x)]
            self.assertEqual(len(ids), 1, sess)
            r = self.admin({"cmd": "kill", "session": ids[0]})
            self.assertTrue(r.get("ok"), r)
            pump(ss, lambda: ss[0].closed, echod.scaled(20))
            self.assertTrue(ss[0].closed, "killed session still open")
            t0 = time.monotonic()
            pump(ss, lambda: time.monotonic() - t0 > 0.3, 5)
            srv.signal(15)  # drain while 3 still stream
            pump(ss, lambda: all(s.closed for s in ss), echod.scaled(60))
            for s in ss:
                self.assertTrue(s.closed, "session %d still open" % s.lport)
                self.assertTrue(s.prefix_ok(), "echo not in order")
                self.assertGreater(len(s.got), 1 << 20)
            rc = srv.wait_exit(60)
            self.assertEqual(rc, 0, srv.log_tail())
        finally:
            srv.stop()

    def test_fin_while_yielded_and_all_back(self):
        srv = self.server("--workers", "1")
        try:
            ctx = echod.client_context(**srv.dev_client())
            total = 24 << 20
            ss = [Streamer(srv.port, ctx, total, 10 + i,
                           end=("fin" if i % 2 else None))
                  for i in range(4)]
            pump(ss, lambda: all(
                (len(s.got) >= total) if s.end is None else s.closed
                for s in ss), echod.scaled(120))
            for s in ss:
                self.assertTrue(s.prefix_ok(), "echo not in order (%s, %d)"
                                % (s.end, len(s.got)))
                if s.end is None:
                    self.assertEqual(len(s.got), total, s.err)
                else:
                    self.assertTrue(s.closed, "half-closed one still open")
                    self.assertEqual(len(s.got), total,
                                     "half-closed: %d of %d back (%r)"
                                     % (len(s.got), total, s.err))
            for s in ss:
                s.s.close()
            srv.stop_clean()
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
