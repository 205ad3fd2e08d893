"""Refusals: each bad client is refused with the right reason in the
server's log (and the matching TLS alert), and the server keeps serving a
good client afterwards.

Certificates come from an independent CA made with the openssl CLI
(echod.TestCA), so these tests do not trust echod's own pki to be right."""

import socket
import ssl
import time
import unittest

from tests.lib import echod


def client_hello(server_hostname="localhost"):
    """The bytes of a real TLS ClientHello (python's ssl, memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def read_until_closed(sock, timeout):
    """Reads until EOF/reset; returns the bytes (bounded by |timeout|)."""
    sock.settimeout(echod.scaled(timeout))
    data = b""
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                break
            data += b
    except (ConnectionResetError, socket.timeout):
        pass
    return data


class RefusalTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ca = cls.ca = echod.TestCA()
        ca.issue("server", role="server")
        ca.issue("alice")
        ca.issue("bob")
        ca.issue("expired", not_before=-40 * 86400, not_after=-86400)
        ca.issue("future", not_before=30 * 86400, not_after=60 * 86400)
        ca.issue("revoked")
        ca.issue("server-as-client", role="server")
        ca.revoke("revoked")
        cls.crl = ca.crl()
        cls.rogue = echod.TestCA(cn="rogue CA")
        cls.rogue.issue("alice")  # same name, other CA
        cls.srv = echod.Server(*ca.server_flags(crl=cls.crl))
        cls.acl_srv = echod.Server(*ca.server_flags(crl=cls.crl),
                                   "--allow-cn", "alice")

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.acl_srv):
            s.stop_clean()

    def assert_still_serving(self, srv=None):
        srv = srv or self.srv
        ctx = echod.client_context(**self.ca.client("alice"))
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"still serving"), b"still serving")

    def refuse(self, ctx, reason, alerts, srv=None):
        srv = srv or self.srv
        got_alert, lport = echod.refused_alert(srv.port, ctx)
        self.assertEqual(srv.handshake_failure(lport), reason,
                         srv.log_tail(5))
        self.assertIn(got_alert, alerts,
                      "client saw %s; expected one of %s"
                      % (got_alert, alerts))
        self.assert_still_serving(srv)

    def test_good_client_accepted(self):
        ctx = echod.client_context(**self.ca.client("alice"))
        with echod.connect(self.srv.port, ctx) as s:
            lport = echod.local_port(s)
            self.assertEqual(echod.echo(s, b"hello"), b"hello")
            echod.close_tls(s)
        ev = self.srv.session_closed(lport)
        self.assertEqual(ev["cn"], "alice")

    def test_no_client_cert(self):
        ctx = echod.client_context(ca=self.ca.ca_pem)
        self.refuse(ctx, "no_client_cert",
                    ["TLSV13_ALERT_CERTIFICATE_REQUIRED"])

    def test_other_ca(self):
        ctx = echod.client_context(ca=self.ca.ca_pem,
                                   cert=self.rogue.path("alice"),
                                   key=self.rogue.path("alice", "key"))
        self.refuse(ctx, "unknown_ca", ["TLSV1_ALERT_UNKNOWN_CA"])

    def test_expired(self):
        ctx = echod.client_context(**self.ca.client("expired"))
        self.refuse(ctx, "cert_expired", ["SSLV3_ALERT_CERTIFICATE_EXPIRED"])

    def test_not_yet_valid(self):
        ctx = echod.client_context(**self.ca.client("future"))
        # TLS has no "not yet valid" alert; these are the sensible ones.
        self.refuse(ctx, "cert_not_yet_valid",
                    ["SSLV3_ALERT_CERTIFICATE_EXPIRED",
                     "SSLV3_ALERT_BAD_CERTIFICATE",
                     "SSLV3_ALERT_CERTIFICATE_UNKNOWN"])

    def test_revoked(self):
        ctx = echod.client_context(**self.ca.client("revoked"))
        self.refuse(ctx, "cert_revoked", ["SSLV3_ALERT_CERTIFICATE_REVOKED"])

    def test_server_cert_as_client_cert(self):
        ctx = echod.client_context(**self.ca.client("server-as-client"))
        self.refuse(ctx, "bad_eku", ["SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
                                     "SSLV3_ALERT_BAD_CERTIFICATE"])

    def test_not_on_allow_list(self):
        ctx = echod.client_context(**self.ca.client("bob"))
        self.refuse(ctx, "acl_denied", ["TLSV1_ALERT_ACCESS_DENIED"],
                    srv=self.acl_srv)
        # bob is fine where there is no allow-list.
        with echod.connect(self.srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, b"bob"), b"bob")

    def test_allow_list_by_pin_and_san(self):
        ca = self.ca
        ca.issue("carol", uris=["spiffe://echod/carol"])
        fp = ca.sha256("alice")
        pin = ":".join(fp[i:i + 2] for i in range(0, 64, 2)).upper()
        with echod.Server(*ca.server_flags(crl=self.crl), "--allow-sha256",
                          pin, "--allow-san", "spiffe://echod/carol") as srv:
            for name in ("alice", "carol"):  # by pin, by URI SAN
                ctx = echod.client_context(**ca.client(name))
                with echod.connect(srv.port, ctx) as s:
                    self.assertEqual(echod.echo(s, name.encode()),
                                     name.encode())
            ctx = echod.client_context(**ca.client("bob"))
            self.refuse(ctx, "acl_denied", ["TLSV1_ALERT_ACCESS_DENIED"],
                        srv=srv)

    def test_tls12_when_13_is_minimum(self):
        ctx = echod.client_context(**self.ca.client(
            "alice", max_version=ssl.TLSVersion.TLSv1_2))
        self.refuse(ctx, "protocol", ["TLSV1_ALERT_PROTOCOL_VERSION"])

    def test_plaintext_garbage(self):
        with socket.create_connection(("127.0.0.1", self.srv.port),
                                      timeout=echod.scaled(10)) as s:
            lport = s.getsockname()[1]
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 100)
            reply = read_until_closed(s, 10)
        self.assertEqual(self.srv.handshake_failure(lport), "protocol")
        # Whatever came back is not an echo of the plaintext.
        self.assertNotIn(b"GET /", reply)
        self.assert_still_serving()

    def test_truncated_client_hello(self):
        hello = client_hello()
        self.assertGreater(len(hello), 100)
        with socket.create_connection(("127.0.0.1", self.srv.port),
                                      timeout=echod.scaled(10)) as s:
            lport = s.getsockname()[1]
            s.sendall(hello[:len(hello) // 2])
            s.shutdown(socket.SHUT_WR)  # EOF in the middle of the record
            t0 = time.monotonic()
            read_until_closed(s, 10)
            # Closed because of the EOF, not the 10 s handshake timeout.
            self.assertLess(time.monotonic() - t0, echod.scaled(5))
        self.assertEqual(self.srv.handshake_failure(lport), "protocol")
        self.assert_still_serving()

    def test_corrupt_client_hello(self):
        # A complete record whose ClientHello is cut short inside: the
        # handshake-message length claims fewer bytes than the fields need.
        hello = bytearray(client_hello())
        body = hello[5:]  # record payload: handshake header + ClientHello
        cut = 60
        body = body[:4 + cut]
        body[1:4] = cut.to_bytes(3, "big")
        rec = bytes(hello[:3]) + len(body).to_bytes(2, "big") + bytes(body)
        with socket.create_connection(("127.0.0.1", self.srv.port),
                                      timeout=echod.scaled(10)) as s:
            lport = s.getsockname()[1]
            s.sendall(rec)
            reply = read_until_closed(s, 10)
        self.assertEqual(self.srv.handshake_failure(lport), "protocol")
        # A fatal alert record (type 21) is what a TLS server answers.
        self.assertTrue(reply.startswith(b"\x15"),
                        "expected an alert record, got %r" % reply[:16])
        self.assert_still_serving()

    def test_client_refuses_server_certificate(self):
        # A client that does not trust the server (here: it trusts only the
        # rogue CA) sends its alert. A TLS 1.3 client from OpenSSL sends it
        # in plaintext, after the server has switched to handshake keys;
        # the server names the client's alert, not a record that failed to
        # decrypt. (TLS 1.2's alert comes before the client's keys change.)
        ctx = echod.client_context(ca=self.rogue.ca_pem,
                                   cert=self.ca.path("alice"),
                                   key=self.ca.path("alice", "key"))
        with echod.Server(*self.ca.server_flags(crl=self.crl),
                          "--tls-min", "1.2") as srv:
            for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                with self.subTest(version=version):
                    ctx.minimum_version = ctx.maximum_version = version
                    _, lport = echod.refused_alert(srv.port, ctx)
                    ev = srv.handshake_failure_event(lport)
                    self.assertEqual(ev.get("reason"), "protocol", ev)
                    self.assertEqual(ev.get("detail"),
                                     "TLSV1_ALERT_UNKNOWN_CA", ev)
            self.assert_still_serving(srv)

if __name__ == "__main__":
    unittest.main(verbosity=2)
