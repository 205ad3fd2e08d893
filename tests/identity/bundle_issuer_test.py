"""Certificates of the CA bundle (--ca) that may not issue, end to end: a
chain through one of them is refused (unknown_ca) whether the client sends
that certificate or leaves it out and lets the server take it from --ca.

With --crl every intermediate must be in --ca. BoringSSL checks
basicConstraints CA:TRUE and pathLenConstraint only on certificates the
client sent, and takes an issuer from the bundle before the client's copy
(trusted first), and before these tests echod relied on that alone:
- a leaf signed by a bundle certificate with CA:FALSE (keyCertSign set)
  got in, sent with that certificate or not;
- a sub-CA under a bundle intermediate with pathlen:0 got its clients in,
  and so did one under a bundle root with pathlen:0;
- so did a bundle intermediate whose EKU is serverAuth only, or with a
  critical extension BoringSSL does not know;
- a self-signed client certificate in the bundle (no keyUsage, CA:FALSE:
  the client pinned by putting it in --ca) could sign certificates with
  any name - "CN=admin" passed --allow-cn admin."""

import datetime
import os
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.identity.mint import Mint, write_atomic, write_bundle
from tests.lib import echod


def _ku(cert_sign):
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
        decipher_only=False)


class Cert:
    """One certificate and its key, signed by |issuer| (a Cert or a Mint;
    None: self-signed). |ca|/|path_length| go into basicConstraints;
    |cert_sign| None leaves keyUsage out; |eku| adds clientAuth, or the
    EKU OIDs it lists; |unknown_critical| a critical extension nobody
    knows; |key_ids| adds subject and authority key identifiers (so that
    a certificate named as its issuer is not taken for self-signed)."""

    def __init__(self, cn, issuer=None, ca=False, path_length=None,
                 cert_sign=True, eku=False, unknown_critical=False,
                 key_ids=False):
        self.cn = cn
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder()
             .subject_name(name)
             .issuer_name(issuer.cert.subject if issuer else name)
             .public_key(self.key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(
                 ca=ca, path_length=path_length), critical=True))
        if cert_sign is not None:
            b = b.add_extension(_ku(cert_sign), critical=True)
        if eku:
            oids = [ExtendedKeyUsageOID.CLIENT_AUTH] if eku is True else eku
            b = b.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
        if unknown_critical:
            b = b.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
                critical=True)
        if key_ids:
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(
                self.key.public_key()), critical=False)
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    (issuer or self).key.public_key()), critical=False)
        signer = issuer.key if issuer else self.key
        self.cert = b.sign(signer, hashes.SHA256())
        self.serial = self.cert.serial_number

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def crl_pem(self):
        """An empty CRL signed by this certificate's key."""
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateRevocationListBuilder()
                .issuer_name(self.cert.subject)
                .last_update(now - datetime.timedelta(minutes=1))
                .next_update(now + datetime.timedelta(days=7))
                .sign(self.key, hashes.SHA256())
                .public_bytes(serialization.Encoding.PEM))


class BundleIssuerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = cls.dir = echod.tmpdir("mint-")
        root = cls.root = Mint(d, "bundle root")
        root.issue("server", role="server")
        root.issue("alice")
        # Not a CA, but keyCertSign: BoringSSL takes it as an issuer.
        cls.noca = Cert("not a CA", root, ca=False, cert_sign=True)
        cls.pl0 = Cert("pathlen 0", root, ca=True, path_length=0)
        cls.sub = Cert("sub of pathlen 0", cls.pl0, ca=True)
        cls.srv_only = Cert("servers only", root, ca=True,
                            eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        cls.odd = Cert("unknown critical", root, ca=True,
                       unknown_critical=True)
        # A client pinned by its self-signed certificate in --ca.
        cls.pinned = Cert("pinned", None, ca=False, cert_sign=None, eku=True)

    def write(self, name, *certs):
        """Writes the client files NAME.pem (|certs| in order) and
        NAME.key (the first one's key); returns client_context kwargs."""
        cert = os.path.join(self.dir, name + ".pem")
        key = os.path.join(self.dir, name + ".key")
        write_atomic(cert, b"".join(c.pem() for c in certs))
        with open(key, "wb") as f:
            f.write(certs[0].key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        os.chmod(key, 0o600)
        return dict(ca=self.root.ca_pem, cert=cert, key=key)

    def server(self, name, *bundle, crl=False, flags=()):
        """A server whose --ca holds the root and |bundle|; with |crl|,
        an (empty) CRL of each."""
        ca = os.path.join(self.dir, name + "-ca.pem")
        write_atomic(ca, b"".join([self.root.cert.public_bytes(
            serialization.Encoding.PEM)] + [c.pem() for c in bundle]))
        f = ["--cert", self.root.path("server"), "--key",
             self.root.path("server", "key"), "--ca", ca, "--no-watch"]
        if crl:
            path = os.path.join(self.dir, name + "-crl.pem")
            write_atomic(path, self.root.crl_pem() +
                         b"".join(c.crl_pem() for c in bundle))
            f += ["--crl", path]
        return echod.Server(*(f + list(flags)))

    def refused(self, srv, kw, detail, reason="unknown_ca",
                alert="TLSV1_ALERT_UNKNOWN_CA"):
        got, lport = echod.refused_alert(srv.port, echod.client_context(**kw))
        ev = srv.handshake_failure_event(lport)
        self.assertEqual(ev.get("reason"), reason, srv.log_tail(5))
        self.assertIn(detail, ev.get("detail", ""))
        self.assertEqual(got, alert)

    def served(self, srv, kw):
        with echod.connect(srv.port, echod.client_context(**kw)) as s:
            self.assertEqual(echod.echo(s, b"hi"), b"hi")

    def test_not_a_ca_in_the_bundle(self):
        leaf = Cert("under noCA", self.noca, eku=True)
        for crl in (False, True):
            with self.server("noca-%d" % crl, self.noca, crl=crl) as srv:
                self.refused(srv, self.write("noca-sent", leaf, self.noca),
                             "not a CA")
                self.refused(srv, self.write("noca-left-out", leaf),
                             "not a CA")
                self.served(srv, self.root.client("alice"))
                srv.stop_clean()

    def test_path_length_of_a_bundle_intermediate(self):
        leaf = Cert("under sub", self.sub, eku=True)
        with self.server("pl0", self.pl0) as srv:
            self.refused(srv, self.write("pl0-sent", leaf, self.sub,
                                         self.pl0), "pathLenConstraint")
            self.refused(srv, self.write("pl0-left-out", leaf, self.sub),
                         "pathLenConstraint")
            # A client named as its issuer (self-issued) counts no
            # differently: before, the leaf was counted only when not
            # self-issued, so this one got in, with whatever SAN it had.
            named = Cert("sub of pathlen 0", self.sub, eku=True,
                         key_ids=True)
            self.refused(srv, self.write("pl0-self-issued", named, self.sub),
                         "pathLenConstraint")
            # Its own leaves are fine, sent with it or not.
            direct = Cert("under pl0", self.pl0, eku=True)
            self.served(srv, self.write("pl0-direct", direct))
            self.served(srv, self.write("pl0-direct-sent", direct, self.pl0))
            srv.stop_clean()

    def test_path_length_of_a_bundle_root(self):
        # A root's pathLenConstraint binds too (echod's pki makes its CA
        # with pathlen:0: it signs only leaves). Before, no self-issued
        # CA's was checked: a sub-CA under that root got its clients in.
        rootp0 = Cert("root pathlen 0", None, ca=True, path_length=0)
        sub = Cert("sub of root pathlen 0", rootp0, ca=True)
        leaf = Cert("under sub of root", sub, eku=True)
        direct = Cert("under root pathlen 0", rootp0, eku=True)
        # (With --crl the sub-CA, not in --ca, was refused already.)
        for crl in (False, True):
            with self.server("rootp0-%d" % crl, rootp0, crl=crl) as srv:
                self.refused(srv, self.write("rootp0-sub", leaf, sub),
                             "pathLenConstraint")
                self.refused(srv, self.write("rootp0-sub-root", leaf, sub,
                                             rootp0), "pathLenConstraint")
                self.served(srv, self.write("rootp0-direct", direct))
                self.served(srv, self.root.client("alice"))
                srv.stop_clean()

    def test_eku_of_a_bundle_intermediate(self):
        # As for an intermediate the client sends and --ca lacks: its EKU
        # must allow clientAuth.
        leaf = Cert("under servers only", self.srv_only, eku=True)
        with self.server("srv-only", self.srv_only, crl=True) as srv:
            for kw in (self.write("eku-left-out", leaf),
                       self.write("eku-sent", leaf, self.srv_only)):
                self.refused(srv, kw, "client authentication", "bad_eku",
                             "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE")
            self.served(srv, self.root.client("alice"))
            srv.stop_clean()

    def test_unknown_critical_extension_of_a_bundle_intermediate(self):
        leaf = Cert("under unknown critical", self.odd, eku=True)
        with self.server("odd", self.odd) as srv:
            for kw in (self.write("odd-left-out", leaf),
                       self.write("odd-sent", leaf, self.odd)):
                self.refused(srv, kw, "unhandled critical extension", "other",
                             "SSLV3_ALERT_BAD_CERTIFICATE")
            srv.stop_clean()

    def test_pinned_self_signed_client_cannot_issue(self):
        admin = Cert("admin", self.pinned, eku=True)
        with self.server("pinned", self.pinned,
                         flags=("--allow-cn", "pinned",
                                "--allow-cn", "admin")) as srv:
            self.served(srv, self.write("pinned", self.pinned))
            self.refused(srv, self.write("pinned-admin", admin), "not a CA")
            self.refused(srv, self.write("pinned-admin-sent", admin,
                                         self.pinned), "not a CA")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
