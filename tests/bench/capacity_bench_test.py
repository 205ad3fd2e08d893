"""echo-bench against echod for what a session costs (issues 12 and 15),
a few seconds each:

- partial (smoke): connections that send the start of a TLS record and
  wait are held up to --max-handshaking and the rest closed by the server
  (counted apart from errors), the echo sessions alongside lose nothing,
  and the server's memory per held connection is reported (the bound is
  tests/core/partial_test.py's);
- memory returned: after 2,000 sessions close, echod gives their memory
  back (malloc_trim on the control loop, the "memory returned" line);
  before, RSS stayed where the sessions had taken it. The RSS check runs
  in the plain build only."""

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


class MemoryReturned(unittest.TestCase):

    def test_after_a_mass_close(self):
        with echod.Server("--workers", "1", "--handshake-threads",
                          "1") as srv:
            r = echod.run_tool(
                [echod.binary("cmd/bench"), "scale", "-c", "2000",
                 "--hold", "0.5", "--connect", "127.0.0.1:%d" % srv.port,
                 "--server-pid", str(srv.pid), "--no-progress", "--json"],
                env={"ECHOD_STATE_DIR": srv.state_dir}, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            out = json.loads(r.stdout.strip().splitlines()[-1])
            s = out["server"]
            before, held, after = (s["rss_before_kib"], s["rss_after_kib"],
                                   s["rss_after_close_kib"])
            print("RSS %d -> %d KiB with 2000 sessions, %d KiB after they "
                  "closed" % (before, held, after))
            self.assertEqual(out["sessions"]["closed"], 2000, out)
            ev = srv.wait_log(r'msg="memory returned" [^\n]*')
            self.assertIsNotNone(ev)
            if not echod.sanitizer_build():
                self.assertGreater(held - before, 4000, out)
                self.assertLess(after - before, (held - before) / 4, out)
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
