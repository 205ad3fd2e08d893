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
  bytes_out=100 reason=client_close. (Bytes that reach the server only
  after it closed still draw a reset from the kernel, which may cut off
  what the client has not read yet: the server cannot see bytes that are
  not there; it no longer closes on those that are.)
- Breaking the record layer once established: a record whose tag does not
  verify, a flood of KeyUpdate messages (openssl s_client's "K"; BoringSSL
  allows 32 in a row without application data), a TLS 1.2 renegotiation
  (s_client's "R"). Each ends the session with the engine's alert, and
  the session's line says why: reason=error with detail= naming what the
  client did. Before, every one of them was a bare reason=error, the same
  as a local failure.
- A ClientHello, then the client's FIN before the pool answered it: the
  step stops before the server's signature (nobody would read its
  flight); it used to sign and send. A refused first flight sent with
  its FIN is still named.
- A forged record right behind the ClientHello: the handshake fails as
  protocol, with the record layer's detail; it was logged as other.
"""

import os
import socket
import ssl
import subprocess
import threading
import time
import unittest

from tests.lib import echod
from tests.lib.memclient import MemClient

HS_DELAY_MS = 300  # every pool step waits this long first (test hook)


def client_hello(ctx):
    """The first flight (ClientHello) a client on |ctx| sends."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        return out.read()
    raise AssertionError("the handshake did not wait for the server")


class SlowPoolTest(unittest.TestCase):
    """One server for the class whose every pool step first waits
    HS_DELAY_MS (test hook): what the client sends next arrives while
    the step is in the pool."""

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server(
            "--workers", "1",
            env={"ECHOD_TEST_HANDSHAKE_DELAY": "%dms" % HS_DELAY_MS})
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()


class AfterCloseNotifyTest(SlowPoolTest):
    """Where the server meets the close_notify with the trailer already
    waiting behind it, as it does under load: in the handshake's last step
    (slowed in the pool: the trailer arrives meanwhile, and the loop stops
    reading at one record), or after a stream large enough to fill the
    socket buffers (backpressure: the server reads on only as the client
    reads)."""

    def after_close(self, payload, trailer, with_finished=False):
        """Sends |payload|, close_notify and |trailer| in one go (behind
        the client's last flight if |with_finished|), reads only once all
        of it left, and checks what came back."""
        c = MemClient(self.srv.port, self.ctx, hold_last_flight=with_finished)
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
            try:
                c.raw.shutdown(socket.SHUT_WR)  # the FIN its linger waits for
            except OSError:
                pass  # the server may have closed at once: see send_last
            ev = self.srv.session_closed(lport)
        finally:
            c.raw.close()
        sender.join(echod.scaled(10))
        self.assertTrue(got == payload, "echo differs: %d of %d bytes (%s)"
                        % (len(got), len(payload), err))
        self.assertTrue(notified, "no close_notify before the FIN (%s)"
                        % err)
        # A reset may still follow all of it (trailing bytes that reached
        # the server only after it closed), never come before it.
        if err is not None:
            self.assertIsInstance(err, ConnectionResetError)
        self.assertEqual(ev.get("reason"), "client_close", ev)
        self.assertEqual(int(ev["bytes_out"]), len(payload), ev)
        # Everyone else is still served.
        self.assertTrue(echod.serves(self.srv.port, self.ctx))

    def test_small_echo_then_a_flood_of_junk(self):
        self.after_close(b"last words" * 10, b"x" * 200000,
                         with_finished=True)

    def test_large_echo_then_junk(self):
        self.after_close(os.urandom(4 << 20), os.urandom(256 * 1024))

    def test_records_after_close_notify(self):
        # What looks like application data records (a client that keeps
        # writing after its own close).
        rec = bytes([23, 3, 3, 0x40, 0x11])
        junk = b"".join(rec + os.urandom(0x4011) for _ in range(16))
        self.after_close(b"z" * 1000, junk, with_finished=True)


