"""--handshake-share PERCENT end to end: the flag (and ECHOD_HANDSHAKE_SHARE)
takes 0-90, default 30, and anything else is one line on stderr and exit
2; with an echo load that keeps the one I/O loop busy, a storm of new
handshakes still completes, every echoed byte is right, and the loop
naps for the pool (echod_handshake_share_naps_total moves) only when the
share is on. What the share buys in rates and latency is measured in
docs/BENCHMARKS.md, never here."""

import json
import re
import socket
import unittest
import urllib.request

from tests.lib import echod

METRICS_RE = re.compile(r'msg="metrics listening" addr=(\S+)')


def share_naps(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^echod_handshake_share_naps_total (\d+)", text, re.M)
    return int(m.group(1))


class HandshakeShareFlagTest(unittest.TestCase):

    def test_bad_values_are_refused(self):
        for value in ("91", "100", "-1", "lots", ""):
            with self.subTest(value=value):
                port = echod.free_port()
                r = echod.run_server(["--handshake-share", value,
                                      "--listen", "127.0.0.1:%d" % port,
                                      "--no-admin", "--no-metrics"])
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("--handshake-share", lines[0])
                with self.assertRaises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", port),
                                             timeout=2).close()

    def print_config(self, args, env=None):
        r = echod.run_server(args + ["--print-config"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["handshake_share"]

    def test_default_flag_and_environment(self):
        self.assertEqual(self.print_config([]), 30)
        self.assertEqual(self.print_config(["--handshake-share", "0"]), 0)
        self.assertEqual(self.print_config(["--handshake-share", "90"]), 90)
        self.assertEqual(
            self.print_config([], env={"ECHOD_HANDSHAKE_SHARE": "40"}), 40)


class HandshakeShareLoadTest(unittest.TestCase):
    """echo-bench flood --rate 0: echo connections in a closed loop keep
    the loop busy, then a storm of full handshakes runs alone and beside
    them."""

    def flood(self, share):
        with echod.Server("--workers", "1", "--handshake-threads", "1",
                          "--handshake-share", str(share),
                          "--metrics-listen", "127.0.0.1:0",
                          metrics=True) as srv:
            mport = int(srv.wait_log(METRICS_RE.pattern, 10)
                        .group(1).rsplit(":", 1)[1])
            r = echod.run_tool(
                [echod.binary("cmd/bench"), "flood", "--rate", "0",
                 "--echo-conns", "16", "--storm", "4", "-d", "2",
                 "--connect", "127.0.0.1:%d" % srv.port, "--json",
                 "--no-progress"],
                timeout=echod.scaled(120), env={
                    "ECHOD_STATE_DIR": srv.state_dir})
            naps = share_naps(mport)
            srv.stop_clean()
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(r.returncode, 0, "%s %s" % (r.stdout, r.stderr))
        self.assertEqual({k: v for k, v in out["errors"].items()
                          if k != "first" and v}, {}, out)
        # Handshakes made progress beside the echo load, and the echo went
        # on (every byte checked by echo-bench).
        self.assertGreater(out["storm_handshakes"], 0, out)
        self.assertGreater(out["storm_rtt_us"]["n"], 0, out)
        return naps

    def test_loop_naps_for_waiting_handshakes(self):
        self.assertGreater(self.flood(90), 0)

    def test_no_naps_with_share_off(self):
        self.assertEqual(self.flood(0), 0)


if __name__ == "__main__":
    unittest.main()
