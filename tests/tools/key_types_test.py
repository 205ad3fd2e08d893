"""Every key type echo-pki offers (p256, p384, ed25519, rsa2048, rsa3072,
rsa4096) works as the server's certificate and as the client's, against
echo-client, openssl s_client and Python's ssl module (issue 13: an
Ed25519 client failed every handshake, an Ed25519 server gave
NO_COMMON_SIGNATURE_ALGORITHMS). One CA per CA key type, one server per
leaf key type, three clients each: seconds, not minutes."""

import os
import ssl
import subprocess
import unittest

from tests.lib import echod

KEY_TYPES = ["p256", "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096"]


class KeyTypes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dirs = {}
        # The leaves under a P-256 CA; an Ed25519 CA signs Ed25519 leaves.
        for ca_type, leaves in (("p256", KEY_TYPES), ("ed25519", ["ed25519"])):
            d = os.path.join(echod.tmpdir("ca-"), "ca")
            cls.pki(d, "init", "--key-type", ca_type)
            for kt in leaves:
                cls.pki(d, "issue", "server", "srv-" + kt, "--key-type", kt)
                cls.pki(d, "issue", "client", "cli-" + kt, "--key-type", kt)
            cls.dirs[ca_type] = d

    @staticmethod
    def pki(d, *args):
        r = echod.run_tool([echod.binary("cmd/pki"), "--dir", d] + list(args),
                           timeout=60)
        if r.returncode != 0:
            raise AssertionError("echo-pki %s: %s" % (args, r.stderr))

    def serve(self, ca_type, kt, *extra):
        d = self.dirs[ca_type]
        return echod.Server("--cert", os.path.join(d, "srv-%s.pem" % kt),
                            "--key", os.path.join(d, "srv-%s.key" % kt),
                            "--ca", os.path.join(d, "ca.pem"), *extra)

    def client_files(self, ca_type, kt):
        d = self.dirs[ca_type]
        return (os.path.join(d, "ca.pem"), os.path.join(d, "cli-%s.pem" % kt),
                os.path.join(d, "cli-%s.key" % kt))

    def check_all_clients(self, srv, ca_type, kt, tls12=False):
        ca, cert, key = self.client_files(ca_type, kt)
        data = ("%s over %s" % (kt, "TLS 1.2" if tls12 else "TLS 1.3")).encode()
        if not tls12:  # echo-client offers 1.3 first: no --tls-max
            r = echod.run_client(["--connect", "127.0.0.1:%d" % srv.port,
                                  "--servername", "localhost", "--ca", ca,
                                  "--cert", cert, "--key", key, "--quiet"],
                                 input=data)
            self.assertEqual((r.returncode, r.stdout), (0, data), r.stderr)
        extra = ["-servername", "localhost"] + (["-tls1_2"] if tls12 else [])
        out, err, rc = echod.openssl_s_client(srv.port, cert, key, ca, data,
                                              extra=extra)
        self.assertIn(data, out, "openssl s_client: %s" % err)
        ctx = echod.client_context(
            ca=ca, cert=cert, key=key,
            max_version=ssl.TLSVersion.TLSv1_2 if tls12 else None)
        with echod.connect(srv.port, ctx) as s:
            self.assertEqual(echod.echo(s, data), data)
            want = "TLSv1.2" if tls12 else "TLSv1.3"
            self.assertEqual(s.version(), want)

    def test_every_key_type_as_server_and_client(self):
        for kt in KEY_TYPES:
            with self.subTest(key_type=kt):
                with self.serve("p256", kt) as srv:
                    self.check_all_clients(srv, "p256", kt)
                self.assertEqual(srv.returncode, 0, srv.log_tail())

    def test_ed25519_ca(self):
        with self.serve("ed25519", "ed25519") as srv:
            self.check_all_clients(srv, "ed25519", "ed25519")

    def test_tls12(self):
        """--tls-min 1.2: ECDSA, RSA and Ed25519 leaves over TLS 1.2."""
        for kt in ("p256", "rsa2048", "ed25519"):
            with self.subTest(key_type=kt):
                with self.serve("p256", kt, "--tls-min", "1.2") as srv:
                    self.check_all_clients(srv, "p256", kt, tls12=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
