"""Writes the identity fuzzer's seeds: the DER of the certificates the
identity tests mint, good and hostile. //internal/tls/fuzz:fuzz_test runs
it before each fuzzing run (certificates are generated, never committed).

    python3 tests/identity/fuzz_seeds.py OUT_DIR"""

import os
import sys
import tempfile

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tests.identity.mint import Mint  # noqa: E402


def main(out):
    d = tempfile.mkdtemp(prefix="seeds-")
    root = Mint(d, "seed root")
    inter = root.intermediate("seed inter")
    certs = [
        (root, "server", dict(role="server")),
        (root, "alice", dict(sans=[("DNS", "alice.example"),
                                   ("URI", "spiffe://echod/alice"),
                                   ("email", "alice@example.com"),
                                   ("IP", "10.0.0.1"), ("IP", "::1")])),
        (root, "comma-uri", dict(cn="mallory", sans=[
            ("URI", "spiffe://echod/mallory,URI:spiffe://echod/admin")])),
        (root, "comma-email", dict(sans=[("email",
                                          "mallory,admin@example.com")])),
        (root, "nul-cn", dict(cn="alice\x00evil")),
        (root, "nul-dns", dict(sans=[("DNS", "admin\x00.attacker.example")])),
        (root, "esc-cn", dict(cn="alice\x1b[31m")),
        (root, "c1-cn", dict(cn="alice\u009b")),
        (root, "unicode-cn", dict(cn="\u00e9l\u00e8ve \u6f22")),
        (root, "two-cn", dict(cns=["alice", "evil"])),
        (root, "ca-leaf", dict(ca=True)),
        (root, "long-cn", dict(cn="c" * 200)),
        (root, "quoted-cn", dict(cn='q "x"=1 \\ y')),
        (root, "percent-uri", dict(sans=[("URI", "spiffe://a%2Cb/%")])),
        (inter, "carol", dict()),
    ]
    os.makedirs(out, exist_ok=True)
    for mint, name, kw in certs:
        mint.issue(name, **kw)
        with open(os.path.join(out, name + ".der"), "wb") as f:
            f.write(mint.der(name))
    with open(os.path.join(out, "inter.der"), "wb") as f:
        f.write(inter.cert.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    main(sys.argv[1])
