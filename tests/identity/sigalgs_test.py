"""No SHA-1 signatures in the handshake, with --tls-min 1.2 (README
"Trust"). A TLS 1.2 client that can only sign its CertificateVerify with
rsa_pkcs1_sha1 is refused, and a client that accepts only SHA-1 from the
server gets no SHA-1 signature from it. SHA-256 still works for both.
echo-client, the other way round, accepts no SHA-1 signature from a
server (it did: its list kept rsa_pkcs1_sha1).

Before: the server's verify preferences listed rsa_pkcs1_sha1, so such a
client was served (BoringSSL's default signing preferences kept SHA-1
too)."""

import os
import socket
import subprocess
import unittest

from tests.lib import echod

# OpenSSL 3 refuses SHA-1 signatures at its default security level; level
# 0 lets s_client offer them, as an old or hostile client would.
SECLEVEL0 = ["-cipher", "DEFAULT:@SECLEVEL=0", "-tls1_2"]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class SigalgsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = cls.dir = os.path.join(echod.tmpdir("ca-"), "ca")
        for args in (["init", "--key-type", "rsa2048"],
                     ["issue", "server", "srv", "--key-type", "rsa2048",
                      "--dns", "localhost", "--ip", "127.0.0.1"],
                     ["issue", "client", "cli", "--key-type", "rsa2048"]):
            echod.run_tool([echod.binary("cmd/pki"), "--dir", d] + args,
                           timeout=60, check=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def s_client(self, srv, *extra):
        return echod.openssl_s_client(
            srv.port, self.path("cli.pem"), self.path("cli.key"),
            self.path("ca.pem"), b"sha\n", extra=SECLEVEL0 + list(extra),
            timeout=15)

    def failures(self, srv, n):
        echod.wait_until(lambda: len(srv.events("handshake failed")) >= n,
                         10, what="%d handshake failures" % n)
        return [(e["reason"], e.get("detail"))
                for e in srv.events("handshake failed")]

    def test_no_sha1(self):
        with echod.Server("--cert", self.path("srv.pem"),
                          "--key", self.path("srv.key"),
                          "--ca", self.path("ca.pem"),
                          "--tls-min", "1.2", "--no-watch") as srv:
            # The control: SHA-256 both ways is served.
            out, err, _ = self.s_client(srv, "-client_sigalgs", "RSA+SHA256",
                                        "-sigalgs", "RSA+SHA256")
            self.assertEqual(out, b"sha\n", err)
            # The client can sign only with rsa_pkcs1_sha1: no
            # CertificateRequest algorithm fits, it sends no certificate.
            out, err, _ = self.s_client(srv, "-client_sigalgs", "RSA+SHA1")
            self.assertEqual(out, b"", err)
            self.assertEqual(self.failures(srv, 1)[0][0], "no_client_cert")
            # The client accepts only SHA-1 from the server.
            out, err, _ = self.s_client(srv, "-sigalgs", "RSA+SHA1")
            self.assertEqual(out, b"", err)
            self.assertEqual(self.failures(srv, 2)[1],
                             ("protocol", "NO_COMMON_SIGNATURE_ALGORITHMS"))
            srv.stop_clean()

    def openssl_server(self, sigalgs):
        """openssl s_server on a free port, TLS 1.2, signing only with
        |sigalgs|, reversing each line it gets (-rev)."""
        port = echod.free_port()
        proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
             "-cert", self.path("srv.pem"), "-key", self.path("srv.key"),
             "-CAfile", self.path("ca.pem"), "-Verify", "1",
             "-sigalgs", sigalgs, "-rev", "-quiet"] + SECLEVEL0,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        echod.wait_until(lambda: listening(port), 10,
                         what="openssl s_server")
        return port

    def echo_client(self, port):
        return echod.run_tool(
            [echod.binary("cmd/client"), "--connect", "127.0.0.1:%d" % port,
             "--ca", self.path("ca.pem"), "--cert", self.path("cli.pem"),
             "--key", self.path("cli.key"), "--servername", "localhost",
             "--tls-min", "1.2", "--quiet"], input="hello\n", timeout=20)

    def test_client_takes_no_sha1_from_a_server(self):
        r = self.echo_client(self.openssl_server("RSA+SHA256"))
        self.assertEqual((r.returncode, r.stdout), (0, "olleh\n"), r.stderr)
        r = self.echo_client(self.openssl_server("RSA+SHA1"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("handshake_failure", r.stderr)


if __name__ == "__main__":
    unittest.main()
