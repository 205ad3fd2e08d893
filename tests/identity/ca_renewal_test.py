"""docs/deploy.md's recipe for renewing a CA with the same name and key:
"To renew without closing anyone, put the re-issued certificate into the
bundle next to the old one first, and drop the old one later."

A session that starts while both certificates are in the bundle must then
survive the reload that drops the old one: it is the session the recipe
is for (review2)."""

import datetime
import os
import signal
import unittest

from cryptography import x509

from tests.identity.mint import Mint, reissue, write_atomic, _pem
from tests.lib import echod


def renewed_copy(inter, days=2 * 365):
    """|inter| re-issued by its parent: same name, key and extensions,
    a new serial and validity (a plain renewal). PEM."""
    return reissue(inter, datetime.timedelta(days=-3),
                   datetime.timedelta(days=days))


class CARenewalTest(unittest.TestCase):

    def setUp(self):
        d = echod.tmpdir("mint-")
        self.root = root = Mint(d, "renew root")
        self.inter = inter = root.intermediate("renew inter")
        root.issue("server", role="server")
        inter.issue("bob", sans=[("DNS", "bob.example")])
        self.old = _pem(inter.cert)
        self.root_pem = _pem(root.cert)
        self.new = renewed_copy(inter)
        self.bundle = os.path.join(d, "bundle.pem")
        write_atomic(self.bundle, self.root_pem + self.old)

    def reload(self, srv, pem):
        write_atomic(self.bundle, pem)
        off = srv.log_offset()
        srv.signal(signal.SIGHUP)
        return srv.wait_log(r"msg=reloaded [^\n]*", since=off).group(0)

    def recipe(self, overlap):
        with echod.Server("--cert", self.root.path("server"),
                          "--key", self.root.path("server", "key"),
                          "--ca", self.bundle, "--no-watch") as srv:
            ctx = echod.client_context(**self.inter.client("bob"))
            # 1. the renewed certificate next to the old one
            line = self.reload(srv, overlap)
            self.assertIn("sessions_closed=0", line)
            # 2. a client that connects during the overlap
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"one"), b"one")
                # 3. later, the old certificate dropped
                line = self.reload(srv, self.root_pem + self.new)
                self.assertIn("sessions_closed=0", line,
                              "a session started during the overlap was "
                              "closed when the old CA certificate left")
                self.assertEqual(echod.echo(s, b"two"), b"two")
            srv.stop_clean()

    def test_renewed_listed_after_old(self):
        self.recipe(self.root_pem + self.old + self.new)

    def test_renewed_listed_before_old(self):
        self.recipe(self.root_pem + self.new + self.old)

    def test_expired_old_listed_first(self):
        # The old certificate expired (why one renews) and is still
        # listed first: the client is refused cert_expired although the
        # bundle holds a valid certificate of its CA.
        expired = renewed_copy(self.inter, days=-1)
        with echod.Server("--cert", self.root.path("server"),
                          "--key", self.root.path("server", "key"),
                          "--ca", self.bundle, "--no-watch") as srv:
            ctx = echod.client_context(**self.inter.client("bob"))
            self.reload(srv, self.root_pem + expired + self.new)
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"one"), b"one")
            srv.stop_clean()

    def test_leaf_akid_names_old_serial(self):
        # A leaf whose authorityKeyIdentifier names its issuer by issuer
        # and serial (keyid:always,issuer:always) matches only the old
        # intermediate, which the client sends; the bundle holds the root
        # and the renewed intermediate. The chain verifies through the
        # client's copy (as it did before the reload's re-check change),
        # so the full handshake must not be refused "re-issued".
        self.served_through_own_copy(self.new)

    def test_leaf_akid_names_old_serial_bundle_narrowed(self):
        # The same with the bundle's copy narrowed (name constraints that
        # still allow carol): the chain goes through the client's copy,
        # whose extensions the bundle does not hold; that is not a
        # re-issue the session was verified with (keep_bundle_issuers).
        self.served_through_own_copy(reissue(
            self.inter, datetime.timedelta(minutes=-5),
            datetime.timedelta(days=365),
            [x509.NameConstraints(
                permitted_subtrees=[x509.DNSName("carol.example")],
                excluded_subtrees=None)]))

    def served_through_own_copy(self, bundle_copy):
        """carol, whose AKID names the old intermediate by serial and who
        sends it, against root + |bundle_copy|: served."""
        inter = self.inter
        inter.issue("carol", sans=[("DNS", "carol.example")],
                    akid_serial=True)
        kw = inter.client("carol")
        write_atomic(self.bundle, self.root_pem + bundle_copy)
        with echod.Server("--cert", self.root.path("server"),
                          "--key", self.root.path("server", "key"),
                          "--ca", self.bundle, "--no-watch") as srv:
            with echod.connect(srv.port, echod.client_context(**kw)) as s:
                self.assertEqual(echod.echo(s, b"one"), b"one")
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
