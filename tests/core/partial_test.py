"""Bounded cost before the handshake (issue 12, item 2).

Before: a client that sent 16,383 bytes of a 16 KiB TLS record and waited
pinned about 41.5 KiB of server memory for the whole handshake timeout (a
TLS engine made for it, its bytes copied twice, buffers kept at their
largest), with no bound but --max-connections. Now the first step waits
for the whole ClientHello with no engine made, holding only the bytes
that came; --max-handshaking bounds how many connections may be in their
handshake at once, and the next one is refused at accept with reason
max_handshaking; established sessions keep echoing meanwhile. The memory
bound (KiB per partial connection, from /proc) is checked in the plain
build only: sanitizers change what an allocation costs."""

import socket
import time
import unittest

from tests.lib import echod

N = 300          # partial connections held
RECORD = 16384   # the record each claims
SENT = 16383     # the bytes each sends of it
KIB_BOUND = 24   # per connection; before: 41.5


def partial_record():
    """A handshake record header announcing RECORD bytes, the start of a
    ClientHello, and SENT bytes of the record in all."""
    body = bytes([1]) + (RECORD - 4).to_bytes(3, "big")
    body += bytes(SENT - len(body))
    return bytes([22, 3, 1]) + RECORD.to_bytes(2, "big") + body


def refused(sock, timeout):
    """True when the server closes |sock| (EOF or reset) within
    |timeout| seconds without sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def stable_rss(srv, settle=0.5, limit=10):
    """The server's RSS once it stopped changing for |settle| seconds."""
    deadline = time.monotonic() + echod.scaled(limit)
    last, since = srv.rss_kb(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = srv.rss_kb()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
    return last


class PartialRecords(unittest.TestCase):

    def test_cap_refuses_and_memory_stays_small(self):
        with echod.Server("--workers", "1", "--max-handshaking",
                          str(N)) as srv:
            ctx = echod.client_context(**srv.dev_client())
            est = echod.connect(srv.port, ctx)
            self.assertEqual(echod.echo(est, b"before"), b"before")
            rss0 = stable_rss(srv)
            data = partial_record()
            held = []
            try:
                for i in range(N):
                    s = socket.socket()
                    s.bind(("127.0.0.%d" % (1 + i % 8), 0))
                    s.connect(("127.0.0.1", srv.port))
                    s.sendall(data)
                    held.append(s)
                rss1 = stable_rss(srv)
                # The next one is refused at accept, with its reason.
                extra = socket.create_connection(("127.0.0.1", srv.port))
                lport = extra.getsockname()[1]
                self.assertTrue(refused(extra, echod.scaled(10)),
                                "connection %d past --max-handshaking %d "
                                "was not refused" % (N + 1, N))
                extra.close()
                ev = srv.wait_log(r'msg="connection refused" '
                                  r'reason=max_handshaking '
                                  r'peer=127\.0\.0\.1:%d ' % lport)
                self.assertIsNotNone(ev)
                # None of the held ones was closed meanwhile.
                for s in held[:20]:
                    self.assertFalse(refused(s, 0.01))
                # The established session was never in the way.
                self.assertEqual(echod.echo(est, b"during"), b"during")
                kib = (rss1 - rss0) / N
                print("RSS %d -> %d KiB with %d partial records held: "
                      "%.1f KiB each" % (rss0, rss1, N, kib))
                if not echod.sanitizer_build():
                    self.assertLess(kib, KIB_BOUND)
            finally:
                for s in held:
                    s.close()
            # Their slots come back: a new handshake gets in.
            echod.wait_until(lambda: echod.serves(srv.port, ctx), 15, interval=0.2,
                             what="a new session after the partial ones")
            self.assertEqual(echod.echo(est, b"after"), b"after")
            echod.close_tls(est)
            srv.stop_clean()

    def test_client_hello_over_16k_refused(self):
        """A ClientHello whose body says it is over 16 KiB is refused at
        once (protocol), before any of it is buffered."""
        with echod.Server("--workers", "1") as srv:
            s = socket.create_connection(("127.0.0.1", srv.port))
            lport = s.getsockname()[1]
            s.sendall(bytes([22, 3, 1, 0x40, 0, 1]) +
                      (100000).to_bytes(3, "big"))
            self.assertTrue(refused(s, echod.scaled(10)))
            s.close()
            m = srv.wait_log(r'msg="handshake failed" [^\n]*'
                             r'peer=127\.0\.0\.1:%d [^\n]*' % lport)
            ev = echod.parse_logfmt(m.group(0))
            self.assertEqual(ev["reason"], "protocol")
            self.assertEqual(ev["detail"], "ClientHello too large")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
