"""A certificate authority for the identity tests, built with
python3-cryptography (Debian's package), that writes whatever it is asked
to: NUL bytes and commas in names, two CNs, 200-byte CNs, a CA certificate
as a client, intermediates, several CRLs, expired CRLs. That is what an
attacker's CA, or a careless external one, can sign; echod's own pki
refuses most of it, so it cannot be the tool here.

    root = Mint(dir, "root A")
    inter = root.intermediate("inter A1")
    root.issue("server", role="server")
    inter.issue("carol")                       # carol.pem holds carol + inter
    root.issue("m", sans=[("URI", "spiffe://x/m,URI:spiffe://x/admin")])
    root.crl(path, revoked=["m", inter])       # names or Mints
    write_bundle(path, root, inter)

Files: DIR/NAME.pem (leaf, then the intermediates up to the root, not the
root), DIR/NAME.key (0600), DIR/<ca>-ca.pem."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cns):
    # _validate=False: no 64-character limit (X.520's, not every CA's).
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn,
                                         _validate=False) for cn in cns])


def _general_name(kind, value):
    """One SAN, unvalidated: the bytes go in as given."""
    if kind == "DNS":
        return x509.DNSName._init_without_validation(value)
    if kind == "URI":
        return x509.UniformResourceIdentifier._init_without_validation(value)
    if kind == "email":
        return x509.RFC822Name._init_without_validation(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    raise ValueError("unknown SAN type %r" % kind)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Mint:
    """A root CA (|parent| None) or an intermediate of |parent|."""

    def __init__(self, dir, cn, parent=None, not_after_days=3650):
        self.dir = dir
        self.cn = cn
        self.parent = parent
        self.key = _key()
        self.serials = {}
        os.makedirs(dir, exist_ok=True)
        now = _now()
        issuer = parent or self
        b = (x509.CertificateBuilder()
             .subject_name(_name([cn]))
             .issuer_name(_name([issuer.cn]))
             .public_key(self.key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=not_after_days))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=False, content_commitment=False,
                 key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=True, crl_sign=True,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                 self.key.public_key()), critical=False))
        if parent:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    parent.key.public_key()), critical=False)
        self.cert = b.sign(issuer.key, hashes.SHA256())
        self.serial = self.cert.serial_number
        self.ca_pem = os.path.join(dir, self._file_cn() + "-ca.pem")
        with open(self.ca_pem, "wb") as f:
            f.write(_pem(self.cert))

    def _file_cn(self):
        return self.cn.replace(" ", "-")

    def intermediate(self, cn, **kw):
        return Mint(self.dir, cn, parent=self, **kw)

    def chain_pem(self):
        """This CA and its parents below the root, PEM (what a client
        sends after its leaf)."""
        out, m = b"", self
        while m.parent:
            out += _pem(m.cert)
            m = m.parent
        return out

    def path(self, name, ext="pem"):
        return os.path.join(self.dir, "%s.%s" % (name, ext))

    def issue(self, name, cn=None, cns=None, sans=(), role="client",
              ca=False, not_before=-300, not_after=30 * 86400,
              akid_serial=False):
        """Writes NAME.pem (with this CA's chain) and NAME.key. |cns|
        gives several CN attributes; |sans| is [(TYPE, value)] with TYPE
        DNS, URI, email or IP; |ca| makes it a CA (basicConstraints
        CA:TRUE) all the same; |akid_serial| names this CA in the
        authorityKeyIdentifier by its issuer and serial too, so only this
        very certificate of the CA matches. Returns (cert path, key
        path)."""
        key = _key()
        now = _now()
        if role == "server" and not sans:
            sans = [("DNS", "localhost"), ("IP", "127.0.0.1"), ("IP", "::1")]
        eku = (ExtendedKeyUsageOID.SERVER_AUTH if role == "server"
               else ExtendedKeyUsageOID.CLIENT_AUTH)
        b = (x509.CertificateBuilder()
             .subject_name(_name(cns or [cn if cn is not None else name]))
             .issuer_name(self.cert.subject)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now + datetime.timedelta(seconds=not_before))
             .not_valid_after(now + datetime.timedelta(seconds=not_after))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=True, content_commitment=False,
                 key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=ca, crl_sign=False,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([eku]), critical=False))
        akid = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self.key.public_key())
        if akid_serial:
            akid = x509.AuthorityKeyIdentifier(
                key_identifier=akid.key_identifier,
                authority_cert_issuer=[x509.DirectoryName(self.cert.issuer)],
                authority_cert_serial_number=self.cert.serial_number)
        b = b.add_extension(akid, critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(
                [_general_name(k, v) for k, v in sans]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        self.serials[name] = cert.serial_number
        cert_path, key_path = self.path(name), self.path(name, "key")
        with open(cert_path, "wb") as f:
            f.write(_pem(cert) + self.chain_pem())
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
        return cert_path, key_path

    def der(self, name):
        """The DER of certificate NAME (its leaf)."""
        with open(self.path(name), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        return cert.public_bytes(serialization.Encoding.DER)

    def crl_pem(self, revoked=(), next_update=7 * 86400, last_update=-60,
                number=None):
        """A CRL by this CA revoking |revoked| (names it issued, or Mints
        it signed), PEM. next_update < 0 makes an expired one; |number|
        adds a CRL Number extension."""
        now = _now()
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.cert.subject)
             .last_update(now + datetime.timedelta(seconds=last_update))
             .next_update(now + datetime.timedelta(seconds=next_update)))
        if number is not None:
            b = b.add_extension(x509.CRLNumber(number), critical=False)
        for r in revoked:
            serial = r.serial if isinstance(r, Mint) else self.serials[r]
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now - datetime.timedelta(seconds=120))
                .build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM)

    def crl(self, path, **kw):
        write_atomic(path, self.crl_pem(**kw))
        return path

    def client(self, name):
        """client_context() kwargs for NAME: trusts |root| of this chain."""
        root = self
        while root.parent:
            root = root.parent
        return dict(ca=root.ca_pem, cert=self.path(name),
                    key=self.path(name, "key"))


def reissue(mint, not_before, not_after, extensions=()):
    """|mint|'s CA certificate re-issued by its parent: the same name, key
    and extensions plus |extensions| (critical), a new serial, valid from
    |not_before| to |not_after| (timedeltas from now). PEM."""
    now = _now()
    parent = mint.parent
    b = (x509.CertificateBuilder()
         .subject_name(mint.cert.subject)
         .issuer_name(parent.cert.subject)
         .public_key(mint.key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now + not_before)
         .not_valid_after(now + not_after))
    for ext in list(mint.cert.extensions):
        b = b.add_extension(ext.value, critical=ext.critical)
    for ext in extensions:
        b = b.add_extension(ext, critical=True)
    return _pem(b.sign(parent.key, hashes.SHA256()))


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_bundle(path, *mints):
    """A CA bundle file holding |mints|' certificates."""
    write_atomic(path, b"".join(_pem(m.cert) for m in mints))
    return path
