"""A client certificate's serial is written the same way in every log
line: the "session closed" line of an accepted client and the "handshake
failed" line of a refused one. Serials that RFC 5280 forbids but a
careless or hostile CA writes anyway - negative (-1), zero - parse, and
echod's identity keeps them exact (sign included: -01 is not 01). The
refusal line read them through another path that dropped the sign and
wrote zero as an empty value, so the certificate with serial -1 was
logged as serial=01 (another certificate's serial) and serial 0 as
serial="" (the value given to a certificate that does not parse)."""

import base64
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.identity.mint import Mint
from tests.lib import echod

def _parse(b, i=0, end=None):
    """DER to a tree: [tag, children] (constructed) or [tag, bytes]."""
    end = len(b) if end is None else end
    out = []
    while i < end:
        tag, n = b[i], b[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(b[i:i + k], "big")
            i += k
        out.append([tag, _parse(b, i, i + n) if tag & 0x20 else b[i:i + n]])
        i += n
    return out


def _encode(nodes):
    out = []
    for tag, c in nodes:
        body = _encode(c) if isinstance(c, list) else c
        n = len(body)
        ln = bytes([n]) if n < 0x80 else (
            bytes([0x80 | ((n.bit_length() + 7) // 8)])
            + n.to_bytes((n.bit_length() + 7) // 8, "big"))
        out.append(bytes([tag]) + ln + body)
    return b"".join(out)


def with_serial(mint, name, serial_der):
    """Re-signs certificate NAME of |mint| with its serial's INTEGER
    contents replaced by |serial_der| (b"\\xff" is -1, b"\\x00" is 0);
    rewrites NAME.pem."""
    with open(mint.path(name), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    top = _parse(cert.public_bytes(serialization.Encoding.DER))
    tbs = top[0][1][0]
    serial = tbs[1][1]  # [0] version, then serialNumber
    assert serial[0] == 0x02
    serial[1] = serial_der
    tbs_der = _encode([tbs])
    sig = mint.key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    top[0][1][2] = [0x03, b"\x00" + sig]
    # Not through cryptography: it deprecates loading negative serials.
    b64 = base64.encodebytes(_encode(top)).replace(b"\n", b"")
    pem = (b"-----BEGIN CERTIFICATE-----\n"
           + b"\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
           + b"\n-----END CERTIFICATE-----\n")
    with open(mint.path(name), "wb") as f:
        f.write(pem)


class SerialLogTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = echod.tmpdir("mint-")
        ca = cls.ca = Mint(d, "serial root")
        ca.issue("server", role="server")
        for name, der in (("neg", b"\xff"), ("zero", b"\x00")):
            for suffix in ("-in", "-out"):
                ca.issue(name + suffix)
                with_serial(ca, name + suffix, der)
        cls.srv = echod.Server(
            "--cert", ca.path("server"), "--key", ca.path("server", "key"),
            "--ca", ca.ca_pem, "--no-watch",
            "--allow-cn", "neg-in", "--allow-cn", "zero-in")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ctx(self, name):
        return echod.client_context(**self.ca.client(name))

    def serials(self, name):
        """(serial in the accepted client's line, in the refused one's)."""
        s = echod.connect(self.srv.port, self.ctx(name + "-in"))
        port = echod.local_port(s)
        self.assertEqual(echod.echo(s, b"x"), b"x")
        echod.close_tls(s)
        accepted = self.srv.session_closed(port)
        reason, port = echod.refused_alert(self.srv.port,
                                           self.ctx(name + "-out"))
        self.assertEqual(reason, "TLSV1_ALERT_ACCESS_DENIED")
        refused = self.srv.handshake_failure_event(port)
        self.assertEqual(refused.get("reason"), "acl_denied")
        return accepted.get("serial"), refused.get("serial")

    def test_negative_serial(self):
        accepted, refused = self.serials("neg")
        self.assertEqual(accepted, "-01")
        self.assertEqual(refused, accepted,
                         "the refusal line names another serial")

    def test_zero_serial(self):
        accepted, refused = self.serials("zero")
        self.assertEqual(accepted, "00")
        self.assertEqual(refused, accepted,
                         "the refusal line names no serial")


if __name__ == "__main__":
    unittest.main()
