"""Smoke test of tools/bench/abandon: one short round against the real
server, with the same build as its own A/B peer. It asserts what happened
(every abandoned client logged as a truncated handshake, the honest client
served, both servers measured in every round), never how fast."""

import json
import unittest

from tests.lib import echod


class AbandonTest(unittest.TestCase):

    def test_quick_round(self):
        r, left = echod.run_bench_ab(
            "abandon", ["--clients", "20", "--rounds", "2",
                        "--key-type", "p256"])
        self.assertEqual(r.returncode, 0, r.stderr)
        # Its work directory (a CA with its private key) is gone.
        self.assertEqual(left, [])
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3, r.stdout)
        self.assertIn("20 clients left, then one honest handshake", lines[0])
        out = json.loads(lines[-1])
        self.assertEqual(sorted(out["results"]), ["new", "old"])
        for rounds in out["results"].values():
            self.assertEqual(len(rounds), 2)
            for rd in rounds:
                self.assertEqual(rd["truncated"], 20, rd)
                self.assertEqual(rd["logged"], 20, rd)
                self.assertGreater(rd["honest_ms"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
