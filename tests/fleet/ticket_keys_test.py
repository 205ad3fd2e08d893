"""--ticket-keys end to end (issue 16), sandbox on:

- two servers reading one ticket-keys file resume each other's tickets,
  and a server resumes its own tickets after a restart; without the flag
  (in-memory keys) neither happens;
- `echoctl status` and /metrics show the keys in use (source, count, the
  sealing key's id), never the key;
- `echo-pki ticket-keys --rotate` rewrites the file and the file watch
  reloads it (Landlock lets the sandboxed server read it again): a new
  sealing key, the old tickets still resume;
- a bad file fails the reload, naming the file and line, and the old keys
  stay; a file others may read is refused at startup (exit 2) like a
  private key."""

import os
import re
import stat
import time
import unittest
import urllib.request

from tests.fleet import fleet_util as fu
from tests.lib import echod


class TicketKeys(unittest.TestCase):

    def setUp(self):
        self.pki = fu.Pki()
        self.ctx = self.pki.client()  # a session belongs to its context
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def start(self, keys=True, *flags):
        d = echod.tmpdir("tk-")
        srv = echod.Server(*self.pki.server_flags(keys), "--admin-socket",
                           os.path.join(d, "admin.sock"), "--metrics-listen",
                           "127.0.0.1:0", *flags, admin=True, metrics=True,
                           state_dir=d)
        srv.admin_path = os.path.join(d, "admin.sock")
        self.servers.append(srv)
        return srv

    def resume(self, srv, ticket):
        """Connects with |ticket|; returns (resumed, the new ticket)."""
        with echod.connect(srv.port, self.ctx, session=ticket) as s:
            self.assertEqual(echod.echo(s, b"ping"), b"ping")
            out = (s.session_reused, s.session)
            echod.close_tls(s)
        return out

    def status(self, srv):
        return fu.admin(srv.admin_path, {"cmd": "status"})["result"]

    def metrics(self, srv):
        port = int(srv.wait_log(
            r'msg="metrics listening" addr=127\.0\.0\.1:(\d+)').group(1))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=5) as r:
            return r.read().decode()

    def test_shared_between_servers_and_restarts(self):
        a, b = self.start(), self.start()
        _, ticket = self.resume(a, None)
        self.assertEqual(self.resume(b, ticket)[0], True)
        a.stop_clean()
        a2 = self.start()
        self.assertEqual(self.resume(a2, ticket)[0], True)
        # In-memory keys: another server, or a restart, means a full one.
        m1 = self.start(False)
        _, t = self.resume(m1, None)
        self.assertEqual(self.resume(m1, t)[0], True)
        m2 = self.start(False)
        self.assertEqual(self.resume(m2, t)[0], False)
        self.assertEqual(self.status(m1)["ticket_keys"]["source"], "memory")

    def test_status_metrics_rotation_and_bad_file(self):
        srv = self.start()
        tk = self.status(srv)["ticket_keys"]
        self.assertEqual((tk["source"], tk["file"], tk["keys"]),
                         ("file", self.pki.keys, 1))
        self.assertRegex(tk["issuing_id"], r"^[0-9a-f]{16}$")
        with open(self.pki.keys) as f:
            secret = f.read().split("v1:")[1][:64]
        r = fu.echoctl("--socket", srv.admin_path, "status")
        self.assertIn("ticket keys   file %s (1 key), issuing %s"
                      % (self.pki.keys, tk["issuing_id"]), r.stdout)
        text = self.metrics(srv)
        self.assertIn('echod_ticket_keys{source="file"} 1', text)
        self.assertIn('echod_ticket_key_info{source="file",id="%s"} 1'
                      % tk["issuing_id"], text)
        for shown in (r.stdout, text, srv.log()):
            self.assertNotIn(secret, shown)
        _, ticket = self.resume(srv, None)
        # Rotate: the file watch reloads it (no signal, no echoctl).
        off = srv.log_offset()
        echod.run_pki(["ticket-keys", "--out", self.pki.keys, "--rotate"],
                      self.pki.state)
        self.assertEqual(stat.S_IMODE(os.stat(self.pki.keys).st_mode), 0o600)
        srv.wait_log(r"msg=reloaded trigger=watch", since=off)
        tk2 = self.status(srv)["ticket_keys"]
        self.assertEqual(tk2["keys"], 2)
        self.assertNotEqual(tk2["issuing_id"], tk["issuing_id"])
        resumed, ticket2 = self.resume(srv, ticket)  # old key still opens
        self.assertTrue(resumed)
        # A bad file: the reload fails naming it, the keys stay.
        off = srv.log_offset()
        bad = self.pki.keys + ".new"
        with open(bad, "w") as f:
            f.write("v1:not-a-key\n")
        os.chmod(bad, 0o600)
        os.rename(bad, self.pki.keys)
        m = srv.wait_log(r'msg="reload failed" trigger=watch[^\n]*', since=off)
        self.assertIn("ticket-keys file %s line 1" % self.pki.keys, m.group(0))
        st = self.status(srv)
        self.assertFalse(st["last_reload"]["ok"])
        self.assertEqual(st["ticket_keys"], tk2)
        self.assertTrue(self.resume(srv, ticket2)[0])
        self.assertEqual(fu.refused_syscalls(srv.log()), [])

    def test_open_key_file_refused_at_startup(self):
        os.chmod(self.pki.keys, 0o644)
        r = echod.run_server(self.pki.server_flags() + ["--no-admin",
                             "--no-metrics", "--listen", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 2, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertIn("ticket-keys file %s has mode 0644" % self.pki.keys,
                      last)
        self.assertNotIn("listening", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
