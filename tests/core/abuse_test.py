"""Clients that break the rules after an honest start: each gets a clear
end, nothing it sent before breaking them is lost, and the server keeps
serving everyone else.

- Bytes after close_notify: a client sends data, its close_notify and then
  more bytes in one go (a pipelining client, or one that ignores its own
  close). Everything before the close_notify is echoed, followed by the
  server's close_notify and a clean FIN; what came after is dropped, never
  answered. Regression: the server closed its socket at once with those
  bytes unread, which makes the kernel send a reset that throws away the
  echo and the close_notify still on their way (the client got 0 of 100
  bytes, or 114,688 of 1 MiB, and ECONNRESET), while the log said
  bytes_out=100 reason=client_close.
"""

import os
import socket
import ssl
import threading
import unittest

from tests.lib import echod


class MemClient:
    """TLS over memory BIOs on a raw socket: the test decides which bytes
    go out in which send()."""

    def __init__(self, port, ctx):
        self.raw = socket.create_connection(("127.0.0.1", port),
                                            timeout=echod.scaled(10))
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out,
                                server_hostname="localhost")
        try:
            while True:
                try:
                    self.tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                self.flush()
                b = self.raw.recv(65536)
                if not b:
                    raise AssertionError("server closed during the handshake")
                self.inc.write(b)
            self.flush()  # our Finished
        except BaseException:
            self.raw.close()
            raise

    def flush(self):
        data = self.out.read()
        if data:
            self.raw.sendall(data)

    def sealed(self, payload, close=False):
        """The ciphertext of |payload|, then close_notify if |close|."""
        if payload:
            self.tls.write(payload)
        if close:
            try:
                self.tls.unwrap()
            except ssl.SSLWantReadError:
                pass  # ours is written; the server's not read yet
        return self.out.read()

    def read_to_eof(self):
        """Reads until the server's FIN. Returns (plaintext, close_notify
        seen, error or None); a reset is returned, not raised."""
        got = bytearray()
        notified = False
        while True:
            try:
                b = self.raw.recv(65536)
            except OSError as e:
                return bytes(got), notified, e
            if not b:
                return bytes(got), notified, None
            self.inc.write(b)
            while not notified:
                try:
                    got += self.tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    notified = True


class AfterCloseNotifyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server("--workers", "1")
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def after_close(self, payload, trailer):
        """Sends |payload|, close_notify and |trailer| in one go, reads
        only once all of it left, and checks what came back."""
        c = MemClient(self.srv.port, self.ctx)
        try:
            lport = echod.local_port(c.raw)
            words = c.sealed(payload, close=True) + trailer
            sender = threading.Thread(target=c.raw.sendall, args=(words,),
                                      daemon=True)
            sender.start()
            # Everything is written (or the server stopped reading us)
            # before we read a byte: the server meets the close_notify
            # with the trailer behind it.
            sender.join(echod.scaled(1))
            got, notified, err = c.read_to_eof()
            if err is None:
                c.raw.shutdown(socket.SHUT_WR)  # the FIN its linger waits for
            ev = self.srv.session_closed(lport)
        finally:
            c.raw.close()
        sender.join(echod.scaled(10))
        self.assertIsNone(err, "%s after %d of %d bytes"
                          % (err, len(got), len(payload)))
        self.assertTrue(got == payload, "echo differs: %d of %d bytes"
                        % (len(got), len(payload)))
        self.assertTrue(notified, "no close_notify before the FIN")
        self.assertEqual(ev.get("reason"), "client_close", ev)
        self.assertEqual(int(ev["bytes_out"]), len(payload), ev)
        # Everyone else is still served.
        self.assertTrue(echod.serves(self.srv.port, self.ctx))

    def test_small_echo_then_a_flood_of_junk(self):
        self.after_close(b"last words" * 10, b"x" * 200000)

    def test_large_echo_then_junk(self):
        self.after_close(os.urandom(1 << 20), os.urandom(128 * 1024))

    def test_records_after_close_notify(self):
        # What looks like application data records (a client that keeps
        # writing after its own close).
        rec = bytes([23, 3, 3, 0x40, 0x11])
        junk = b"".join(rec + os.urandom(0x4011) for _ in range(16))
        self.after_close(b"z" * 1000, junk)


if __name__ == "__main__":
    unittest.main(verbosity=2)
