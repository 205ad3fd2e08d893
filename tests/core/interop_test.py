"""Interop with independent clients: `openssl s_client` and python's ssl
module echo correctly; `sslscan` finds no protocol below the configured
minimum and no non-AEAD cipher (default TLS 1.3, and --tls-min 1.2)."""

import os
import re
import shutil
import ssl
import unittest

from tests.lib import echod

AEAD = re.compile(r"GCM|CHACHA20|POLY1305|CCM")


def s_client(port, paths, data, extra=(), timeout=30):
    return echod.openssl_s_client(port, paths["cert"], paths["key"],
                                  paths["ca"], data,
                                  extra=["-verify_ip", "127.0.0.1"] +
                                  list(extra), timeout=timeout)


def sslscan(port, paths):
    """Runs sslscan; returns {"protocols": {name: enabled}, "ciphers":
    [(version, name)]}."""
    r = echod.run_tool(
        ["sslscan", "--no-colour", "--no-heartbleed", "--no-renegotiation",
         "--no-compression", "--no-fallback", "--no-check-certificate",
         "--no-groups", "--certfile=" + paths["cert"],
         "--keyfile=" + paths["key"], "127.0.0.1:%d" % port], timeout=120)
    protocols, ciphers = {}, []
    for line in r.stdout.splitlines():
        m = re.match(r"^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)",
                     line)
        if m:
            protocols[m.group(1)] = m.group(2) == "enabled"
        m = re.match(r"^(Preferred|Accepted)\s+(\S+)\s+\d+ bits\s+(\S+)",
                     line)
        if m:
            ciphers.append((m.group(2), m.group(3)))
    if not protocols:
        raise AssertionError("cannot parse sslscan output:\n" + r.stdout +
                             r.stderr)
    return dict(protocols=protocols, ciphers=ciphers, raw=r.stdout)


class InteropTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = echod.Server()
        cls.srv12 = echod.Server("--tls-min", "1.2")
        cls.paths = cls.srv.dev_client()
        cls.paths12 = cls.srv12.dev_client()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.srv12):
            s.stop_clean()

    def test_openssl_s_client_echo(self):
        data = b"hello from openssl\n" + bytes(range(1, 256)) + \
            os.urandom(200000).replace(b"\n", b" ")
        out, err, rc = s_client(self.srv.port, self.paths, data)
        self.assertTrue(out == data, "echo differs: got %d of %d bytes; %s"
                        % (len(out), len(data), err))
        self.assertIn("Protocol version: TLSv1.3", err)
        self.assertIn("Verification: OK", err)
        self.assertEqual(rc, 0, err)

    def test_openssl_s_client_tls12(self):
        data = b"tls 1.2 line\n"
        out, err, rc = s_client(self.srv12.port, self.paths12, data,
                                extra=["-tls1_2"])
        self.assertEqual(out, data, err)
        self.assertIn("Protocol version: TLSv1.2", err)
        m = re.search(r"Ciphersuite: (\S+)", err)
        self.assertTrue(m and m.group(1).startswith("ECDHE-") and
                        AEAD.search(m.group(1)), err)

    def test_openssl_s_client_tls12_refused_by_default(self):
        out, err, rc = s_client(self.srv.port, self.paths, b"x",
                                extra=["-tls1_2"], timeout=15)
        self.assertEqual(out, b"")
        self.assertNotEqual(rc, 0)
        self.assertIn("protocol version", err.lower())

    def test_python_ssl_echo(self):
        ctx = echod.client_context(**self.paths)
        data = os.urandom(300000)
        with echod.connect(self.srv.port, ctx) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            self.assertEqual(echod.echo(s, data), data)
            self.assertTrue(echod.close_tls(s))

    def test_python_ssl_tls12_echo(self):
        ctx = echod.client_context(**self.paths12,
                                   max_version=ssl.TLSVersion.TLSv1_2)
        with echod.connect(self.srv12.port, ctx) as s:
            self.assertEqual(s.version(), "TLSv1.2")
            name = s.cipher()[0]
            self.assertTrue(name.startswith("ECDHE-") and AEAD.search(name),
                            name)
            self.assertEqual(echod.echo(s, b"twelve"), b"twelve")

    def test_python_refuses_legacy_ciphers_on_tls12(self):
        # Offer only non-AEAD / non-ECDHE suites: the server must refuse.
        ctx = echod.client_context(**self.paths12,
                                   max_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA:"
                        "ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256:"
                        "ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0")
        alert, lport = echod.refused_alert(self.srv12.port, ctx)
        self.assertEqual(self.srv12.handshake_failure(lport), "protocol")

    @unittest.skipUnless(shutil.which("sslscan"), "sslscan not installed")
    def test_sslscan_default_tls13_only(self):
        res = sslscan(self.srv.port, self.paths)
        p = res["protocols"]
        for v in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2"):
            self.assertFalse(p.get(v, False), "%s enabled:\n%s"
                             % (v, res["raw"]))
        self.assertTrue(p.get("TLSv1.3"), res["raw"])
        self.assertTrue(res["ciphers"], res["raw"])
        for ver, name in res["ciphers"]:
            self.assertEqual(ver, "TLSv1.3", res["raw"])
            self.assertRegex(name, AEAD)

    @unittest.skipUnless(shutil.which("sslscan"), "sslscan not installed")
    def test_sslscan_tls12_minimum(self):
        res = sslscan(self.srv12.port, self.paths12)
        p = res["protocols"]
        for v in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
            self.assertFalse(p.get(v, False), "%s enabled:\n%s"
                             % (v, res["raw"]))
        self.assertTrue(p.get("TLSv1.2"), res["raw"])
        self.assertTrue(p.get("TLSv1.3"), res["raw"])
        # sslscan 2.0.7 does not present --certfile while enumerating
        # ciphers, so against a server that requires a client certificate
        # it may list no TLS 1.2 suites; what it does list must be AEAD.
        # test_cipher_scan_tls12 enumerates them with a client cert.
        for ver, name in res["ciphers"]:
            self.assertRegex(name, AEAD, "non-AEAD cipher %s %s" % (ver, name))
            if ver == "TLSv1.2":
                self.assertTrue(name.startswith("ECDHE-"),
                                "TLS 1.2 suite without ECDHE: %s" % name)

    def test_cipher_scan_tls12(self):
        """Offers every pre-1.3 cipher suite python's OpenSSL knows, one at
        a time, with the client certificate: only ECDHE + AEAD suites may
        complete a TLS 1.2 handshake; TLS 1.0 and 1.1 never do."""
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
        names = sorted({c["name"] for c in probe.get_ciphers()
                        if c["protocol"] != "TLSv1.3"})
        self.assertGreater(len(names), 20)
        accepted = []
        for name in names:
            ctx = echod.client_context(**self.paths12,
                                       max_version=ssl.TLSVersion.TLSv1_2)
            try:
                ctx.set_ciphers(name + ":@SECLEVEL=0")
            except ssl.SSLError:
                continue
            try:
                with echod.connect(self.srv12.port, ctx, timeout=10) as s:
                    if echod.echo(s, b"c", timeout=10) == b"c":
                        accepted.append((s.version(), s.cipher()[0]))
            except (ssl.SSLError, OSError):
                pass
        print("TLS 1.2 suites accepted: %s" % accepted)
        self.assertTrue(accepted, "no TLS 1.2 suite accepted")
        for ver, name in accepted:
            self.assertEqual(ver, "TLSv1.2")
            self.assertTrue(name.startswith("ECDHE-") and AEAD.search(name),
                            "accepted non-ECDHE/AEAD suite %s" % name)
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            ctx = echod.client_context(**self.paths12, min_version=v,
                                       max_version=v)
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            with self.assertRaises((ssl.SSLError, OSError),
                                   msg="%s accepted" % v):
                with echod.connect(self.srv12.port, ctx, timeout=10) as s:
                    echod.echo(s, b"old", timeout=10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
