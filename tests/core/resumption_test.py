"""Session resumption: python ssl, //cmd:client (--sess-out/--sess-in) and
openssl s_client report a resumed session; and a revoked client does not
get back in with a ticket it got before it was revoked.

What the revocation test proves: the server is restarted with the new CRL
on the same state dir (live reload is issue 4). If ticket keys survive the
restart (a control client resumes after it), the revoked client's refusal
proves the resumed session is re-checked against the current CRL. If they
do not survive, it proves the weaker but still required property: a ticket
issued before revocation does not get the client in (the refusal comes
from the full handshake). The test prints which case it saw."""

import os
import re
import ssl
import unittest
import urllib.request

from tests.lib import echod


def resumable_session(port, ctx):
    """Connects, echoes, and returns the session (tickets arrive after the
    TLS 1.3 handshake, so read something first)."""
    with echod.connect(port, ctx) as s:
        assert echod.echo(s, b"get a ticket") == b"get a ticket"
        sess = s.session
        echod.close_tls(s)
    return sess


def pool_steps(mport):
    """Steps the handshake pool has taken, from /metrics."""
    url = "http://127.0.0.1:%d/metrics" % mport
    with urllib.request.urlopen(url, timeout=echod.scaled(10)) as r:
        text = r.read().decode()
    m = re.search(r"^echod_handshake_queue_wait_seconds_count (\d+)$", text,
                  re.M)
    assert m, "no pool wait histogram in /metrics"
    return int(m.group(1))


class ResumptionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ca = cls.ca = echod.TestCA()
        ca.issue("server", role="server")
        ca.issue("alice")
        ca.issue("mallory")
        cls.crl = os.path.join(ca.dir, "current-crl.pem")
        ca.crl(cls.crl)
        cls.state = echod.tmpdir("state-")
        cls.srv = echod.Server(*ca.server_flags(crl=cls.crl),
                               state_dir=cls.state)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def test_python_resumes(self):
        ctx = echod.client_context(**self.ca.client("alice"))
        sess = resumable_session(self.srv.port, ctx)
        self.assertIsNotNone(sess)
        self.assertTrue(sess.has_ticket, "server sent no session ticket")
        with echod.connect(self.srv.port, ctx, session=sess) as s:
            lport = echod.local_port(s)
            self.assertTrue(s.session_reused, "session was not resumed")
            self.assertEqual(echod.echo(s, b"resumed"), b"resumed")
            echod.close_tls(s)
        ev = self.srv.session_closed(lport)
        self.assertEqual(ev.get("resumed"), "1", ev)
        self.assertEqual(ev.get("cn"), "alice", ev)

    def test_own_client_resumes(self):
        sess = os.path.join(echod.tmpdir(), "alice.sess")
        args = ["--connect", "127.0.0.1:%d" % self.srv.port,
                "--ca", self.ca.ca_pem, "--cert", self.ca.path("alice"),
                "--key", self.ca.path("alice", "key")]
        r = echod.run_client(args + ["--sess-out", sess], input=b"one")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"one")
        self.assertIn("resumed=no", r.stderr)
        self.assertTrue(os.path.getsize(sess) > 0)
        r = echod.run_client(args + ["--sess-in", sess], input=b"two")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"two")
        self.assertIn("resumed=yes", r.stderr)

    def test_openssl_s_client_resumes(self):
        sess = os.path.join(echod.tmpdir(), "s.pem")
        args = (self.srv.port, self.ca.path("alice"),
                self.ca.path("alice", "key"), self.ca.ca_pem, b"ping\n")
        # Not brief: the session summary ("New,"/"Reused,") goes to stdout.
        # s_client closes after the echo arrived, i.e. after the tickets.
        out, err, rc = echod.openssl_s_client(
            *args, extra=["-sess_out", sess], brief=False)
        self.assertIn(b"New, TLSv1.3", out, err)
        self.assertTrue(out.endswith(b"ping\n"), out[-200:])
        self.assertTrue(os.path.exists(sess) and os.path.getsize(sess) > 0,
                        "s_client saved no session: " + err)
        out, err, rc = echod.openssl_s_client(
            *args, extra=["-sess_in", sess], brief=False)
        self.assertIn(b"Reused, TLSv1.3", out, err)
        self.assertTrue(out.endswith(b"ping\n"), out[-200:])

    def test_resumed_last_step_skips_the_pool(self):
        # A resumption's last step (client Finished, new ticket: no
        # public-key work) runs on the I/O loop: one pool step per resumed
        # handshake, two per full mutual-TLS handshake. Counted by the pool
        # wait histogram, which observes every step the pool takes.
        with echod.Server(*self.ca.server_flags(crl=self.crl),
                          "--metrics-listen", "127.0.0.1:0",
                          metrics=True) as srv:
            m = srv.wait_log(r'msg="metrics listening" addr=\S+:(\d+)', 10)
            mport = int(m.group(1))
            ctx = echod.client_context(**self.ca.client("alice"))
            n = 5
            before = pool_steps(mport)
            sessions = [resumable_session(srv.port, ctx) for _ in range(n)]
            full = pool_steps(mport) - before
            for sess in sessions:
                with echod.connect(srv.port, ctx, session=sess) as s:
                    self.assertTrue(s.session_reused)
                    self.assertEqual(echod.echo(s, b"r"), b"r")
                    echod.close_tls(s)
            resumed = pool_steps(mport) - before - full
        self.assertGreaterEqual(full, 2 * n)
        self.assertEqual(resumed, n)

    def test_revoked_client_refused_despite_ticket(self):
        alice = echod.client_context(**self.ca.client("alice"))
        mallory = echod.client_context(**self.ca.client("mallory"))
        a_sess = resumable_session(self.srv.port, alice)
        m_sess = resumable_session(self.srv.port, mallory)
        self.assertTrue(m_sess.has_ticket)
        m_file = os.path.join(echod.tmpdir(), "mallory.sess")
        client_args = ["--connect", None, "--ca", self.ca.ca_pem,
                       "--cert", self.ca.path("mallory"),
                       "--key", self.ca.path("mallory", "key")]
        client_args[1] = "127.0.0.1:%d" % self.srv.port
        r = echod.run_client(client_args + ["--sess-out", m_file], input=b"m")
        self.assertEqual(r.returncode, 0, r.stderr)

        # Revoke mallory, write the new CRL where the server reads it, and
        # restart the server on the same state dir.
        self.ca.revoke("mallory")
        self.ca.crl(self.crl)
        self.assertEqual(self.srv.stop(), 0, self.srv.log_tail())
        type(self).srv = self.srv = echod.Server(
            *self.ca.server_flags(crl=self.crl), state_dir=self.state)

        # Control: does alice's pre-restart ticket still resume?
        with echod.connect(self.srv.port, alice, session=a_sess) as s:
            tickets_survive = s.session_reused
            self.assertEqual(echod.echo(s, b"alice"), b"alice")
        print("ticket keys survive a restart: %s" % tickets_survive)

        # Mallory with python and the old ticket: refused, cert_revoked.
        raw = echod.connect(self.srv.port, mallory, session=m_sess)
        lport = echod.local_port(raw)
        try:
            raw.sendall(b"let me in")
            got = raw.recv(100)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            got = b""
        finally:
            raw.close()
        self.assertEqual(got, b"", "revoked client got an echo")
        self.assertEqual(self.srv.handshake_failure(lport), "cert_revoked")

        # Mallory with //cmd:client and its saved session: refused too, and
        # the client says why.
        client_args[1] = "127.0.0.1:%d" % self.srv.port
        r = echod.run_client(client_args + ["--sess-in", m_file],
                             input=b"let me in")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        self.assertIn("alert: certificate_revoked", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
