"""End to end: --proxy-protocol (PROXY protocol v2 from an L4 balancer).

A client stands in for the balancer: it opens TCP, writes the v2 header
carrying the "real" client address, then does the mutual-TLS handshake on
the same connection. The session's log lines and the admin socket show the
address from the header as the peer and the balancer's address as "via".
A connection without a valid header is refused with a logged reason, and
the server keeps serving everyone else. Without the flag a header is just
a TLS protocol error.
"""

import os
import socket
import ssl
import struct
import time
import unittest

from tests.lib import echod

SIG = bytes([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
             0x54, 0x0A])


def v2(cmd=0x21, fam=0x11, body=b""):
    return SIG + bytes([cmd, fam]) + struct.pack(">H", len(body)) + body


def tcp4(src, sport, dst="10.0.0.1", dport=7443, tlvs=b""):
    return v2(0x21, 0x11, socket.inet_pton(socket.AF_INET, src) +
              socket.inet_pton(socket.AF_INET, dst) +
              struct.pack(">HH", sport, dport) + tlvs)


def tcp6(src, sport, dst="2001:db8::2", dport=7443):
    return v2(0x21, 0x21, socket.inet_pton(socket.AF_INET6, src) +
              socket.inet_pton(socket.AF_INET6, dst) +
              struct.pack(">HH", sport, dport))


def admin(path, req):
    return echod.admin_request(path, req, 10)


class ProxyProtocolTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = echod.tmpdir("px-")
        cls.sock_path = os.path.join(d, "admin.sock")
        cls.srv = echod.Server("--proxy-protocol", "--admin-socket",
                               cls.sock_path, admin=True)
        echod.wait_until(lambda: os.path.exists(cls.sock_path), 10,
                         what="admin socket")
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def tls_over(self, raw):
        return self.ctx.wrap_socket(raw, server_hostname="localhost")

    def via_balancer(self, header, split=False):
        """Connects, sends |header| (one byte at a time with |split|),
        then does the TLS handshake; returns the TLS socket."""
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if split:
            for b in header:
                raw.sendall(bytes([b]))
                time.sleep(0.002)
        else:
            raw.sendall(header)
        try:
            return self.tls_over(raw)
        except BaseException:
            raw.close()
            raise

    def session_of(self, peer):
        r = admin(self.sock_path, {"cmd": "sessions"})
        self.assertTrue(r.get("ok"), r)
        return [s for s in r["result"]["sessions"] if s["peer"] == peer]

    def closed_line(self, peer, since):
        m = self.srv.wait_log(r'msg="session closed"[^\n]*peer=%s [^\n]*' %
                              peer.replace("[", r"\[").replace("]", r"\]")
                              .replace(".", r"\."), since=since)
        return echod.parse_logfmt(m.group(0))

    def assert_serves_everyone_else(self):
        with self.via_balancer(tcp4("198.51.100.1", 1)) as s:
            self.assertEqual(echod.echo(s, b"still here"), b"still here")

    def test_ipv4_source_in_logs_and_admin(self):
        off = self.srv.log_offset()
        with self.via_balancer(tcp4("192.0.2.7", 50000)) as s:
            self.assertEqual(echod.echo(s, b"x" * 5000), b"x" * 5000)
            via = "127.0.0.1:%d" % echod.local_port(s)
            rows = self.session_of("192.0.2.7:50000")
            self.assertEqual(len(rows), 1, rows)
            self.assertEqual(rows[0]["via"], via)
            self.assertEqual(rows[0]["cn"], "dev-client")
            out = echod.run_tool([echod.binary("cmd/echoctl"), "--socket",
                                  self.sock_path, "session",
                                  str(rows[0]["id"])], check=True).stdout
            self.assertRegex(out, r"peer\s+192\.0\.2\.7:50000\n")
            self.assertRegex(out, r"via\s+%s \(PROXY protocol\)" % via)
            echod.close_tls(s)
        line = self.closed_line("192.0.2.7:50000", off)
        self.assertEqual(line["via"], via)
        self.assertEqual(line["bytes_in"], "5000")

    def test_ipv6_source_header_split_into_bytes(self):
        off = self.srv.log_offset()
        with self.via_balancer(tcp6("2001:db8::7", 443), split=True) as s:
            self.assertEqual(echod.echo(s, b"six"), b"six")
            echod.close_tls(s)
        self.closed_line("[2001:db8::7]:443", off)

    def test_header_and_client_hello_in_one_write(self):
        """Balancers send the header and the first client bytes together:
        the header is cut off and the rest is the handshake."""
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.ctx.wrap_bio(inc, out, server_hostname="localhost")
        with raw:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            raw.sendall(tcp4("203.0.113.9", 9) + out.read())
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if out.pending:
                        raw.sendall(out.read())
                    data = raw.recv(65536)
                    self.assertTrue(data, "server closed the handshake")
                    inc.write(data)
            obj.write(b"together")
            raw.sendall(out.read())
            got = b""
            while len(got) < 8:
                try:
                    got += obj.read(64)
                except ssl.SSLWantReadError:
                    inc.write(raw.recv(65536))
            self.assertEqual(got, b"together")
            self.assertEqual(len(self.session_of("203.0.113.9:9")), 1)

    def test_local_command_keeps_the_connection_address(self):
        with self.via_balancer(v2(0x20, 0x00)) as s:
            port = echod.local_port(s)
            self.assertEqual(echod.echo(s, b"hc"), b"hc")
            echod.close_tls(s)
        line = self.srv.session_closed(port)
        self.assertNotIn("via", line)

    def refused(self, first_bytes, reason_detail):
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        with raw:
            port = echod.local_port(raw)
            raw.sendall(first_bytes)
            raw.settimeout(echod.scaled(10))
            try:
                while raw.recv(65536):
                    pass
            except ConnectionResetError:
                pass
        e = self.srv.handshake_failure_event(port)
        self.assertEqual(e["reason"], "protocol")
        self.assertEqual(e["detail"], reason_detail)
        self.assert_serves_everyone_else()

    def test_plain_tls_without_header_is_refused(self):
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        port = echod.local_port(raw)
        with self.assertRaises((ssl.SSLError, OSError)):
            with self.tls_over(raw) as s:
                echod.echo(s, b"no header")
        self.assertEqual(self.srv.handshake_failure(port), "protocol")
        self.assert_serves_everyone_else()

    def test_bad_headers_are_refused(self):
        self.refused(b"GET / HTTP/1.0\r\n\r\n", "no PROXY protocol v2 header")
        self.refused(b"PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n",
                     "no PROXY protocol v2 header")
        self.refused(SIG + bytes([0x21, 0x11, 0xFF, 0xFF]),
                     "PROXY header too large")
        self.refused(v2(0x21, 0x11, b"\x01\x02\x03\x04"),
                     "PROXY header shorter than its addresses")
        self.refused(v2(0x11, 0x11), "unsupported PROXY protocol version")

    def test_header_then_silence_times_out_like_a_handshake(self):
        """Half a header counts against the handshake timeout (no
        unbounded wait): checked through the session's state instead of
        waiting 10 s: it is still handshaking (accepted) meanwhile."""
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=echod.scaled(10))
        with raw:
            raw.sendall(SIG[:7])
            port = echod.local_port(raw)
            time.sleep(0.2)
            rows = self.session_of("127.0.0.1:%d" % port)
            self.assertEqual(len(rows), 1, rows)
            self.assertIn(rows[0]["state"], ("accepted", "handshaking"))


class WithoutTheFlagTest(unittest.TestCase):

    def test_header_is_a_protocol_error(self):
        with echod.Server() as srv:
            ctx = echod.client_context(**srv.dev_client())
            raw = socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=echod.scaled(10))
            port = echod.local_port(raw)
            raw.sendall(tcp4("192.0.2.7", 50000))
            with self.assertRaises((ssl.SSLError, OSError)):
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    echod.echo(s, b"x")
            self.assertEqual(srv.handshake_failure(port), "protocol")


if __name__ == "__main__":
    unittest.main()
