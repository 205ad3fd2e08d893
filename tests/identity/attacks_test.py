"""Identity attacks, end to end against the real server: certificates
minted as an attacker would (tests/identity/mint.py, python3-cryptography)
must be refused with the right reason in the log and the right TLS alert,
and identities that do get in must come out exact and unambiguous - in the
"session closed" log line, the admin socket's JSON and never in metrics.

Each of these got in, or came out wrong, before identities were parsed
into typed, exact values:
- a URI SAN "spiffe://echod/mallory,URI:spiffe://echod/admin" and an email
  SAN "mallory,admin@example.com" were split on the comma and matched
  --allow-san spiffe://echod/admin / admin@example.com;
- CN "alice\\0evil" matched --allow-cn alice, DNS SAN
  "admin\\0.attacker.example" matched --allow-san admin;
- with two CNs only the first was seen; a CA certificate was accepted as
  a client; a 200-byte CN was cut to 127 bytes.

A refused client is named in its "handshake failed" line (cn, serial,
sha256 of what it presented, read without trusting it, escaped byte by
byte); before, the line did not say who was refused."""

import hashlib
import os
import re
import unittest
import urllib.request

from tests.identity.ctl import admin
from tests.identity.mint import Mint
from tests.lib import echod

ADMIN_URI = "spiffe://echod/admin"
COMMA_URI = "spiffe://echod/mallory,URI:spiffe://echod/admin"
COMMA_EMAIL = "mallory,admin@example.com"
LONG_CN = "".join("%04d-" % i for i in range(40))  # 200 bytes
QUOTED_CN = 'q "x"=1 \\ y'  # printable, but every logfmt special
ESC_CN = "\x1b[31mred\nroot\u009b"  # a terminal's escapes, a newline, CSI
# What anyone can put in a certificate no CA of ours signed: 80,000
# control bytes, each written \xNN (4 bytes) in the log.
HUGE_CN = "\x01" * 80000
# Where the journal (journald.conf LineMax=, default 48K) and container
# runtimes (Docker, CRI: 16 KiB) cut a line into records of their own.
LINE_SPLIT = 16 * 1024


class IdentityAttacksTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = echod.tmpdir("mint-")
        ca = cls.ca = Mint(d, "identity root")
        ca.issue("server", role="server")
        ca.issue("alice")
        ca.issue("admin-uri", cn="svc", sans=[("URI", ADMIN_URI)])
        ca.issue("comma-uri", cn="mallory", sans=[("URI", COMMA_URI)])
        ca.issue("comma-email", cn="mallory2", sans=[("email", COMMA_EMAIL)])
        ca.issue("nul-cn", cn="alice\x00evil")
        ca.issue("nul-dns", cn="mallory3",
                 sans=[("DNS", "admin\x00.attacker.example")])
        ca.issue("two-cn", cns=["alice", "evil"])
        ca.issue("ca-leaf", cn="alice", ca=True)
        ca.issue("long-cn", cn=LONG_CN)
        ca.issue("quoted", cn=QUOTED_CN)
        ca.issue("esc-cn", cn=ESC_CN)
        rogue = cls.rogue = Mint(echod.tmpdir("rogue-"), "rogue root")
        rogue.issue("alice")
        rogue.issue("huge-cn", cn=HUGE_CN)
        # A bare --allow-san value names one SAN type by its form; before,
        # it matched every type, and DNS ignores case.
        ca.issue("dns-uri", cn="m4", sans=[("DNS", ADMIN_URI.upper())])
        ca.issue("dns-email", cn="m5", sans=[("DNS", "admin@example.com")])
        ca.issue("email-admin", cn="m6", sans=[("email", "admin@example.com")])
        crl = ca.crl(os.path.join(d, "crl.pem"))
        flags = ["--cert", ca.path("server"), "--key",
                 ca.path("server", "key"), "--ca", ca.ca_pem, "--crl", crl,
                 "--no-watch"]
        cls.sock = os.path.join(echod.tmpdir("adm-"), "admin.sock")
        cls.srv = echod.Server(*flags, "--admin-socket", cls.sock,
                               "--metrics-listen", "127.0.0.1:0",
                               admin=True, metrics=True)
        cls.acl = echod.Server(*flags, "--allow-cn", "alice",
                               "--allow-san", ADMIN_URI,
                               "--allow-san", "admin@example.com",
                               "--allow-san", "admin")

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.acl):
            s.stop_clean()

    def ctx(self, name):
        return echod.client_context(**self.ca.client(name))

    def refuse(self, srv, name, reason, alert):
        got, lport = echod.refused_alert(srv.port, self.ctx(name))
        self.assertEqual(srv.handshake_failure(lport), reason,
                         srv.log_tail(5))
        self.assertEqual(got, alert)
        # ... and everyone else is still served.
        with echod.connect(srv.port, self.ctx("alice")) as s:
            self.assertEqual(echod.echo(s, b"still"), b"still")

    def session(self, srv, name, data=b"hello"):
        """Connects as NAME, echoes, closes; returns the closed line."""
        with echod.connect(srv.port, self.ctx(name)) as s:
            lport = echod.local_port(s)
            self.assertEqual(echod.echo(s, data), data)
            echod.close_tls(s)
        return srv.session_closed(lport)

    # -- the comma: one SAN is one value ------------------------------------

    def test_comma_uri_san_is_not_two_sans(self):
        self.refuse(self.acl, "comma-uri", "acl_denied",
                    "TLSV1_ALERT_ACCESS_DENIED")
        self.assertEqual(self.session(self.acl, "admin-uri")["cn"], "svc")

    def test_comma_email_san_is_not_two_sans(self):
        self.refuse(self.acl, "comma-email", "acl_denied",
                    "TLSV1_ALERT_ACCESS_DENIED")

    def test_bare_allow_san_matches_its_own_type_only(self):
        self.refuse(self.acl, "dns-uri", "acl_denied",
                    "TLSV1_ALERT_ACCESS_DENIED")
        self.refuse(self.acl, "dns-email", "acl_denied",
                    "TLSV1_ALERT_ACCESS_DENIED")
        self.assertEqual(self.session(self.acl, "email-admin")["cn"], "m6")

    # -- names that cannot be an identity ------------------------------------

    def test_nul_in_cn(self):
        self.refuse(self.acl, "nul-cn", "bad_identity",
                    "SSLV3_ALERT_BAD_CERTIFICATE")

    def test_nul_in_dns_san(self):
        self.refuse(self.acl, "nul-dns", "bad_identity",
                    "SSLV3_ALERT_BAD_CERTIFICATE")

    def test_two_cns(self):
        self.refuse(self.acl, "two-cn", "bad_identity",
                    "SSLV3_ALERT_BAD_CERTIFICATE")
        self.refuse(self.srv, "two-cn", "bad_identity",
                    "SSLV3_ALERT_BAD_CERTIFICATE")

    def test_ca_certificate_as_client(self):
        self.refuse(self.srv, "ca-leaf", "bad_identity",
                    "SSLV3_ALERT_BAD_CERTIFICATE")

    # -- who was refused -----------------------------------------------------

    def refused_event(self, srv, ctx, reason):
        got, lport = echod.refused_alert(srv.port, ctx)
        ev = srv.handshake_failure_event(lport)
        self.assertEqual(ev["reason"], reason, srv.log_tail(5))
        return ev

    def assert_names(self, ev, mint, name, cn):
        self.assertEqual(ev["cn"], cn)
        self.assertEqual(int(ev["serial"], 16), mint.serials[name])
        self.assertEqual(ev["sha256"],
                         hashlib.sha256(mint.der(name)).hexdigest())

    def test_refused_clients_are_named(self):
        # Refused by the allow-list, by its identity (a NUL in the CN),
        # by a foreign CA: each line names the certificate presented.
        ev = self.refused_event(self.acl, self.ctx("comma-uri"), "acl_denied")
        self.assert_names(ev, self.ca, "comma-uri", "mallory")
        ev = self.refused_event(self.acl, self.ctx("nul-cn"), "bad_identity")
        self.assert_names(ev, self.ca, "nul-cn", "alice\x00evil")
        self.assertIn('cn="alice\\x00evil"', self.acl.log())
        kw = self.rogue.client("alice")
        kw["ca"] = self.ca.ca_pem
        ev = self.refused_event(self.srv, echod.client_context(**kw),
                                "unknown_ca")
        self.assert_names(ev, self.rogue, "alice", "alice")
        # The existing fields are all still there.
        for k in ("id", "peer", "detail", "duration_ms"):
            self.assertIn(k, ev)

    def test_refused_hostile_cn_reaches_the_log_inert(self):
        ev = self.refused_event(self.srv, self.ctx("esc-cn"), "bad_identity")
        self.assertEqual(ev["cn"], ESC_CN.encode().decode("latin-1"))
        log = self.srv.log()
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\u009b", log)  # no raw C2 9B either
        self.assertIn(r'cn="\x1b[31mred\nroot\xc2\x9b"', log)

    def test_refused_huge_cn_is_a_bounded_line(self):
        """A client with no certificate from our CA chooses its CN's size
        up to the 100 KiB certificate message: its "handshake failed"
        line must stay one record wherever stderr goes, and cost the I/O
        loop (which writes it) no more than any refusal. Failed: a 320 KB
        line (4 bytes per \\x01), split by the journal at 48 KiB into
        records whose starts the client chooses (a forged
        "ts=... level=error ..." record), 114 MB of log and 15 ms of the
        loop's CPU for 300 such handshakes (0.35 ms with a short CN)."""
        kw = self.rogue.client("huge-cn")
        kw["ca"] = self.ca.ca_pem
        since = self.srv.log_offset()
        ev = self.refused_event(self.srv, echod.client_context(**kw),
                                "unknown_ca")
        self.assertEqual(ev["sha256"],
                         hashlib.sha256(self.rogue.der("huge-cn")).hexdigest())
        lines = [l for l in self.srv.log()[since:].splitlines()
                 if "handshake failed" in l]
        self.assertTrue(lines)
        self.assertLess(max(len(l) for l in lines), LINE_SPLIT,
                        "a refused client's CN made a %d-byte log line"
                        % max(len(l) for l in lines))
        # Its first 256 bytes, and how long it was.
        self.assertIn('cn="%s" cn_len=80000 serial=' % ("\\x01" * 256),
                      lines[-1])
        self.assertEqual(ev["cn_len"], "80000")
        self.assertNotIn("serial_len", ev)

    def test_no_certificate_no_names(self):
        ctx = echod.client_context(ca=self.ca.ca_pem)
        ev = self.refused_event(self.srv, ctx, "no_client_cert")
        for k in ("cn", "serial", "sha256"):
            self.assertNotIn(k, ev)

    # -- identities that get in come out whole and escaped -------------------

    def test_long_cn_logged_whole(self):
        ev = self.session(self.srv, "long-cn")
        self.assertEqual(ev["cn"], LONG_CN)
        self.assertEqual(len(ev["cn"]), 200)

    def test_hostile_printable_cn_is_one_field(self):
        ev = self.session(self.srv, "quoted")
        self.assertEqual(ev["cn"], QUOTED_CN)
        self.assertIn(r'cn="q \"x\"=1 \\ y" ', self.srv.log())
        # The line's other fields are intact after it.
        self.assertEqual(ev["bytes_in"], "5")

    def test_sans_are_structured_and_unambiguous(self):
        with echod.connect(self.srv.port, self.ctx("comma-uri")) as s:
            lport = echod.local_port(s)
            self.assertEqual(echod.echo(s, b"x"), b"x")
            r = admin(self.sock, "sessions", "--cn", "mallory")
            mine = [x for x in r["sessions"]
                    if x["peer"].endswith(":%d" % lport)]
            self.assertEqual(len(mine), 1, r)
            self.assertEqual(mine[0]["sans"],
                             [{"type": "URI", "value": COMMA_URI}])
            one = admin(self.sock, "session", str(mine[0]["id"]))
            self.assertEqual(one["session"]["sans"],
                             [{"type": "URI", "value": COMMA_URI}])
            echod.close_tls(s)
        ev = self.srv.session_closed(lport)
        # In the log, a ',' inside a value is %2C: one field, one SAN.
        self.assertEqual(ev["sans"],
                         "URI:spiffe://echod/mallory%2CURI:spiffe://echod/admin")
        certs = admin(self.sock, "certs")
        self.assertEqual(certs["server"]["sans"],
                         [{"type": "DNS", "value": "localhost"},
                          {"type": "IP", "value": "127.0.0.1"},
                          {"type": "IP", "value": "::1"}])

    def test_metrics_count_bad_identity_without_identities(self):
        got, _ = echod.refused_alert(self.srv.port, self.ctx("ca-leaf"))
        m = self.srv.wait_log(r'msg="metrics listening" addr=(\S+)')
        url = "http://%s/metrics" % m.group(1)
        with urllib.request.urlopen(url, timeout=echod.scaled(10)) as r:
            text = r.read().decode()
        n = re.search(r'^echod_tls_handshake_errors_total\{reason='
                      r'"bad_identity"\} (\d+)$', text, re.M)
        self.assertTrue(n, "no bad_identity series")
        self.assertGreaterEqual(int(n.group(1)), 1)
        for word in ("mallory", "alice", "spiffe", "svc", LONG_CN[:8]):
            self.assertNotIn(word, text)


if __name__ == "__main__":
    unittest.main()
