"""End to end: --log-format json. The same scenario (start, an echo
session, a client refused for having no certificate, a reload, a drain)
run once with logfmt and once with json writes the same events with the
same keys in the same order; every json line is one JSON object with
string values, starting ts, level, msg; values with spaces and quotes
come through intact. ECHOD_LOG_FORMAT and the config file work too, and
a bad value is refused before anything listens."""

import json
import os
import signal
import socket
import ssl
import unittest

from tests.lib import echod
from tests.service import service_util as su


def run_scenario(fmt, state_dir):
    """Runs the scenario with --log-format |fmt|; returns the log text."""
    # A path with a space and a quote: every line naming it must quote it.
    sock_dir = os.path.join(echod.tmpdir("adm-"), 'a "b" c')
    os.mkdir(sock_dir, 0o700)
    admin = os.path.join(sock_dir, "admin.sock")
    port = echod.free_port()
    srv = su.SpawnedServer("--log-format", fmt, "--listen",
                           "127.0.0.1:%d" % port, "--admin-socket", admin,
                           admin=True, listen=None, start=False,
                           state_dir=state_dir).start()
    try:
        echod.wait_until(lambda: os.path.exists(admin), 20, what="admin")
        # The admin socket exists before the listeners listen.
        srv.wait_log(r'msg=listening |"msg":"listening"', 20)
        ctx = echod.client_context(**srv.dev_client())
        with echod.connect(port, ctx) as s:
            assert echod.echo(s, b'say "hi" now') == b'say "hi" now'
            echod.close_tls(s)
        nocert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        nocert.check_hostname = False
        nocert.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(("127.0.0.1", port), 10) as raw:
                with nocert.wrap_socket(raw) as t:
                    t.recv(1)
        except (ssl.SSLError, OSError):
            pass
        r = echod.run_tool([echod.binary("cmd/echoctl"), "--socket", admin,
                            "reload"])
        assert r.returncode == 0, r.stderr
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit(20) == 0, srv.log_tail()
        return srv.log()
    finally:
        srv.stop()


def keys_by_msg(events):
    """{msg: [key order of its first line]} for the events."""
    out = {}
    for e in events:
        out.setdefault(e["msg"], list(e.keys()))
    return out


class LogFormat(unittest.TestCase):

    def test_json_has_the_same_events_and_keys_as_logfmt(self):
        state = echod.tmpdir("state-")
        plain = run_scenario("logfmt", state)
        text = run_scenario("json", state)
        events = []
        for line in text.splitlines():
            obj = json.loads(line)  # every line is one JSON object
            self.assertIsInstance(obj, dict, line)
            self.assertEqual(list(obj)[:3], ["ts", "level", "msg"], line)
            for k, v in obj.items():
                self.assertIsInstance(v, str, (k, line))
            events.append(obj)
        logfmt_events = [echod.parse_logfmt(l) for l in plain.splitlines()]
        want = keys_by_msg(logfmt_events)
        got = keys_by_msg(events)
        for msg in ("listening", "session closed", "handshake failed",
                    "reloaded", "draining", "stopped", "dev PKI files"):
            self.assertIn(msg, got, text)
            self.assertEqual(got[msg], want[msg], msg)
        self.assertEqual(set(got), set(want))
        closed = [e for e in events if e["msg"] == "session closed"][0]
        self.assertEqual(closed["cn"], "dev-client")
        self.assertEqual(closed["bytes_in"], str(len(b'say "hi" now')))
        refused = [e for e in events if e["msg"] == "handshake failed"][0]
        self.assertEqual(refused["reason"], "no_client_cert")
        # A value ed_logq quoted (spaces, quotes) comes back whole: the
        # same as the logfmt line's, with this run's port.
        hint = [e for e in events if e["msg"] == "connect with"][0]
        self.assertTrue(hint["cmd"].startswith(
            "ECHOD_STATE_DIR=%s echo-client --connect 127.0.0.1:" % state),
            hint)
        self.assertTrue(hint["explicit"].startswith(
            hint["cmd"].split(" ", 1)[1] + " --ca "),
                        hint)
        self.assertIn(" --ca %s/pki/ca.pem " % state, hint["explicit"])
        # The admin socket's path, with its space and quotes, comes back
        # whole from both formats.
        admin = [e for e in events if e["msg"] == "admin listening"][0]
        self.assertTrue(admin["path"].endswith('/a "b" c/admin.sock'), admin)
        plain_admin = [e for e in logfmt_events
                       if e.get("msg") == "admin listening"][0]
        self.assertTrue(
            plain_admin["path"].endswith('/a "b" c/admin.sock'), plain_admin)

    def test_env_file_and_bad_value(self):
        r = echod.run_server(["--print-config"],
                             env={"ECHOD_LOG_FORMAT": "json"})
        self.assertEqual(json.loads(r.stdout)["log_format"], "json")
        cfg = os.path.join(echod.tmpdir("cfg-"), "c.json")
        with open(cfg, "w") as f:
            f.write('{"log_format": "json"}')
        r = echod.run_server(["--config", cfg, "--print-config"])
        self.assertEqual(json.loads(r.stdout)["log_format"], "json")
        r = echod.run_server(["--print-config"])
        self.assertEqual(json.loads(r.stdout)["log_format"], "logfmt")
        r = echod.run_server(["--log-format", "yaml"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-format", r.stderr)
        self.assertIn("logfmt or json", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
