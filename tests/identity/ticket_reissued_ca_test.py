"""A reload that narrows what an intermediate CA may sign applies to
session tickets as it does to full handshakes.

An intermediate is re-issued with its own name and key, now with X.509
name constraints (permitted DNS team-a.example): the standard way to
constrain a CA that already signed clients. After the reload that puts
the re-issued copy in --ca, a client whose DNS SAN is outside the
constraint is refused on a full handshake (unknown_ca: outside what the
CA may sign), but its session ticket, issued before the reload, still
resumed: a ticket records each issuing CA by name and key only, so the
re-check (ed_tls_peer_recheck) finds "the same" CA and never sees the
constraints, nor a pathLenConstraint or an EKU without clientAuth added
the same way. A ticket from before the reload must not resume: the
client's next handshake is a full one, and it is refused."""

import datetime
import os
import signal
import ssl
import socket
import unittest

from cryptography import x509

from tests.identity.mint import Mint, reissue, write_bundle, write_atomic
from tests.lib import echod


def constrained_copy(inter, permitted):
    """|inter| re-issued by its parent: same name, same key, now with
    name constraints permitting the DNS subtree |permitted|. PEM."""
    return reissue(inter, datetime.timedelta(minutes=-5),
                   datetime.timedelta(days=365),
                   [x509.NameConstraints(
                       permitted_subtrees=[x509.DNSName(permitted)],
                       excluded_subtrees=None)])


class TicketReissuedCATest(unittest.TestCase):

    def setUp(self):
        d = echod.tmpdir("mint-")
        self.root = root = Mint(d, "ticket root")
        self.inter = inter = root.intermediate("ticket inter")
        root.issue("server", role="server")
        inter.issue("bob", sans=[("DNS", "svc.team-b.example")])
        self.bundle = write_bundle(os.path.join(d, "bundle.pem"), root,
                                   inter)

    def server(self):
        return echod.Server("--cert", self.root.path("server"),
                            "--key", self.root.path("server", "key"),
                            "--ca", self.bundle, "--no-watch")

    def reload(self, srv, reissue):
        """Reloads |srv|: with the bundle as it is, or (|reissue|) with
        the intermediate re-issued under name constraints that leave
        bob's SAN out. Returns the "reloaded" line."""
        if reissue:
            with open(self.root.ca_pem, "rb") as f:
                root_pem = f.read()
            write_atomic(self.bundle, root_pem +
                         constrained_copy(self.inter, "team-a.example"))
        off = srv.log_offset()
        srv.signal(signal.SIGHUP)
        return srv.wait_log(r"msg=reloaded [^\n]*", since=off).group(0)

    def test_open_session_closed_by_reissued_ca(self):
        # The same bundle again keeps the session; the re-issue closes it
        # (its chain was verified with a CA certificate no longer there).
        with self.server() as srv:
            ctx = echod.client_context(**self.inter.client("bob"))
            with echod.connect(srv.port, ctx) as s:
                lport = echod.local_port(s)
                self.assertEqual(echod.echo(s, b"one"), b"one")
                line = self.reload(srv, reissue=False)
                self.assertIn("sessions_closed=0", line)
                self.assertEqual(echod.echo(s, b"two"), b"two")
                line = self.reload(srv, reissue=True)
                self.assertIn("sessions_closed=1", line)
            ev = srv.session_closed(lport)
            self.assertEqual(ev["reason"], "unknown_ca", ev)
            self.assertIn("re-issued", ev.get("detail", ""), ev)
            srv.stop_clean()

    def test_ticket_after_intermediate_constrained(self):
        root, inter = self.root, self.inter
        with self.server() as srv:
            ctx = echod.client_context(**inter.client("bob"))
            with echod.connect(srv.port, ctx) as s:
                self.assertEqual(echod.echo(s, b"ticket"), b"ticket")
                sess = s.session
                echod.close_tls(s)
            self.assertTrue(sess is not None and sess.has_ticket)

            # The intermediate is re-issued with name constraints that
            # leave bob's SAN out, and the server reloads.
            self.reload(srv, reissue=True)

            # A full handshake is refused ...
            reason, lport = echod.refused_alert(
                srv.port, echod.client_context(**inter.client("bob")))
            self.assertEqual(reason, "TLSV1_ALERT_UNKNOWN_CA")
            ev = srv.handshake_failure_event(lport)
            self.assertEqual(ev.get("reason"), "unknown_ca", ev)
            self.assertIn("permitted name constraints", ev.get("detail"))

            # ... and so is the ticket from before the reload.
            raw = socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=echod.scaled(10))
            lport = raw.getsockname()[1]
            resumed = None
            try:
                with ctx.wrap_socket(raw, server_hostname="localhost",
                                     session=sess) as s:
                    s.sendall(b"x")
                    got = s.recv(10)
                    resumed = s.session_reused
            except (ssl.SSLError, ConnectionResetError):
                got = None
            raw.close()
            self.assertFalse(resumed, "the ticket from before the reload "
                             "resumed (echoed %r)" % got)
            self.assertIsNone(got)
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
