"""Writes the chain fuzzer's CA bundle and seeds (internal/tls/fuzz/
chain_fuzz.c). //internal/tls/fuzz:chain_fuzz_test runs it before each
fuzzing run (certificates are generated, never committed).

    python3 tests/identity/chain_fuzz_seeds.py SEEDS_DIR FIXTURE_DIR

FIXTURE_DIR: server.pem/.key; bundle.pem: root "fz root", its
intermediates "fz inter", "fz gone" (revoked), "fz p0" (pathLen 0),
"fz srv" (serverAuth only), "fz crit" (an unknown critical extension), a
second root also named "fz root" with another key, a root named "fz
inter" like the intermediate, a root "fz root p0" (pathLen 0); bundle0.pem: bundle.pem plus a self-signed
client certificate; bundle2.pem: bundle.pem plus a re-issue of "fz inter"
(same name and key, a critical clientAuth EKU added); crl.pem: a CRL for
each CA of bundle.pem ("revoked" and "fz gone" revoked); pool.pem: every
certificate of the seeds, which the fuzzer's input may name by number.

SEEDS_DIR: one file per chain, in the fuzzer's form: a byte choosing the
snapshot, then each certificate as a 2-byte big-endian length and its DER,
leaf first; each chain is written for all four snapshots, and again with
its certificates named by pool number ("ref-"), with a few mixes of them.
"""

import datetime
import os
import shutil
import sys
import tempfile
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tests.identity.mint import Mint, reissue  # noqa: E402


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _pem_der(pem):
    return _der(x509.load_pem_x509_certificate(pem))


def _enc(selector, ders):
    out = bytes([selector])
    for d in ders:
        d = d[:0xFFFF]
        out += len(d).to_bytes(2, "big") + d
    return out


