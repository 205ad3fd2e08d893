"""Smoke test of tools/bench/trust_reload: one short round against the real
server, with the same build as its own A/B peer. It asserts what happened
(every reload seen with the CRL's entries and closing no session, the
server and its spawner measured, the handshakes' CPU, every held session
still served, the echoes before and during the reloads, the work
directory removed), never how fast or how much."""

import json
import unittest

from tests.lib import echod


class TrustReloadTest(unittest.TestCase):

    def test_quick_round(self):
        r, left = echod.run_bench_ab(
            "trust_reload", ["--entries", "3000", "--allow", "50",
                             "--sessions", "5", "--reloads", "2",
                             "--rounds", "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        # Its work directory (a CA with its private key) is gone.
        self.assertEqual(left, [])
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3, r.stdout)
        self.assertIn("CRL of 3000 entries, 50 allowed CNs, 5 sessions",
                      lines[0])
        out = json.loads(lines[-1])
        self.assertEqual(sorted(out["results"]), ["new", "old"])
        for rounds in out["results"].values():
            self.assertEqual(len(rounds), 1)
            rd = rounds[0]
            self.assertEqual(len(rd["reload_s"]), 2, rd)
            self.assertEqual(len(rd["rss_after_kib"]), 2, rd)
            self.assertGreater(rd["rss_kib"], 0, rd)
            self.assertGreater(rd["spawner_rss_kib"], 0, rd)
            self.assertGreater(rd["handshake_cpu_us"], 0, rd)
            self.assertGreaterEqual(rd["peak_rss_kib"], rd["rss_kib"], rd)
            self.assertGreater(rd["echoes"], 100, rd)  # 10 ms apart, > 2 s
            self.assertGreater(rd["echo_quiet_max_ms"], 0, rd)
            self.assertGreater(rd["echo_reload_max_ms"], 0, rd)


if __name__ == "__main__":
    unittest.main(verbosity=2)