class FirstFlightThenFinTest(SlowPoolTest):
    """A client sends its first flight and leaves (FIN) while the step
    that would answer it waits in the pool (the FIN arrives meanwhile).

    - An honest ClientHello: no client can finish a handshake without the
      server's first flight, so the step stops at the server's signature:
      no signature made for nobody, nothing sent, and the truncated
      handshake is logged as before. Regression: the step ran and its
      flight (with the server's signature) went out to a client that had
      gone. (After a HelloRetryRequest, the same: internal/loop
      conn_test.)
    - A first flight the TLS engine refuses (plain HTTP on the TLS port, a
      ClientHello with no version in common), as `printf ... | nc` or a
      scanner sends it: the line still names what the client sent
      (HTTP_REQUEST, UNSUPPORTED_PROTOCOL), as it does without the FIN.
      On an idle server the loop often reads the bytes and the FIN before
      the (lowest priority) pool thread runs the step; the delay makes
      that certain. Regression (d0a1ad5, the first version of the change
      above): the step was skipped and the line said "connection closed
      during the handshake"."""

    def then_fin(self, first_flight):
        """Sends |first_flight| and the FIN in one go; returns what came
        back before the server's FIN, the error that ended reading (None:
        the FIN) and the "handshake failed" line."""
        since = self.srv.log_offset()
        got, err = b"", None
        with socket.create_connection(("127.0.0.1", self.srv.port),
                                      timeout=echod.scaled(10)) as raw:
            raw.sendall(first_flight)
            raw.shutdown(socket.SHUT_WR)
            try:
                while True:
                    b = raw.recv(65536)
                    if not b:
                        break
                    got += b
            except OSError as e:
                err = e  # a reset after an alert
        echod.wait_until(lambda: self.srv.events("handshake failed", since),
                         10, what="the handshake's failed line")
        return got, err, self.srv.events("handshake failed", since)[0]

    def test_hello_then_fin(self):
        got, err, ev = self.then_fin(client_hello(self.ctx))
        self.assertEqual((got, err), (b"", None),
                         "the server answered a client that left")
        self.assertEqual((ev.get("reason"), ev.get("detail")),
                         ("protocol", "connection closed during the handshake"),
                         ev)
        self.assertTrue(echod.serves(self.srv.port, self.ctx))

    def test_http_request_then_fin(self):
        _, _, ev = self.then_fin(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual((ev.get("reason"), ev.get("detail")),
                         ("protocol", "HTTP_REQUEST"), ev)

    def test_tls12_hello_then_fin(self):
        ctx = echod.client_context(max_version=ssl.TLSVersion.TLSv1_2,
                                   **self.srv.dev_client())
        _, _, ev = self.then_fin(client_hello(ctx))
        self.assertEqual((ev.get("reason"), ev.get("detail")),
                         ("protocol", "UNSUPPORTED_PROTOCOL"), ev)


class SlowReaderAfterCloseTest(unittest.TestCase):
    """A client sends 100-odd KiB and its close_notify, then reads only
    after a while (an application that writes everything first, or a slow
    link): the echo still queued in the server when it met the
    close_notify is the client's all the same. Small segments and a small
    receive buffer keep the kernel's buffers from holding the whole echo,
    so part of it waits in the server's queue. Regression: it was dropped
    ED_LINGER_MS (2 s) after the close_notify; the client got the rest,
    a FIN and no close_notify, while the log said every byte went out."""

    WAIT = 3.0  # before reading: past ED_LINGER_MS

    def test_echo_waits_for_the_reader(self):
        with echod.Server("--workers", "1") as srv:
            ctx = echod.client_context(**srv.dev_client())
            sizes = [k * 1024 for k in (100, 104, 108, 112, 116, 120, 124)]
            results = {}

            def one(n):
                raw = socket.socket()
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
                c = MemClient(srv.port, ctx, raw=raw)
                try:
                    payload = os.urandom(n)
                    words = c.sealed(payload, close=True)
                    sender = threading.Thread(target=c.raw.sendall,
                                              args=(words,), daemon=True)
                    sender.start()
                    time.sleep(self.WAIT)
                    got, notified, err = c.read_to_eof()
                    sender.join(echod.scaled(10))
                    results[n] = (got == payload, len(got), notified, err)
                finally:
                    c.raw.close()

            threads = [threading.Thread(target=one, args=(n,))
                       for n in sizes]
            for t in threads:
                t.start()
            for t in threads:
                t.join(echod.scaled(60))
            for n in sizes:
                self.assertIn(n, results)
                same, got, notified, err = results[n]
                self.assertTrue(same and notified and err is None,
                                "%d bytes sent: %d echoed, close_notify %s, "
                                "%s" % (n, got, notified, err))
            srv.stop_clean()


def s_client(port, paths, commands, extra=()):
    """Runs `openssl s_client` and types |commands| (b"K", b"R" or a line
    of data), each only once the previous one was acted on (its KEYUPDATE
    or RENEGOTIATING line, or the data's echo: s_client takes a command
    only at the start of what it reads), until s_client exits or the
    server ended the session. Killed if it takes longer than 30 s."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-cert", paths["cert"], "-key", paths["key"],
            "-CAfile", paths["ca"], "-brief"] + list(extra)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(echod.scaled(30), p.kill)
    watchdog.start()

    def wait_for(stream, want):
        line = stream.readline()
        while line and not line.startswith(want):
            line = stream.readline()
        return bool(line)  # b"": s_client exited

    try:
        wait_for(p.stderr, b"CONNECTION ESTABLISHED")
        for cmd in commands:
            try:
                p.stdin.write(cmd + b"\n")
                p.stdin.flush()
            except BrokenPipeError:
                break
            if cmd == b"K":
                ok = wait_for(p.stderr, b"KEYUPDATE")
            elif cmd == b"R":
                ok = wait_for(p.stderr, b"RENEGOTIATING")
            else:
                ok = wait_for(p.stdout, cmd)
            if not ok:
                break  # the server ended it
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.wait(timeout=echod.scaled(10))
    finally:
        watchdog.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


class BrokenRecordsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server("--workers", "1", "--tls-min", "1.2")
        cls.paths = cls.srv.dev_client()
        cls.ctx = echod.client_context(**cls.paths)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def closed_since(self, since):
        """The first "session closed" line logged after |since|."""
        echod.wait_until(lambda: self.srv.events("session closed", since),
                         10, what="the session's closed line")
        return self.srv.events("session closed", since)[0]

    def assert_serves_everyone_else(self):
        since = self.srv.log_offset()
        self.assertTrue(echod.serves(self.srv.port, self.ctx))
        self.closed_since(since)  # its line is in before the next test's

    def test_record_that_does_not_verify(self):
        c = MemClient(self.srv.port, self.ctx)
        try:
            lport = echod.local_port(c.raw)
            c.raw.sendall(c.sealed(b"fine"))
            got = bytearray()
            while len(got) < 4:
                try:
                    got += c.tls.read(4)
                except ssl.SSLWantReadError:
                    c.inc.write(c.raw.recv(65536))
            bad = bytearray(c.sealed(b"tampered"))
            bad[-1] ^= 1  # the tag
            c.raw.sendall(bytes(bad))
            rest, notified, err = c.read_to_eof()
            got += rest
        finally:
            c.raw.close()
        self.assertEqual(got, b"fine")
        self.assertIsInstance(err, ssl.SSLError)
        self.assertEqual(err.reason, "SSLV3_ALERT_BAD_RECORD_MAC")
        ev = self.srv.session_closed(lport)
        self.assertEqual(ev.get("reason"), "error", ev)
        # The record layer's verdict, not the cipher's (queued first).
        self.assertEqual(ev.get("detail"),
                         "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", ev)
        self.assertEqual(int(ev["bytes_out"]), 4, ev)
        self.assert_serves_everyone_else()

    def test_key_update_flood(self):
        since = self.srv.log_offset()
        s_client(self.srv.port, self.paths, [b"K"] * 40,
                 extra=["-tls1_3"])
        ev = self.closed_since(since)
        self.assertEqual(ev.get("reason"), "error", ev)
        self.assertEqual(ev.get("detail"), "TOO_MANY_KEY_UPDATES", ev)
        self.assert_serves_everyone_else()

    def test_key_updates_between_data_are_fine(self):
        since = self.srv.log_offset()
        s_client(self.srv.port, self.paths, [b"K", b"data"] * 40,
                 extra=["-tls1_3"])
        ev = self.closed_since(since)
        self.assertEqual(ev.get("reason"), "client_close", ev)
        self.assertEqual(int(ev["bytes_out"]), 40 * len(b"data\n"), ev)

    def test_garbage_after_client_hello(self):
        """A forged record where the client's first encrypted flight
        should be, in the ClientHello's segment: the handshake fails as
        protocol, named by the record layer. Regression: reason=other
        detail=BAD_DECRYPT, the cipher's error, as if the server failed."""
        since = self.srv.log_offset()
        forged = b"\x17\x03\x03\x00\x30" + bytes(range(48))
        with socket.create_connection(("127.0.0.1", self.srv.port),
                                      timeout=echod.scaled(10)) as raw:
            raw.sendall(client_hello(self.ctx) + forged)
            while raw.recv(65536):  # the flight, the alert, then the FIN
                pass
        echod.wait_until(lambda: self.srv.events("handshake failed", since),
                         10, what="the handshake's failed line")
        ev = self.srv.events("handshake failed", since)[0]
        self.assertEqual(ev.get("reason"), "protocol", ev)
        self.assertEqual(ev.get("detail"),
                         "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", ev)
        self.assert_serves_everyone_else()

    def test_tls12_renegotiation(self):
        since = self.srv.log_offset()
        s_client(self.srv.port, self.paths, [b"hello", b"R", b"again"],
                 extra=["-tls1_2"])
        ev = self.closed_since(since)
        self.assertEqual(ev.get("version"), "TLSv1.2", ev)
        self.assertEqual(ev.get("reason"), "error", ev)
        self.assertEqual(ev.get("detail"), "NO_RENEGOTIATION", ev)
        self.assert_serves_everyone_else()


if __name__ == "__main__":
    unittest.main(verbosity=2)