def _bad_sig(der):
    """|der| with the last byte of its signature flipped."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def main(seeds, fixture):
    warnings.simplefilter("ignore", UserWarning)  # the 3000-byte CN
    d = tempfile.mkdtemp(prefix="chain-seeds-")
    try:
        _write(d, seeds, fixture)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _write(d, seeds, fixture):
    root = Mint(os.path.join(d, "a"), "fz root")
    inter = root.intermediate("fz inter")
    gone = root.intermediate("fz gone")           # revoked on root's CRL
    outside = root.intermediate("fz outside")     # not in the bundle
    deep = inter.intermediate("fz deep")          # not in the bundle
    twin = Mint(os.path.join(d, "b"), "fz root")  # same name, other key
    # Intermediates of the bundle that may not issue what a client sends
    # through them (tls_verify.c check_issuers): a path length of 0 with
    # an intermediate below it, only serverAuth, an unknown critical
    # extension.
    p0 = _restrict(root.intermediate("fz p0"),
                   bc=x509.BasicConstraints(ca=True, path_length=0))
    p0sub = p0.intermediate("fz p0 sub")          # not in the bundle
    srv = _restrict(root.intermediate("fz srv"), ext=x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]))
    crit = _restrict(root.intermediate("fz crit"),
                     ext=x509.UnrecognizedExtension(
                         x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                         b"\x05\x00"))
    fake = Mint(os.path.join(d, "c"), "fz inter")  # a root named as inter
    # A root with a path length of 0 (as `pki` makes its CA) and an
    # intermediate below it that may not issue.
    rootp0 = _restrict(Mint(os.path.join(d, "e"), "fz root p0"),
                       bc=x509.BasicConstraints(ca=True, path_length=0))
    rootp0sub = rootp0.intermediate("fz root p0 sub")  # not in the bundle

    root.issue("server", role="server")
    leaves = {
        "alice": (inter, dict(sans=[("DNS", "alice.example"),
                                    ("URI", "spiffe://echod/alice")])),
        "bob": (root, dict()),
        "carol": (outside, dict()),
        "dave": (twin, dict()),
        "eve": (fake, dict(cn="alice")),
        "deep": (deep, dict(cn="carol")),
        "gonechild": (gone, dict()),
        "revoked": (inter, dict()),
        "pinned": (inter, dict(akid_serial=True)),
        "cacert": (inter, dict(ca=True)),
        "serverleaf": (inter, dict(role="server")),
        "nulcn": (inter, dict(cn="alice\x00evil")),
        "twocn": (inter, dict(cns=["alice", "evil"])),
        "longcn": (inter, dict(cn="x" * 3000)),
        "p0leaf": (p0, dict()),
        "p0subleaf": (p0sub, dict()),
        # Self-issued (its subject its issuer's name): the path length
        # counts no leaf, this one neither (identity_test
        # test_pathlen_self_issued_leaf).
        "p0subself": (p0sub, dict(cn="fz p0 sub", sans=[
            ("URI", "spiffe://echod/admin")])),
        "rootp0leaf": (rootp0, dict()),
        "rootp0subleaf": (rootp0sub, dict()),
        "srvleaf": (srv, dict()),
        "critleaf": (crit, dict()),
        "expired": (inter, dict(not_before=-86400, not_after=-3600)),
        "future": (inter, dict(not_before=3600, not_after=86400)),
    }
    for name, (mint, kw) in leaves.items():
        mint.issue(name, **kw)

    os.makedirs(fixture, exist_ok=True)
    shutil.copy(root.path("server"), os.path.join(fixture, "server.pem"))
    shutil.copy(root.path("server", "key"),
                os.path.join(fixture, "server.key"))
    os.chmod(os.path.join(fixture, "server.key"), 0o600)
    bundle = b"".join(_pem(m) for m in (root, inter, gone, twin, fake, p0,
                                        srv, crit, rootp0))
    with open(os.path.join(fixture, "bundle.pem"), "wb") as f:
        f.write(bundle)
    selfclient = _self_signed_client(d)
    with open(os.path.join(fixture, "bundle0.pem"), "wb") as f:
        f.write(bundle + selfclient.public_bytes(serialization.Encoding.PEM))
    renewal = reissue(inter, datetime.timedelta(minutes=-1),
                      datetime.timedelta(days=400),
                      [x509.ExtendedKeyUsage(
                          [ExtendedKeyUsageOID.CLIENT_AUTH])])
    with open(os.path.join(fixture, "bundle2.pem"), "wb") as f:
        f.write(bundle + renewal)
    with open(os.path.join(fixture, "crl.pem"), "wb") as f:
        f.write(root.crl_pem(revoked=[gone]) + inter.crl_pem(
            revoked=["revoked"]) + gone.crl_pem() + twin.crl_pem() +
            fake.crl_pem() + p0.crl_pem() + srv.crl_pem() + crit.crl_pem() +
            rootp0.crl_pem())

    def leaf(name):
        return leaves[name][0].der(name)

    I, R, G, O, D = (_der(m.cert) for m in (inter, root, gone, outside,
                                            deep))
    T, F = _der(twin.cert), _der(fake.cert)
    chains = {
        "alice": [leaf("alice")],
        "alice-inter": [leaf("alice"), I],
        "alice-inter-root": [leaf("alice"), I, R],
        "alice-renewal": [leaf("alice"), _pem_der(renewal)],
        "alice-twin": [leaf("alice"), T],
        "alice-fake": [leaf("alice"), F],
        "alice-badsig": [_bad_sig(leaf("alice")), I],
        "alice-badsig-inter": [leaf("alice"), _bad_sig(I)],
        "alice-many": [leaf("alice")] + [I, R] * 5,
        "bob": [leaf("bob")],
        "carol": [leaf("carol"), O],
        "carol-badsig": [leaf("carol"), _bad_sig(O)],
        "deep": [leaf("deep"), D],
        "deep-inter": [leaf("deep"), D, I],
        "dave": [leaf("dave")],
        "p0leaf": [leaf("p0leaf")],
        "p0subleaf": [leaf("p0subleaf"), _der(p0sub.cert)],
        "p0subself": [leaf("p0subself"), _der(p0sub.cert)],
        "rootp0leaf": [leaf("rootp0leaf")],
        "rootp0subleaf": [leaf("rootp0subleaf"), _der(rootp0sub.cert)],
        "srvleaf": [leaf("srvleaf")],
        "critleaf": [leaf("critleaf")],
        "eve": [leaf("eve")],
        "eve-fake": [leaf("eve"), F],
        "gonechild": [leaf("gonechild"), G],
        "revoked": [leaf("revoked")],
        "pinned": [leaf("pinned"), I],
        "cacert": [leaf("cacert")],
        "serverleaf": [leaf("serverleaf")],
        "nulcn": [leaf("nulcn")],
        "twocn": [leaf("twocn")],
        "longcn": [leaf("longcn")],
        "expired": [leaf("expired")],
        "future": [leaf("future")],
        "self-root": [R],
        "self-inter": [I, R],
        "self-twin": [T],
        "server": [root.der("server")],
        "empty": [],
        "garbage": [b"\x30\x03\x02\x01\x00"],
    }
    chains["selfclient"] = [_der(selfclient)]
    chains["selfclient-root"] = [_der(selfclient), R]

    # The pool (the fuzzer's certificates by number): every certificate
    # above, once each, in this order.
    pool = []
    for ders in chains.values():
        for der in ders:
            if der not in pool and len(pool) < 256:
                pool.append(der)
    with open(os.path.join(fixture, "pool.pem"), "wb") as f:
        for der in pool:
            f.write(x509.load_der_x509_certificate(der).public_bytes(
                serialization.Encoding.PEM) if _parses(der) else b"")

    os.makedirs(seeds, exist_ok=True)
    for name, ders in chains.items():
        for sel in range(4):
            with open(os.path.join(seeds, "%s.%d" % (name, sel)), "wb") as f:
                f.write(_enc(sel, ders))
    # The same chains by pool number, and a few mixes of them.
    good = [d for d in pool if _parses(d)]

    def ref(der):
        return (0xFF00 | good.index(der)).to_bytes(2, "big")
    mixes = dict(chains, **{
        "mix-inter-twin-fake": [leaf("alice"), T, F, I, R],
        "mix-deep-rev": [leaf("deep"), I, D],
        "mix-gone-inter": [leaf("gonechild"), I, G, R],
        "mix-renewal-inter": [leaf("pinned"), _pem_der(renewal), I],
        "mix-self-chain": [_der(selfclient), _der(selfclient), R],
    })
    for name, ders in mixes.items():
        if not ders or not all(d in good for d in ders):
            continue
        for sel in range(4):
            with open(os.path.join(seeds, "ref-%s.%d" % (name, sel)),
                      "wb") as f:
                f.write(bytes([sel]) + b"".join(ref(d) for d in ders))


def _restrict(mint, bc=None, ext=None):
    """|mint| re-signed by its parent (itself, a root) with |bc| instead
    of its basicConstraints, or |ext| (critical) added."""
    issuer = mint.parent or mint
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(mint.cert.subject)
         .issuer_name(issuer.cert.subject)
         .public_key(mint.key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=3650)))
    for e in mint.cert.extensions:
        if bc is not None and isinstance(e.value, x509.BasicConstraints):
            b = b.add_extension(bc, critical=True)
        else:
            b = b.add_extension(e.value, critical=e.critical)
    if ext is not None:
        b = b.add_extension(ext, critical=True)
    mint.cert = b.sign(issuer.key, hashes.SHA256())
    mint.serial = mint.cert.serial_number
    return mint


def _parses(der):
    try:
        x509.load_der_x509_certificate(der)
        return True
    except ValueError:
        return False


def _self_signed_client(d):
    """A client certificate that is its own issuer, not a CA and without
    keyUsage (so that it may sign itself), with the clientAuth EKU: the
    bundle holds it as it would a root (a chain of one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selfclient")])
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))


def _pem(mint):
    return mint.cert.public_bytes(serialization.Encoding.PEM)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
