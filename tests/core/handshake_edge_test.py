"""The edges of the handshake, made deterministic with a slowed pool
(ECHOD_TEST_HANDSHAKE_DELAY: every pool step sleeps first, so whatever the
client sends next is sure to arrive while the step is still in the pool).

- A TLS 1.3 client that sends its Finished and, in the same write, 1 MiB
  of application data is echoed in full (regression: the server used to
  give up with "handshake too large" when its buffer filled while the
  last step was in the pool).
- Every accepted connection that does not reach ESTABLISHED is logged
  exactly once as "handshake failed" with a reason, and counted once:
  truncated ClientHello + FIN, FIN or RST mid-handshake, a client that
  closes right after its own Finished (like `openssl s_time -new`), a peer
  that connects and closes (FIN) without a byte, a peer that connects and
  sends nothing until the handshake timeout. Reasons (README.md's list):
  "protocol" when the peer sent part of a handshake and then closed or
  reset (a truncated handshake), "other" when it never sent a byte.
  A client that sent its whole last flight before closing reaches
  ESTABLISHED (the server finishes the handshake on what it received) and
  gets a "session closed" line instead.
- The listener has TCP_DEFER_ACCEPT: the kernel hands over a connection
  once its first bytes (or its FIN) arrived, or after about a second. A
  peer that connects and resets before sending anything is dropped by the
  kernel before it is accepted: echod never sees it, so it logs nothing.
"""

import hashlib
import os
import socket
import ssl
import struct
import threading
import time
import unittest

from tests.lib import echod

DELAY_MS = 150


def memory_handshake(port, ctx):
    """Runs a TLS 1.3 client handshake over memory BIOs until the client is
    done. Returns (socket, SSLObject, incoming, outgoing) with the client's
    last flight (Certificate, CertificateVerify, Finished) still unsent in
    |outgoing|."""
    sock = socket.create_connection(("127.0.0.1", port),
                                    timeout=echod.scaled(20))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        while True:
            try:
                obj.do_handshake()
                return sock, obj, inc, out
            except ssl.SSLWantReadError:
                if out.pending:
                    sock.sendall(out.read())
                data = sock.recv(65536)
                if not data:
                    raise AssertionError("server closed during handshake")
                inc.write(data)
    except BaseException:
        sock.close()
        raise


