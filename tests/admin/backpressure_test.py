"""Admin socket backpressure (issue 12, item 4), on the real //cmd:server.

Same-user clients pipeline thousands of `metrics` requests (a few bytes in,
tens of KiB out each) and never read a reply. The server looks at a
connection's write queue before it answers each line, so it holds about
1 MiB of replies per such client, reads no further, keeps serving other
admin clients and echo sessions, and closes the readers at their deadline.
Before, every line of each 16 KiB read was answered first: ~900 replies,
some 600 times the input, per read.
"""

import json
import os
import re
import time
import unittest

from tests.admin import admin_util as au
from tests.lib import echod

HOGS = 8
LINE = b'{"cmd":"metrics"}\n'


def metrics_answered(path):
    """How many "metrics" requests the server has answered, from its own
    counters (echod_admin_requests_total)."""
    text = au.result(path, {"cmd": "metrics"})["text"]
    m = re.search(r'^echod_admin_requests_total\{cmd="metrics",result="ok"\} '
                  r'(\d+)$', text, re.M)
    return int(m.group(1))


def peak_rss_kib(pid):
    """The process's peak resident set (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM for pid %d" % pid)


def num_sockets(pid):
    """The server's open sockets (not every descriptor: libuv opens a spare
    /dev/null on a loop's first connection, which stays)."""
    fd_dir = "/proc/%d/fd" % pid
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)).startswith("socket:")
        except OSError:
            pass
    return n


class AdminBackpressure(unittest.TestCase):

    def test_clients_that_never_read(self):
        # The deadline is a variable of the config, not of the admin module.
        srv = au.start(env={"ECHOD_ADMIN_TIMEOUT": "4s"})
        try:
            self.run_hogs(srv)
        finally:
            srv.stop_clean()

    def run_hogs(self, srv):
        one = au.result(srv.admin_path, {"cmd": "metrics"})
        reply = len(json.dumps({"ok": True, "result": one}))
        self.assertGreater(reply, 4000)  # the amplifier: KiB out per 18 B in
        base = peak_rss_kib(srv.pid)
        base_socks = num_sockets(srv.pid)
        hogs = []
        try:
            for _ in range(HOGS):
                s = au.dial(srv.admin_path)
                s.setblocking(False)
                sent = 0
                data = LINE * 4000  # 72 KB of requests: 4 reads' worth
                while sent < len(data):  # as much as the socket takes
                    try:
                        sent += s.send(data[sent:])
                    except BlockingIOError:
                        break
                self.assertGreater(sent, 16384)
                hogs.append(s)
            time.sleep(echod.scaled(0.5))
            # Other admin clients and echo sessions are served meanwhile.
            t0 = time.monotonic()
            self.assertIn("uptime_seconds",
                          au.result(srv.admin_path, {"cmd": "status"}))
            waited = time.monotonic() - t0
            r = au.echoctl(srv.admin_path, "version")
            self.assertEqual(r.returncode, 0, r.stderr)
            with echod.connect(srv.port, echod.client_context(
                    **srv.dev_client())) as s:
                self.assertEqual(echod.echo(s, b"still echoing\n"),
                                 b"still echoing\n")
            grown = peak_rss_kib(srv.pid) - base
            answered = metrics_answered(srv.admin_path) - 1
            print("metrics reply %d bytes, %d readers: %d replies made, peak "
                  "RSS +%d KiB, status answered in %.3f s"
                  % (reply, HOGS, answered, grown, waited))
            # Per reader about 1 MiB of replies queued (~100) plus what the
            # socket buffer took (~20); before, every line of each 16 KiB
            # read was answered first (~900 replies, ~10 MiB per reader).
            self.assertLess(answered, HOGS * 200)
            if echod.slow_factor() == 1:  # ASan keeps freed memory resident
                self.assertLess(grown, HOGS * 3 * 1024,
                                "peak RSS grew by %d KiB" % grown)
            self.assertLess(waited, echod.scaled(2))
            # They never read: each is closed at its deadline (4 s without
            # progress), not kept forever.
            echod.wait_until(lambda: num_sockets(srv.pid) <= base_socks,
                             echod.scaled(15), what="the readers closed")
        finally:
            for s in hogs:
                s.close()
        self.assertTrue(srv.running())


if __name__ == "__main__":
    unittest.main(verbosity=2)
