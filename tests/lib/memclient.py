"""TLS over memory BIOs on a raw socket, for end-to-end tests that decide
exactly which records go out in which send() (close_test, abuse_test)."""

import socket
import ssl

from tests.lib import echod


class MemClient:
    """TLS over memory BIOs on a raw socket: the test decides which bytes
    go out in which send()."""

    def __init__(self, port, ctx, hold_last_flight=False, raw=None):
        """|raw|: a socket to connect (options set), else a new one."""
        if raw is None:
            raw = socket.socket()
        raw.settimeout(echod.scaled(10))
        raw.connect(("127.0.0.1", port))
        self.raw = raw
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
            if not hold_last_flight:
                self.flush()  # our Finished; else it goes with sealed()
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
        seen, error or None); a reset or an alert is returned, not
        raised."""
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
                except ssl.SSLError as e:
                    return bytes(got), notified, e
