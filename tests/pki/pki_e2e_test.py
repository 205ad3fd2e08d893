"""End-to-end tests of the pki CLI (//cmd:pki) and //pki:testca_tool.

Runs the real binaries in a fresh temporary directory per test and checks
what they write with an independent implementation, the openssl CLI:
chains verify for the right purpose only, CRLs revoke, the SANs and EKUs
asked for are there. Every bad input must exit 2 (usage) or 1 (failure)
with one line on stderr and leave the CA directory byte-identical.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

SRC = os.path.join(os.environ.get("TEST_SRCDIR", ""), "echod")
PKI = os.path.join(SRC, "cmd", "pki")
TESTCA = os.path.join(SRC, "pki", "testca_tool")
TIMEOUT = 120


def run(cmd, env=None, check=False):
    """Runs cmd; returns (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=full_env,
                       timeout=TIMEOUT, check=False)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (
            cmd, p.returncode, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def snapshot(root):
    """Maps every path under root to (mode, sha256 of contents)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, root)] = (st.st_mode, digest)
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class PkiTest(unittest.TestCase):

    def setUp(self):
        base = os.environ.get("TEST_TMPDIR") or None
        self.tmp = tempfile.mkdtemp(prefix="pki-e2e-", dir=base)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.dir = os.path.join(self.tmp, "ca")

    # ---- helpers ---------------------------------------------------------

    def pki(self, *args, env=None, check=True, dir_=None):
        return run([PKI, "--dir", dir_ or self.dir] + list(args), env=env,
                   check=check)

    def path(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        return run(["openssl"] + list(args))

    def verify(self, leaf, purpose=None, crl=False, ca="ca.pem"):
        args = ["verify", "-CAfile", self.path(ca)]
        if purpose:
            args += ["-purpose", purpose]
        if crl:
            args += ["-crl_check", "-CRLfile", self.path("crl.pem")]
        rc, out, err = self.openssl(*(args + [self.path(leaf)]))
        return rc, out + err

    def x509_text(self, name):
        return self.openssl("x509", "-noout", "-text", "-in",
                            self.path(name))[1]

    def assert_refused(self, args, want_rc, want_msg, dir_=None):
        """Runs pki with args; checks exit code, one-line message and that
        the directory did not change."""
        root = dir_ or self.dir
        before = snapshot(root) if os.path.isdir(root) else None
        rc, out, err = self.pki(*args, check=False, dir_=dir_)
        self.assertEqual(rc, want_rc, "%s: %s%s" % (args, out, err))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "%s: stderr %r" % (args, err))
        self.assertTrue(lines[0].startswith("echo-pki: error: "), lines[0])
        self.assertIn(want_msg, lines[0], args)
        after = snapshot(root) if os.path.isdir(root) else None
        self.assertEqual(before, after, "%s changed the directory" % (args,))

    def init(self, *args):
        self.pki("init", *args)

    # ---- init ------------------------------------------------------------

    def test_init_in_state_dir(self):
        state = os.path.join(self.tmp, "state")
        rc, out, _ = run([PKI, "init"], env={"ECHOD_STATE_DIR": state},
                         check=True)
        d = os.path.join(state, "pki")
        self.assertIn(d, out)
        self.assertEqual(mode(d), 0o700)
        self.assertEqual(mode(os.path.join(d, "ca.key")), 0o600)
        for f in ("ca.pem", "crl.pem", "index.json"):
            self.assertTrue(os.path.isfile(os.path.join(d, f)), f)
        text = self.openssl("x509", "-noout", "-text", "-in",
                            os.path.join(d, "ca.pem"))[1]
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE")
        self.assertRegex(text,
                         r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertIn("Subject Key Identifier", text)
        self.assertIn("ecdsa-with-SHA256", text)
        self.assertIn("Subject: CN = echod dev CA", text)
        serial = re.search(r"Serial Number:\s*\n\s*([0-9a-f:]+)", text)
        self.assertEqual(len(serial.group(1).replace(":", "")), 32)
        # The empty CRL is signed by the CA.
        rc, out, err = self.openssl("crl", "-noout", "-in",
                                    os.path.join(d, "crl.pem"), "-CAfile",
                                    os.path.join(d, "ca.pem"))
        self.assertEqual(rc, 0, err)
        self.assertIn("verify OK", out + err)

    def test_init_refuses_existing_then_force(self):
        self.init("--cn", "First CA", "--days", "30")
        text = self.x509_text("ca.pem")
        self.assertIn("CN = First CA", text)
        self.assert_refused(["init"], 1, "--force")
        self.pki("init", "--force")
        self.assertIn("CN = echod dev CA", self.x509_text("ca.pem"))

    # ---- issue -----------------------------------------------------------

    def test_client_cert(self):
        self.init()
        self.pki("issue", "client", "alice", "--dns", "alice.example",
                 "--uri", "spiffe://echod/alice", "--email",
                 "alice@example.com")
        self.assertEqual(mode(self.path("alice.key")), 0o600)
        self.assertEqual(mode(self.dir), 0o700)
        rc, out = self.verify("alice.pem", "sslclient")
        self.assertEqual(rc, 0, out)
        self.assertIn("alice.pem: OK", out)
        rc, out = self.verify("alice.pem", "sslserver")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unsuitable certificate purpose", out)
        text = self.x509_text("alice.pem")
        self.assertIn("Subject: CN = alice", text)
        self.assertIn("TLS Web Client Authentication", text)
        self.assertNotIn("TLS Web Server Authentication", text)
        self.assertIn("DNS:alice.example", text)
        self.assertIn("URI:spiffe://echod/alice", text)
        self.assertIn("email:alice@example.com", text)
        self.assertIn("Authority Key Identifier", text)
        self.assertRegex(text, r"Key Usage: critical\s+Digital Signature")
        # The key matches the certificate; the chain is leaf + CA.
        cert_pub = self.openssl("x509", "-noout", "-pubkey", "-in",
                                self.path("alice.pem"))[1]
        key_pub = self.openssl("pkey", "-pubout", "-in",
                               self.path("alice.key"))[1]
        self.assertEqual(cert_pub, key_pub)
        with open(self.path("alice-chain.pem")) as f:
            chain = f.read()
        with open(self.path("alice.pem")) as f:
            leaf = f.read()
        with open(self.path("ca.pem")) as f:
            ca = f.read()
        self.assertEqual(chain, leaf + ca)

    def test_server_cert_default_and_explicit_sans(self):
        self.init()
        self.pki("issue", "server", "web")
        rc, out = self.verify("web.pem", "sslserver")
        self.assertEqual(rc, 0, out)
        rc, out = self.verify("web.pem", "sslclient")
        self.assertNotEqual(rc, 0, out)
        text = self.x509_text("web.pem")
        self.assertIn("TLS Web Server Authentication", text)
        for san in ("DNS:localhost", "IP Address:127.0.0.1",
                    "IP Address:0:0:0:0:0:0:0:1"):
            self.assertIn(san, text)
        self.pki("issue", "server", "api", "--dns", "api.example.com",
                 "--ip", "10.1.2.3", "--ip", "2001:db8::1", "--days", "90")
        text = self.x509_text("api.pem")
        self.assertIn("DNS:api.example.com", text)
        self.assertIn("IP Address:10.1.2.3", text)
        self.assertIn("IP Address:2001:DB8:0:0:0:0:0:1", text)
        self.assertNotIn("localhost", text)
        end = self.openssl("x509", "-noout", "-enddate", "-in",
                           self.path("api.pem"))[1].split("=", 1)[1].strip()
        left = time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y GMT")) - \
            time.mktime(time.gmtime())
        self.assertTrue(89 * 86400 < left <= 90 * 86400 + 60, left)
        rc, out = self.verify("api.pem", "sslserver")
        self.assertEqual(rc, 0, out)

    def test_every_key_type(self):
        # Large RSA keys are slow to generate (more so under ASan): RSA 3072
        # and 4096 make only a CA (with a P-256 leaf); every other type
        # makes both the CA and the leaf.
        for kt in ("p256", "p384", "rsa2048", "rsa3072", "rsa4096",
                   "ed25519"):
            d = os.path.join(self.tmp, kt)
            leaf_kt = "p256" if kt in ("rsa3072", "rsa4096") else kt
            self.pki("init", "--key-type", kt, dir_=d)
            self.pki("issue", "client", "c", "--key-type", leaf_kt, dir_=d)
            rc, out, err = self.openssl(
                "verify", "-CAfile", os.path.join(d, "ca.pem"), "-purpose",
                "sslclient", "-crl_check", "-CRLfile",
                os.path.join(d, "crl.pem"), os.path.join(d, "c.pem"))
            self.assertEqual(rc, 0, "%s: %s%s" % (kt, out, err))
            rc, out, _ = run([PKI, "--dir", d, "show", "c", "--json"],
                             check=True)
            self.assertEqual(json.loads(out)["key_type"], leaf_kt)
            rc, out, _ = run([PKI, "--dir", d, "show", "ca", "--json"],
                             check=True)
            self.assertEqual(json.loads(out)["key_type"], kt)

    # ---- revoke and crl --------------------------------------------------

    def test_revoke_and_crl(self):
        self.init()
        self.pki("issue", "client", "bob")
        self.pki("issue", "client", "carol")
        rc, out = self.verify("bob.pem", "sslclient", crl=True)
        self.assertEqual(rc, 0, out)
        _, out, _ = self.pki("revoke", "bob", "--reason", "keyCompromise")
        self.assertIn("revoked", out)
        rc, out = self.verify("bob.pem", "sslclient", crl=True)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("certificate revoked", out)
        rc, out = self.verify("carol.pem", "sslclient", crl=True)
        self.assertEqual(rc, 0, out)
        rc, out, err = self.openssl("crl", "-noout", "-text", "-in",
                                    self.path("crl.pem"), "-CAfile",
                                    self.path("ca.pem"))
        self.assertEqual(rc, 0, err)
        self.assertIn("verify OK", out + err)
        self.assertIn("Key Compromise", out)
        self.assertIn("X509v3 CRL Number", out)
        self.assertIn("X509v3 Authority Key Identifier", out)
        serial = self.openssl("x509", "-noout", "-serial", "-in",
                              self.path("bob.pem"))[1].split("=")[1].strip()
        self.assertIn("Serial Number: " + serial, out)
        nxt = self.openssl("crl", "-noout", "-nextupdate", "-in",
                           self.path("crl.pem"))[1].split("=", 1)[1].strip()
        left = time.mktime(time.strptime(nxt, "%b %d %H:%M:%S %Y GMT")) - \
            time.mktime(time.gmtime())
        self.assertTrue(7 * 86400 - 120 < left <= 7 * 86400 + 60, left)
        # By serial (as openssl prints it), and crl --days.
        carol = self.openssl("x509", "-noout", "-serial", "-in",
                             self.path("carol.pem"))[1].split("=")[1].strip()
        self.pki("revoke", carol.lower())
        rc, out = self.verify("carol.pem", "sslclient", crl=True)
        self.assertIn("certificate revoked", out)
        self.pki("crl", "--days", "3")
        nxt = self.openssl("crl", "-noout", "-nextupdate", "-in",
                           self.path("crl.pem"))[1].split("=", 1)[1].strip()
        left = time.mktime(time.strptime(nxt, "%b %d %H:%M:%S %Y GMT")) - \
            time.mktime(time.gmtime())
        self.assertTrue(3 * 86400 - 120 < left <= 3 * 86400 + 60, left)
        rc, out = self.verify("bob.pem", "sslclient", crl=True)
        self.assertIn("certificate revoked", out)

    def test_crl_if_due(self):
        # A fresh CRL is left alone (same bytes, exit 0, says why); a
        # missing one is written. When less than half is left:
        # pki_test test_crl_due.
        self.init()
        with open(self.path("crl.pem"), "rb") as f:
            before = f.read()
        _, out, _ = self.pki("crl", "--if-due")
        self.assertIn("not due (over half its validity and 2 days left), "
                      "not re-signed", out)
        with open(self.path("crl.pem"), "rb") as f:
            self.assertEqual(f.read(), before)
        os.unlink(self.path("crl.pem"))
        _, out, _ = self.pki("crl", "--if-due")
        self.assertIn("wrote", out)
        rc, out, err = self.openssl("crl", "-noout", "-crlnumber", "-in",
                                    self.path("crl.pem"), "-CAfile",
                                    self.path("ca.pem"))
        self.assertEqual(rc, 0, err)
        self.assertIn("verify OK", out + err)
        self.assertEqual(out.strip(), "crlNumber=0x02")

    def test_concurrent_issues_all_recorded(self):
        # Writers serialise on the directory's lock: no update is lost.
        self.init()
        procs = [subprocess.Popen([PKI, "--dir", self.dir, "issue", "client",
                                   "c%d" % i], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
                 for i in range(8)]
        try:
            for p in procs:
                _, err = p.communicate(timeout=TIMEOUT)
                self.assertEqual(p.returncode, 0, err)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        _, out, _ = self.pki("list", "--json")
        self.assertEqual(sorted(e["name"] for e in json.loads(out)),
                         ["c%d" % i for i in range(8)])
        for i in range(8):
            rc, out = self.verify("c%d.pem" % i, "sslclient", crl=True)
            self.assertEqual(rc, 0, out)

    # ---- list and show ---------------------------------------------------

    def test_list_and_show(self):
        self.init()
        self.pki("issue", "server", "web")
        self.pki("issue", "client", "alice", "--uri", "spiffe://echod/alice")
        self.pki("revoke", "web", "--reason", "superseded")
        _, out, _ = self.pki("list")
        self.assertRegex(out, r"web\s+server\s+[0-9A-F]{32}\s+\S+Z\s+\S+Z "
                         r"superseded")
        self.assertRegex(out, r"alice\s+client\s+[0-9A-F]{32}\s+\S+Z\s+no")
        _, out, _ = self.pki("list", "--json")
        entries = json.loads(out)
        self.assertEqual([e["name"] for e in entries], ["web", "alice"])
        self.assertEqual([e["role"] for e in entries], ["server", "client"])
        self.assertEqual([e["revoked"] for e in entries], [True, False])
        for e in entries:
            self.assertRegex(e["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        _, out, _ = self.pki("show", "alice", "--json")
        d = json.loads(out)
        fp = self.openssl("x509", "-noout", "-fingerprint", "-sha256", "-in",
                          self.path("alice.pem"))[1].split("=")[1].strip()
        serial = self.openssl("x509", "-noout", "-serial", "-in",
                              self.path("alice.pem"))[1].split("=")[1].strip()
        self.assertEqual(d["sha256"], fp.replace(":", "").lower())
        self.assertEqual(d["serial"], serial)
        self.assertEqual(d["subject"], "CN=alice")
        self.assertEqual(d["issuer"], "CN=echod dev CA")
        self.assertEqual(d["sans"], ["URI:spiffe://echod/alice"])
        self.assertEqual(d["ekus"], ["clientAuth"])
        _, out, _ = self.pki("show", "alice")
        self.assertIn(fp, out)
        self.assertIn("URI:spiffe://echod/alice", out)
        self.assertIn("clientAuth", out)
        self.assertRegex(out, r"not after:\s+\d{4}-")
        _, out, _ = self.pki("show", serial)
        self.assertIn("subject:     CN=alice", out)

    # ---- refusals --------------------------------------------------------

    def test_bad_input(self):
        self.init()
        self.pki("issue", "client", "alice")
        self.pki("issue", "client", "gone")
        self.pki("revoke", "gone")
        cases = [
            (["frobnicate"], 2, "unknown command"),
            (["issue"], 2, "missing"),
            (["issue", "client"], 2, "missing NAME"),
            (["issue", "robot", "x"], 2, "\"server\" or \"client\""),
            (["issue", "server", "s", "--ip", "300.1.1.1"], 2,
             "invalid IP address \"300.1.1.1\""),
            (["issue", "server", "s", "--ip", "localhost"], 2,
             "invalid IP address"),
            (["issue", "server", "s", "--dns", "bad..name"], 2,
             "invalid DNS name"),
            (["issue", "client", "x", "--uri", "nope"], 2, "invalid URI"),
            (["issue", "client", "x", "--email", "nope"], 2,
             "invalid email"),
            (["issue", "client", "../evil"], 2, "invalid name"),
            (["issue", "client", ".hidden"], 2, "invalid name"),
            (["issue", "client", "a b"], 2, "invalid name"),
            (["issue", "client", "ca"], 2, "reserved"),
            (["issue", "client", "x-chain"], 2, "reserved"),
            (["issue", "client", "alice"], 1, "already exists"),
            (["issue", "client", "x", "--bogus"], 2, "unknown option"),
            (["issue", "client", "x", "--dns"], 2, "needs a value"),
            (["issue", "client", "x", "--days", "0"], 2, "invalid --days"),
            (["issue", "client", "x", "--days", "ten"], 2, "invalid --days"),
            (["issue", "client", "x", "--key-type", "dsa"], 2,
             "invalid --key-type"),
            (["issue", "client", "x", "extra"], 2, "unexpected argument"),
            (["revoke"], 2, "missing NAME"),
            (["revoke", "nobody"], 1, "no certificate named"),
            (["revoke", "alice", "--reason", "bored"], 2, "invalid --reason"),
            (["revoke", "gone"], 1, "already revoked"),
            (["show"], 2, "missing NAME"),
            (["show", "nobody"], 1, "no certificate named"),
            (["list", "extra"], 2, "unexpected argument"),
            (["list", "--force"], 2, "unknown option"),
            (["init"], 1, "already exists"),
            (["init", "--key-type", "rsa1024"], 2, "invalid --key-type"),
            (["crl", "--days", "-1"], 2, "invalid --days"),
        ]
        for args, want_rc, want_msg in cases:
            with self.subTest(args=args):
                self.assert_refused(args, want_rc, want_msg)
        self.assert_refused(["list", "--dir", ""], 2, "empty --dir")
        # No command at all.
        rc, _, err = run([PKI], check=False)
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("missing command", err)

    def test_no_ca(self):
        os.mkdir(self.dir, 0o700)
        for args in (["list"], ["issue", "client", "x"], ["revoke", "x"],
                     ["crl"], ["show", "x"]):
            with self.subTest(args=args):
                self.assert_refused(args, 1, "no CA in")
        # The hint is the command that works, as the tool was started.
        self.assert_refused(["list"], 1, "create one with: echo-pki --dir %s "
                            "init" % self.dir)
        rc, _, err = self.pki("list", check=False,
                              env={"BUILD_WORKSPACE_DIRECTORY": self.tmp})
        self.assertIn("create one with: bazel run //cmd:pki -- --dir %s init"
                      % self.dir, err)

    # ---- names, CNs and SANs: printable in, exactly out ------------------

    def test_control_characters_refused(self):
        """Every name, CN and SAN with a control character is refused with
        one line that shows it escaped; the CA directory is untouched.
        (NUL cannot reach pki at all: argv strings end at the first NUL.)"""
        self.init()
        cases = []
        for c in ("\x01", "\x07", "\x1b", "\t", "\n", "\r", "\x7f"):
            shown = "\\x%02x" % ord(c)
            cases += [
                (["issue", "client", "x", "--cn", "a%sb" % c], shown),
                (["issue", "client", "x", "--uri", "spiffe://e/%s" % c],
                 shown),
                (["issue", "client", "x", "--email", "a%s@example.com" % c],
                 shown),
                (["issue", "server", "x", "--dns", "a%s.example" % c], shown),
                (["issue", "server", "x", "--ip", "127.0.0.1%s" % c], shown),
                (["issue", "client", "x%s" % c], "invalid name"),
            ]
        cases += [
            (["issue", "client", "x", "--cn", "c1 \u0085 \u009b"],
             "\\xc2\\x85"),
            (["issue", "client", "x", "--uri", "spiffe://caf\u00e9"],
             "non-ASCII"),
        ]
        for args, shown in cases:
            with self.subTest(args=args):
                self.assert_refused(args, 2, shown)
        rc, _, err = run([PKI, "--dir", self.tmp + "/ca2", "init", "--cn",
                          "evil\x1b]0;t\x07"], check=False)
        self.assertEqual(rc, 2)
        self.assertIn("control character", err)
        self.assertFalse(os.path.exists(self.tmp + "/ca2"))

    def test_printable_names_round_trip(self):
        """Commas, quotes, spaces and UTF-8 go in and come out exactly:
        issue, show (human and --json), list, and an independent parser."""
        import ssl
        cn = 'Zoë "Z", the admin'
        uri = "spiffe://echod/mallory,URI:spiffe://echod/admin"
        email = 'mallory,"a b"@example.com'
        ca_cn = "Bob's CA, Ünïcode"
        self.pki("init", "--cn", ca_cn)
        self.pki("issue", "client", "zoe", "--cn", cn, "--uri", uri,
                 "--email", email)
        _, out, _ = self.pki("show", "zoe", "--json")
        d = json.loads(out)
        self.assertEqual(d["cn"], cn)
        self.assertEqual(d["sans"], ["URI:" + uri, "email:" + email])
        _, out, _ = self.pki("show", "zoe")
        self.assertIn("cn:          %s\n" % cn, out)
        self.assertIn("URI:%s, email:%s" % (uri, email), out)
        _, out, _ = self.pki("show", "ca", "--json")
        self.assertEqual(json.loads(out)["cn"], ca_cn)
        _, out, _ = self.pki("list", "--json")
        self.assertEqual([e["name"] for e in json.loads(out)], ["zoe"])
        _, out, _ = self.pki("list")
        self.assertRegex(out, r"\nzoe\s+client\s")
        # Python's own X.509 parser sees one URI and one email, exactly.
        dec = ssl._ssl._test_decode_cert(self.path("zoe.pem"))
        self.assertEqual(dec["subject"], ((("commonName", cn),),))
        self.assertEqual(dec["subjectAltName"],
                         (("URI", uri), ("email", email)))

    def test_corrupt_or_unreadable_files(self):
        self.init()
        self.pki("issue", "client", "alice")
        pristine = os.path.join(self.tmp, "pristine")
        shutil.copytree(self.dir, pristine)
        damage = [
            ("index.json", "garbage", ["list"], "index.json is corrupt"),
            ("index.json", '{"version": 1}', ["issue", "client", "x"],
             "index.json is corrupt"),
            ("ca.pem", "garbage", ["issue", "client", "x"], "ca.pem"),
            ("ca.pem", "garbage", ["list"], "ca.pem"),
            ("ca.key", "garbage", ["issue", "client", "x"], "ca.key"),
            ("ca.key", "garbage", ["revoke", "alice"], "ca.key"),
            ("ca.key", None, ["issue", "client", "x"], "ca.key"),
            ("ca.pem", None, ["show", "alice"], "ca.pem"),
        ]
        for i, (name, content, args, msg) in enumerate(damage):
            with self.subTest(file=name, args=args):
                d = os.path.join(self.tmp, "damaged%d" % i)
                shutil.copytree(pristine, d)
                p = os.path.join(d, name)
                os.unlink(p)
                if content is None:  # unreadable: a directory in its place
                    os.mkdir(p)
                else:
                    with open(p, "w") as f:
                        f.write(content)
                    os.chmod(p, 0o600)
                self.assert_refused(args, 1, msg, dir_=d)

    def test_group_readable_key_refused(self):
        self.init()
        self.pki("issue", "client", "alice")
        key = self.path("ca.key")
        for m in (0o640, 0o604):
            os.chmod(key, m)
            with self.subTest(mode=oct(m)):
                self.assert_refused(["issue", "client", "bob"], 1,
                                    "fix it with: chmod 600 " + key)
                self.assert_refused(["revoke", "alice"], 1, "chmod 600 " + key)
        os.chmod(key, 0o600)
        self.pki("issue", "client", "bob")
        self.assertEqual(mode(self.path("bob.key")), 0o600)

    def test_help(self):
        rc, out, err = run([PKI, "--help"], check=True)
        self.assertIn("usage: echo-pki", out)
        for cmd in ("init", "issue", "revoke", "crl", "list", "show"):
            with self.subTest(cmd=cmd):
                rc, out, err = self.pki(cmd, "--help")
                self.assertTrue(out.startswith("usage: echo-pki " + cmd), out)
                self.assertEqual(err, "")
        self.assertFalse(os.path.exists(self.dir))  # help touches nothing

    # ---- the test-only tool ----------------------------------------------

    def test_testca_tool_bad_certs(self):
        def tool(*args):
            return run([TESTCA, "--dir", self.dir] + list(args), check=True)
        tool("issue", "good", "--cn", "Good Client", "--dns", "good.test")
        tool("issue", "old", "--kind", "expired")
        tool("issue", "early", "--kind", "not-yet-valid")
        tool("issue", "srvascli", "--kind", "wrong-eku")
        tool("issue", "rogue", "--kind", "rogue-ca")
        _, serial, _ = tool("issue", "revokedone")
        rc, out = self.verify("good.pem", "sslclient")
        self.assertEqual(rc, 0, out)
        self.assertIn("Subject: CN = Good Client", self.x509_text("good.pem"))
        self.assertIn("DNS:good.test", self.x509_text("good.pem"))
        for leaf, msg in (("old.pem", "certificate has expired"),
                          ("early.pem", "certificate is not yet valid"),
                          ("srvascli.pem", "unsuitable certificate purpose"),
                          ("rogue.pem", "unable to get local issuer")):
            rc, out = self.verify(leaf, "sslclient")
            self.assertNotEqual(rc, 0, leaf)
            self.assertIn(msg, out, leaf)
        crl = os.path.join(self.tmp, "custom-crl.pem")
        tool("crl", "--out", crl, "--serial", serial.strip())
        rc, out, err = self.openssl(
            "verify", "-CAfile", self.path("ca.pem"), "-crl_check",
            "-CRLfile", crl, self.path("revokedone.pem"))
        self.assertIn("certificate revoked", out + err)
        # pki sees what the tool issued (except the rogue CA's).
        _, out, _ = self.pki("list", "--json")
        names = [e["name"] for e in json.loads(out)]
        self.assertEqual(names, ["good", "old", "early", "srvascli",
                                 "revokedone"])


if __name__ == "__main__":
    unittest.main()