def hello_bytes():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def rst_close(sock):
    """Closes |sock| with a TCP RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


class HandshakeEdgeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server("--workers", "1", "--handshake-threads", "2",
                               env={"ECHOD_TEST_HANDSHAKE_DELAY": "%dms" % DELAY_MS})
        cls.ctx = echod.client_context(min_version=ssl.TLSVersion.TLSv1_3,
                                       **cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def setUp(self):
        # The server is shared by the class; a client port seen in an
        # earlier test may be reused by the kernel, so each test reads only
        # the log written since it started.
        self.log_since = self.srv.log_offset()

    def lines_for(self, lport, msg):
        pat = "127.0.0.1:%d" % lport
        return [e for e in self.srv.events(msg, since=self.log_since)
                if e.get("peer") == pat]

    def exactly_one_outcome(self, lport, timeout=10):
        """Waits until connection |lport| has its outcome logged; asserts
        there is exactly one line for it (failure or close) and returns
        (msg, event)."""
        deadline = time.monotonic() + echod.scaled(timeout)
        while True:
            fails = self.lines_for(lport, "handshake failed")
            closes = self.lines_for(lport, "session closed")
            if fails or closes:
                time.sleep(echod.scaled(0.3))  # a second line would be a bug
                fails = self.lines_for(lport, "handshake failed")
                closes = self.lines_for(lport, "session closed")
                self.assertEqual(len(fails) + len(closes), 1,
                                 "port %d: %r %r" % (lport, fails, closes))
                return (("handshake failed", fails[0]) if fails
                        else ("session closed", closes[0]))
            if time.monotonic() > deadline:
                raise AssertionError("no outcome logged for port %d\n%s"
                                     % (lport, self.srv.log_tail()))
            time.sleep(0.02)

    # -- 1: data right after the Finished, while the last step is pooled --

    def finished_then_stream(self, size, results, i):
        sock, obj, inc, out = memory_handshake(self.srv.port, self.ctx)
        lport = sock.getsockname()[1]
        payload = os.urandom(size)
        obj.write(payload)  # app records now follow the Finished in |out|
        wire = out.read()
        got = bytearray()
        err = []

        def send():
            try:
                sock.sendall(wire)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=send)
        t.start()
        try:
            while len(got) < size:
                data = sock.recv(65536)
                if not data:
                    break
                inc.write(data)
                while True:
                    try:
                        got += obj.read(65536)
                    except ssl.SSLWantReadError:
                        break
                    except ssl.SSLZeroReturnError:
                        break
        finally:
            t.join(echod.scaled(30))
            sock.close()
        results[i] = (lport, hashlib.sha256(payload).digest(),
                      hashlib.sha256(bytes(got)).digest(), len(got), err)

    def test_stream_right_after_finished(self):
        n, size = 8, 1 << 20
        results = [None] * n
        threads = [threading.Thread(target=self.finished_then_stream,
                                    args=(size, results, i))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(echod.scaled(60))
        for r in results:
            self.assertIsNotNone(r)
            lport, want, got, n_got, err = r
            self.assertEqual(n_got, size, "port %d got %d of %d bytes\n%s"
                             % (lport, n_got, size, self.srv.log_tail()))
            self.assertEqual(got, want)
            self.assertEqual(err, [])
            msg, ev = self.exactly_one_outcome(lport)
            self.assertEqual(msg, "session closed", ev)
            self.assertEqual(int(ev["bytes_in"]), size, ev)
        self.assertEqual(
            [e for e in self.srv.events("handshake failed")
             if "too large" in e.get("detail", "")], [])

    # -- 2: every non-established connection is logged exactly once --

    def test_truncated_client_hello_fin(self):
        hello = hello_bytes()
        self.assertGreater(len(hello), 100)
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", self.srv.port)) as s:
                lport = s.getsockname()[1]
                s.sendall(hello[:len(hello) // 2])
                s.shutdown(socket.SHUT_WR)
                s.settimeout(echod.scaled(10))
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
            msg, ev = self.exactly_one_outcome(lport)
            self.assertEqual((msg, ev.get("reason")),
                             ("handshake failed", "protocol"), ev)

    def test_truncated_client_hello_rst(self):
        hello = hello_bytes()
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.srv.port))
            lport = s.getsockname()[1]
            s.sendall(hello[:len(hello) // 2])
            time.sleep(0.01)
            rst_close(s)  # while the step is in the (slowed) pool
            msg, ev = self.exactly_one_outcome(lport)
            self.assertEqual((msg, ev.get("reason")),
                             ("handshake failed", "protocol"), ev)

    def test_whole_hello_then_rst_while_pooled(self):
        hello = hello_bytes()
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.srv.port))
            lport = s.getsockname()[1]
            s.sendall(hello)
            time.sleep(0.01)
            rst_close(s)
            msg, ev = self.exactly_one_outcome(lport)
            self.assertEqual((msg, ev.get("reason")),
                             ("handshake failed", "protocol"), ev)

    def test_no_bytes_then_close(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        lport = s.getsockname()[1]
        time.sleep(0.05)
        s.close()  # the FIN makes the kernel hand it over at once
        msg, ev = self.exactly_one_outcome(lport)
        self.assertEqual((msg, ev.get("reason")),
                         ("handshake failed", "other"), ev)

    def test_no_bytes_then_reset_never_reaches_the_server(self):
        # TCP_DEFER_ACCEPT: reset before any byte, the connection dies in
        # the kernel's queue, before accept. Nothing is logged for it (not
        # even after the kernel's deferral), and the server serves on.
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        lport = s.getsockname()[1]
        time.sleep(0.05)
        rst_close(s)
        time.sleep(echod.scaled(1.5))
        self.assertEqual(self.lines_for(lport, "handshake failed") +
                         self.lines_for(lport, "session closed"), [])
        with echod.connect(self.srv.port, self.ctx) as t:
            self.assertEqual(echod.echo(t, b"still here"), b"still here")
            echod.close_tls(t)


    def test_close_after_own_finished(self):
        # Like `openssl s_time -new`: the client sends its last flight and
        # closes at once (FIN, or RST when it closes with unread data).
        # The server has every byte of the handshake, so it completes it:
        # one "session closed" line, never a silent close.
        outcomes = []
        for i in range(12):
            sock, obj, inc, out = memory_handshake(self.srv.port, self.ctx)
            lport = sock.getsockname()[1]
            sock.sendall(out.read())
            if i % 2:
                rst_close(sock)
            else:
                sock.close()
            outcomes.append(self.exactly_one_outcome(lport))
        for msg, ev in outcomes:
            self.assertEqual(msg, "session closed", ev)
            self.assertIn(ev.get("reason"), ("eof", "reset"), ev)
            self.assertEqual(ev.get("cn"), "dev-client", ev)

    def test_close_in_the_middle_of_last_flight(self):
        # Half of the client's last flight, then FIN or RST: protocol.
        for i in range(6):
            sock, obj, inc, out = memory_handshake(self.srv.port, self.ctx)
            lport = sock.getsockname()[1]
            flight = out.read()
            sock.sendall(flight[:len(flight) // 2])
            time.sleep(0.01)
            if i % 2:
                rst_close(sock)
            else:
                sock.close()
            msg, ev = self.exactly_one_outcome(lport)
            self.assertEqual((msg, ev.get("reason")),
                             ("handshake failed", "protocol"), ev)


class SilentClientTest(unittest.TestCase):
    """A client that connects and never sends a byte: the deferred accept
    (TCP_DEFER_ACCEPT, about a second) does not hide it from the handshake
    timeout. The server closes it once that timeout passed after the
    kernel handed it over, with exactly one "handshake failed" line
    (reason=timeout), and keeps serving."""

    def test_silent_client_gets_the_handshake_timeout(self):
        with echod.Server("--handshake-timeout", "500ms") as srv:
            ctx = echod.client_context(**srv.dev_client())
            s = socket.create_connection(("127.0.0.1", srv.port),
                                         timeout=echod.scaled(20))
            with s:
                lport = s.getsockname()[1]
                t0 = time.monotonic()
                try:
                    self.assertEqual(s.recv(1), b"")  # the server's close
                except ConnectionResetError:
                    pass
                waited = time.monotonic() - t0
            self.assertGreaterEqual(waited, 0.5)
            pat = "127.0.0.1:%d" % lport
            echod.wait_until(
                lambda: [e for e in srv.events("handshake failed")
                         if e.get("peer") == pat], 10,
                what="a handshake failed line for %s" % pat)
            time.sleep(echod.scaled(0.3))  # a second line would be a bug
            lines = [e for e in srv.events("handshake failed")
                     if e.get("peer") == pat]
            self.assertEqual([e.get("reason") for e in lines], ["timeout"],
                             lines)
            with echod.connect(srv.port, ctx) as t:
                self.assertEqual(echod.echo(t, b"x"), b"x")
                echod.close_tls(t)
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main(verbosity=2)
