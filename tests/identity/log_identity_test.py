"""The "session closed" line of identities that push a log line past its
old limits, end to end, in both log formats: a 2100-byte CN, 100 DNS
SANs, a CN of 1100 quote characters; and CNs holding Unicode a reader
would act on or not see: a line separator (U+2028) followed by a forged
record, a bidi override, a zero-width space, a soft hyphen, tag
characters. Each line is whole (serial=, bytes, duration and reason
after the identity), parses back to the exact CN and SANs, and the log is
ASCII only (logfmt \\xNN, JSON \\uXXXX), so nothing splits a record.

Before: lines were cut at 2046 bytes (the rest of the fields lost, a
quoted value left open), and UTF-8 was written raw: a U+2028 in a CN
started a forged record for readers that split lines on it (Python's
str.splitlines, JavaScript)."""

import json
import os
import re
import subprocess
import unittest

from tests.identity.mint import Mint
from tests.lib import echod

CNS = {
    "cn2100": "A" * 2100,
    "quotes": '"' * 1100,
    "ls": "bob\u2028ts=2026-01-01T00:00:00.000Z level=error msg=forged",
    "rlo": "x\u202egnp.exe",
    "zwsp": "ali\u200bce",
    "soft": "ali\u00adce",
    "tag": "alice\U000e0041\U000e0042",
}
SANS = [("DNS", "host-%03d.very-long-subdomain.example.com" % i)
        for i in range(100)]


class JsonServer(echod.Server):
    """echod.Server with --log-format json: ready at its JSON line."""

    def start(self, ready_timeout=20):
        self.flags += ["--log-format", "json"]
        self._log = open(self.log_path, "ab")
        self._out = open(self.out_path, "ab")
        self.proc = echod._track(subprocess.Popen(
            [echod.binary("cmd/server")] + self.flags,
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._log,
            env=self.env, cwd=self.state_dir))
        self.pid = self.proc.pid
        m = self.wait_log(r'"msg":"listening","addr":"[^"]+:(\d+)"',
                          ready_timeout)
        self.port = int(m.group(1))
        return self


def logfmt_value(line, key):
    """The value of |key| in a logfmt line, decoded to text (\\xNN are
    UTF-8 bytes)."""
    m = re.search(r' %s=("(?:[^"\\]|\\.)*"|\S*)' % key, line)
    v = m.group(1)
    if v.startswith('"'):
        v = v[1:-1].encode("ascii").decode("unicode_escape")
        v = v.encode("latin-1").decode("utf-8")
    return v


class LogIdentityTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        d = echod.tmpdir("mint-")
        ca = cls.ca = Mint(d, "log root")
        ca.issue("server", role="server")
        for name, cn in CNS.items():
            ca.issue(name, cn=cn)
        ca.issue("sans100", cn="manysans", sans=SANS)
        cls.flags = ["--cert", ca.path("server"), "--key",
                     ca.path("server", "key"), "--ca", ca.ca_pem,
                     "--no-watch"]
        cls.want = dict((n, (cn, "")) for n, cn in CNS.items())
        cls.want["sans100"] = ("manysans",
                               ",".join("DNS:" + v for _, v in SANS))

    def sessions(self, srv):
        """Connects as every client; returns {name: local port}."""
        ports = {}
        for name in self.want:
            ctx = echod.client_context(**self.ca.client(name))
            with echod.connect(srv.port, ctx) as s:
                ports[name] = echod.local_port(s)
                self.assertEqual(echod.echo(s, b"x"), b"x")
                echod.close_tls(s)
        return ports

    def raw_log(self, srv):
        with open(srv.log_path, "rb") as f:
            raw = f.read()
        self.assertTrue(all(b < 0x80 for b in raw),
                        "non-ASCII byte in the log")
        # One record per line for every reader, str.splitlines included.
        self.assertEqual(raw.decode("ascii").splitlines(),
                         raw.decode("ascii").split("\n")[:-1])
        return raw.decode("ascii")

    def test_logfmt(self):
        with echod.Server(*self.flags) as srv:
            ports = self.sessions(srv)
            for name, lport in ports.items():
                srv.session_closed(lport)
            srv.stop_clean()
            log = self.raw_log(srv)
        for name, lport in ports.items():
            line = [l for l in log.split("\n") if 'msg="session closed"' in l
                    and "peer=127.0.0.1:%d " % lport in l][0]
            cn, sans = self.want[name]
            self.assertEqual(logfmt_value(line, "cn"), cn, name)
            self.assertEqual(logfmt_value(line, "sans"), sans, name)
            self.assertRegex(line, r" serial=[0-9A-F]+ .* bytes_in=1 "
                             r"bytes_out=1 duration_ms=[0-9.]+ "
                             r"reason=client_close$")
        self.assertNotIn("\nts=2026-01-01", log)

    def test_json(self):
        srv = JsonServer(*self.flags)
        try:
            ports = self.sessions(srv)
            echod.wait_until(lambda: srv.log().count(
                '"msg":"session closed"') >= len(ports), 10,
                what="session closed lines")
            srv.stop_clean()
        finally:
            srv.stop()
        log = self.raw_log(srv)
        got = {}
        for line in log.split("\n")[:-1]:
            e = json.loads(line)
            if e["msg"] == "session closed":
                got[int(e["peer"].rsplit(":", 1)[1])] = e
        for name, lport in ports.items():
            e = got[lport]
            self.assertEqual((e["cn"], e["sans"]), self.want[name], name)
            self.assertEqual(e["reason"], "client_close")
            self.assertRegex(e["serial"], r"^[0-9A-F]+$")
            self.assertNotIn("truncated", e)


if __name__ == "__main__":
    unittest.main()
