"""Smoke test of echo-bench partial (issue 12, item 2), a few seconds
against a real echod: connections that send the start of a TLS record and
wait are held up to --max-handshaking and the rest closed by the server
(counted apart from errors), the echo sessions alongside lose nothing,
and the server's memory per held connection is reported. No timing or
memory assertion here: the bound is tests/core/partial_test.py's."""

import json
import unittest

from tests.lib import echod


class PartialBench(unittest.TestCase):

    def test_held_up_to_the_cap_the_rest_closed(self):
        with echod.Server("--workers", "1", "--handshake-threads", "1",
                          "--max-handshaking", "20") as srv:
            r = echod.run_tool(
                [echod.binary("cmd/bench"), "partial", "-c", "60",
                 "--parallel", "8", "--echo-conns", "2", "--hold", "0.5",
                 "--connect", "127.0.0.1:%d" % srv.port, "--server-pid",
                 str(srv.pid), "--no-progress", "--json"],
                env={"ECHOD_STATE_DIR": srv.state_dir}, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            out = json.loads(r.stdout.strip().splitlines()[-1])
            p = out["partial"]
            self.assertEqual(p["attempted"], 60, out)
            self.assertEqual(p["bytes_each"], 16388, out)
            self.assertEqual(p["held"], 20, out)
            self.assertLessEqual(p["peak_held"], 60, out)
            self.assertEqual(p["held"] + p["closed_by_server"], 60, out)
            self.assertEqual(p["unattempted"], 0, out)
            self.assertEqual({k: v for k, v in out["errors"].items()
                              if k != "first" and v}, {}, out)
            self.assertEqual(out["echo"]["conns"], 2, out)
            self.assertGreater(out["echo"]["during_rtt_us"]["n"], 0, out)
            self.assertGreater(out["partial_server"]["rss_held_kib"], 0, out)
            self.assertGreater(out["partial_server"]["kib_per_held"], 0, out)
            self.assertEqual(out["partial_server"]["fds_held"],
                             out["partial_server"]["fds_before"] + 20, out)
            refused = [e for e in srv.events("connection refused")
                       if e.get("reason") == "max_handshaking"]
            self.assertTrue(refused, srv.log_tail())
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
