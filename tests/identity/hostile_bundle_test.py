"""A hostile (or careless) --ca / --crl file must not stall a reload
(review h44).

Snapshots are built on the control loop: while one builds, no signal,
admin request, drain or systemd watchdog ping is handled there. The
shipped unit (deploy/systemd/echod.service) has WatchdogSec=30s: a reload
that builds for longer gets echod killed by systemd, and every session
with it.

1. Many keys under one name. link_issuers (internal/tls/tls_crl.c) looks
   up, for every bundle certificate that is not self-signed, every CA of
   the bundle named as its issuer, and checks the signature with each
   (issued(): X509_verify) until one verifies. N self-signed CAs of one
   name with N keys, and M certificates naming that name as issuer (no
   authorityKeyIdentifier, so X509_check_issued passes every candidate)
   signed by none of them, cost N*M signature checks. The M certificates
   may be the very same one repeated (each copy is its own entry). A
   bundle of ~280 KB (300 + 300 certificates) takes tens of seconds; 4 MiB
   (MAX_PEM_FILE) about an hour.

2. CRLs of a name with many keys. load_file (tls_crl.c) verifies every
   CRL of the file (signer(): a scan of every CA, X509_CRL_verify with
   each CA of the CRL's issuer name until one verifies), however many
   times the same CRL appears: N CAs of one name and K copies of the CRL
   of the one signer() tries last cost N*K signature checks (300 and 300,
   a 230 KB bundle and an 80 KB CRL file: ~15 s here). Even with one CA,
   a 64 MiB file (MAX_CRL_FILE) of one 264-byte CRL repeated is ~250,000
   checks (about a minute here).

Each test compares with a bundle (or CRL file) of the same size that is
not hostile, so a slow machine does not make it fail."""

import datetime
import os
import signal
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.identity.mint import Mint, _pem, write_atomic
from tests.lib import echod


def _cert(subject, issuer, key, sign_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return _pem(
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                   issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                       critical=True)
        .sign(sign_key, hashes.SHA256()))


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def many_keys_one_name(n, m):
    """|n| self-signed CAs named "B", each with its own key, then one
    certificate issued "by B" (no AKID) signed by none of them, |m|
    times."""
    out = []
    for _ in range(n):
        k = _key()
        out.append(_cert("B", "B", k, k))
    k = _key()
    out += [_cert("A", "B", k, k)] * m
    return b"".join(out)


def ca_id(cert):
    """ed_tls_ca_id: SHA-256 of the subject's DER and the SPKI's."""
    h = hashes.Hash(hashes.SHA256())
    h.update(cert.subject.public_bytes())
    h.update(cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    return h.finalize()


def crl_of(cert, key):
    """An empty CRL of |cert|'s CA (signed with |key|), PEM."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateRevocationListBuilder()
            .issuer_name(cert.subject)
            .last_update(now - datetime.timedelta(seconds=60))
            .next_update(now + datetime.timedelta(days=7))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def distinct_names(n, m):
    """The control: |n| + |m| self-signed CAs of distinct names (about
    the same size as many_keys_one_name(n, m))."""
    out = []
    for i in range(n + m):
        k = _key()
        out.append(_cert("C%d" % i, "C%d" % i, k, k))
    return b"".join(out)


class HostileBundleTest(unittest.TestCase):

    def setUp(self):
        d = echod.tmpdir("mint-")
        self.dir = d
        self.root = root = Mint(d, "hostile root")
        root.issue("server", role="server")
        root.issue("bob")
        self.root_pem = _pem(root.cert)
        self.bundle = os.path.join(d, "bundle.pem")
        write_atomic(self.bundle, self.root_pem)

    def timed_reload(self, srv, files):
        """Writes |files| ({path: bytes}), SIGHUPs |srv|, and returns the
        seconds until the reload's outcome line."""
        for path, data in files.items():
            write_atomic(path, data)
        off = srv.log_offset()
        t0 = time.monotonic()
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"msg=reloaded |msg=\"reload failed\"", timeout=600,
                     since=off)
        return time.monotonic() - t0

    def assert_not_stalled(self, control, hostile, what):
        # 10x the control and at least 5 s: far above the noise, far below
        # the 30 s of WatchdogSec in the shipped unit.
        bound = max(echod.scaled(5), 10 * control)
        self.assertLess(
            hostile, bound,
            "%s: the reload took %.1fs on the control loop (the same size "
            "not hostile: %.2fs); systemd's watchdog (WatchdogSec=30s) "
            "kills echod past 30s" % (what, hostile, control))

    def test_many_keys_under_one_name(self):
        n = m = 300
        with echod.Server("--cert", self.root.path("server"),
                          "--key", self.root.path("server", "key"),
                          "--ca", self.bundle, "--no-watch") as srv:
            control = self.timed_reload(
                srv, {self.bundle: self.root_pem + distinct_names(n, m)})
            hostile = self.timed_reload(
                srv, {self.bundle: self.root_pem + many_keys_one_name(n, m)})
            # The loops still serve (with whichever snapshot).
            ctx = echod.client_context(**self.root.client("bob"))
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"one"), b"one")
            srv.stop_clean()
        self.assert_not_stalled(control, hostile,
                                "%d CAs of one name, %d certificates "
                                "naming it" % (n, m))

    def test_crls_of_one_name(self):
        # n CAs named "B" (self-signed: cheap for link_issuers), and k
        # copies of a CRL of the one signer() reaches last (s->cas is
        # sorted by id: SHA-256 of subject and key): each copy is checked
        # against every B before it.
        n, k = 300, 300
        keys = [_key() for _ in range(n)]
        certs = [x509.load_pem_x509_certificate(_cert("B", "B", kk, kk))
                 for kk in keys]
        last = max(range(n), key=lambda i: ca_id(certs[i]))
        crl = os.path.join(self.dir, "crl.pem")
        write_atomic(crl, self.root.crl_pem())
        with echod.Server("--cert", self.root.path("server"),
                          "--key", self.root.path("server", "key"),
                          "--ca", self.bundle, "--crl", crl,
                          "--no-watch") as srv:
            bundle = self.root_pem + b"".join(_pem(c) for c in certs)
            one = crl_of(certs[last], keys[last])
            pad = b"#" * 63 + b"\n"
            # The control: the root's CRL padded to the same size (PEM
            # allows text around the blocks). Both reloads fail in the
            # end (the other Bs have no CRL): what counts is how long the
            # control loop is busy first.
            control = self.timed_reload(srv, {
                self.bundle: bundle,
                crl: self.root.crl_pem() +
                pad * ((len(one) * k) // len(pad))})
            hostile = self.timed_reload(srv, {
                self.bundle: bundle, crl: self.root.crl_pem() + one * k})
            srv.stop_clean()
        self.assert_not_stalled(control, hostile,
                                "%d CAs of one name, %d copies of one "
                                "CRL" % (n, k))


if __name__ == "__main__":
    unittest.main()
