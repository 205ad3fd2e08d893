"""Smoke tests of what issue 15 added to echo-bench, each a second or two
against a real server: the plain-TCP floor server (//tools/bench:plain_echo)
driven with --plain, connections spread over loopback source addresses,
the scale scenario (held, echoed, closed; refusals at the server's limit
counted apart from errors), and flood's closed loop with its solo storm.
They assert what happened (bytes echoed, sessions held, counts that add
up), never how fast: the machine is shared."""

import json
import os
import re
import resource
import subprocess
import unittest

from tests.lib import echod


def bench(args, state_dir=None, timeout=60):
    """Runs echo-bench with --json; returns (exit code, JSON or None,
    stderr)."""
    env = {"ECHOD_STATE_DIR": state_dir} if state_dir else {}
    r = echod.run_tool([echod.binary("cmd/bench")] + list(args) + ["--json"],
                       timeout=timeout, env=env)
    lines = r.stdout.strip().splitlines()
    out = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return r.returncode, out, r.stderr


def errors(out):
    return {k: v for k, v in out["errors"].items() if k != "first" and v}


class PlainServer:
    """//tools/bench:plain_echo on an ephemeral port; a context manager.
    stop() returns its final counters (accepted, closed, bytes)."""

    def __init__(self, *args):
        self.log = os.path.join(echod.tmpdir("plain-"), "plain.log")
        self.logf = open(self.log, "wb")
        self.proc = echod._track(subprocess.Popen(
            [echod.binary("tools/bench/plain_echo"), "--listen",
             "127.0.0.1:0"] + list(args), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.logf))
        self.pid = self.proc.pid
        m = echod.wait_until(self._addr, 20, what="plain_echo listening")
        self.port = int(m.group(1))
        self.addr = "127.0.0.1:%d" % self.port

    def _text(self):
        with open(self.log) as f:
            return f.read()

    def _addr(self):
        return re.search(r"listening on 127\.0\.0\.1:(\d+)", self._text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        rc = self.proc.wait(timeout=10)
        echod._untrack(self.proc)
        self.logf.close()
        if rc != 0:
            raise AssertionError("plain_echo exited %d: %s" % (rc,
                                                               self._text()))
        m = re.search(r"accepted=(\d+) closed=(\d+) bytes=(\d+)",
                      self._text())
        return {k: int(v) for k, v in zip(("accepted", "closed", "bytes"),
                                          m.groups())}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            echod._untrack(self.proc)


class Plain(unittest.TestCase):
    """--plain drives the kernel-floor server through the same engine."""

    def run_plain(self, srv, *args):
        code, out, err = bench(list(args) + [
            "--plain", "--connect", srv.addr, "--server-pid", str(srv.pid),
            "--no-progress"])
        self.assertEqual(code, 0, "%s: %s %s" % (args, out, err))
        self.assertTrue(out["plain"], out)
        self.assertEqual(errors(out), {}, out)
        self.assertEqual(out["tls"]["version"], "", out)  # no TLS at all
        return out

    def test_handshake_cycle(self):
        # Exactly 300 connect / 32-byte echo / close cycles: the server saw
        # 300 connections, all closed, and 300 x 32 bytes.
        with PlainServer() as srv:
            out = self.run_plain(srv, "handshake", "-c", "4", "-n", "300")
            counts = srv.stop()
        self.assertEqual(out["ops"], 300)
        self.assertEqual(out["size"], 32)
        self.assertEqual(out["bytes"], 300 * 32)
        self.assertEqual(counts, {"accepted": 300, "closed": 300,
                                  "bytes": 300 * 32})

    SHAPE = "244:753,566:0+,54:384,24:24"  # a full handshake's, roughly

    def test_shaped_cycle(self):
        # A TLS session's message pattern with no TLS (--shape): the server
        # answers each step once its bytes are in and closes after the
        # last. 200 cycles, every byte accounted for on the server's side;
        # the client counted exactly the answers (else: mismatch).
        with PlainServer("--shape", self.SHAPE) as srv:
            out = self.run_plain(srv, "handshake", "-c", "4", "-n", "200",
                                 "--shape", self.SHAPE)
            counts = srv.stop()
        self.assertEqual(out["ops"], 200)
        self.assertEqual(out["shape"], self.SHAPE)
        self.assertEqual(counts, {"accepted": 200, "closed": 200,
                                  "bytes": 200 * (244 + 566 + 54 + 24)})

    def test_shaped_cycle_goes_on_without_the_answer(self):
        # '+': the client sends its next step without waiting for this
        # one's answer (a TLS client's data right after its Finished). This
        # server answers the first step only once the second is in, so a
        # client that waited would time out.
        with PlainServer("--shape", "20:12") as srv:
            out = self.run_plain(srv, "handshake", "-c", "2", "-n", "50",
                                 "--shape", "10:5+,10:7", "--timeout", "2")
            counts = srv.stop()
        self.assertEqual(out["ops"], 50)
        self.assertEqual(out["bytes"], 50 * 12)
        self.assertEqual(counts["bytes"], 50 * 20)

    def shaped_failure(self, server_args, client_args):
        with PlainServer(*server_args) as srv:
            code, out, err = bench(
                ["handshake", "--plain", "--connect", srv.addr, "-c", "2",
                 "-d", "1.5", "--timeout", "0.5", "--no-progress"] +
                client_args)
            srv.stop()
        self.assertNotEqual(code, 0, out)
        self.assertEqual(out["ops"], 0, out)
        return out

    def test_shaped_cycle_never_passes_a_mismatch(self):
        # A pattern the server does not share never counts a cycle: the
        # server waits for bytes that never come (timeouts), or answers
        # more than the client expects (mismatch); a plain echo client
        # against a shaped server waits in vain too.
        out = self.shaped_failure(["--shape", self.SHAPE],
                                  ["--shape", "100:753,24:24"])
        self.assertGreater(out["errors"]["timeouts"], 0, out)
        out = self.shaped_failure(["--shape", self.SHAPE],
                                  ["--shape", "244:753,566:0+,54:384,24:10"])
        self.assertGreater(out["errors"]["mismatch"], 0, out)
        self.assertIn("sent too much", out["errors"]["first"])
        # The same totals, answered at other steps: caught at the step.
        out = self.shaped_failure(["--shape", "244:1137,566:0,54:0,24:24"],
                                  ["--shape", self.SHAPE])
        self.assertGreater(out["errors"]["mismatch"], 0, out)
        out = self.shaped_failure(["--shape", self.SHAPE], [])
        self.assertGreater(out["errors"]["timeouts"], 0, out)

    def test_echo_counts(self):
        with PlainServer() as srv:
            out = self.run_plain(srv, "echo", "-c", "8", "-s", "100", "-n",
                                 "2000")
            counts = srv.stop()
        self.assertEqual(out["ops"], 2000)
        self.assertEqual(out["bytes"], 2000 * 100)
        # Every connection's 32-byte hello, then the measured messages.
        self.assertEqual(counts["bytes"], 8 * 32 + 2000 * 100)
        self.assertEqual(counts["accepted"], 8)

    def test_echo_paced(self):
        # --rate paces echo as it paces flood: 4 connections x 100 msgs/s
        # for 2 s is ~800 messages, where the closed loop makes tens of
        # thousands. (The window's edges allow a message or so each way
        # per connection; a slow machine may fall a little short.)
        with PlainServer() as srv:
            out = self.run_plain(srv, "echo", "-c", "4", "-s", "64",
                                 "--rate", "100", "-d", "2")
            srv.stop()
        self.assertEqual(out["rate_per_conn"], 100, out)
        self.assertLessEqual(out["ops"], 4 * 100 * 2 + 8, out)
        self.assertGreaterEqual(out["ops"], 4 * 100 * 2 * 0.8, out)

    def test_bulk_and_server_cpu(self):
        with PlainServer() as srv:
            out = self.run_plain(srv, "bulk", "-c", "2", "-s", "16k", "-d",
                                 "1")
            counts = srv.stop()
        self.assertGreater(out["bytes"], 1 << 20, out)
        self.assertGreaterEqual(counts["bytes"], out["bytes"])
        # --server-pid works for the plain server as for echod.
        self.assertTrue(out["server"]["ok"], out)
        self.assertGreater(out["server"]["cpu_us"], 0, out)
        self.assertGreater(out["server"]["gb_per_cpu_s"], 0, out)

    def test_scale(self):
        with PlainServer() as srv:
            out = self.run_plain(srv, "scale", "-c", "200", "--hold", "0.5")
            counts = srv.stop()
        s = out["sessions"]
        self.assertEqual((s["established"], s["held"], s["closed"]),
                         (200, 200, 200), out)
        self.assertEqual(s["refused_at_limit"], 0, out)
        self.assertEqual(counts["accepted"], 200)
        self.assertEqual(counts["closed"], 200)
        self.assertEqual(out["server"]["fds_held"],
                         out["server"]["fds_before"] + 200, out)
        self.assertEqual(out["server"]["fds_after"],
                         out["server"]["fds_before"], out)

    def test_refusals(self):
        code, _, err = bench(["flood", "--plain"])
        self.assertEqual(code, 2)
        self.assertIn("--plain does not apply to flood", err)
        code, _, err = bench(["handshake", "-s", "64"])
        self.assertEqual(code, 2)
        self.assertIn("echoes 32 bytes", err)


def established_sources(server_port):
    """Local addresses of the established client sockets to |server_port|
    (from /proc/net/tcp), as a {ip: count} dict."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state != "01" or int(remote.split(":")[1], 16) != server_port:
                continue
            ip = bytes.fromhex(local.split(":")[0])[::-1]
            out[".".join(str(b) for b in ip)] = out.get(
                ".".join(str(b) for b in ip), 0) + 1
    return out


class Sources(unittest.TestCase):
    """Connections are spread over 127.0.0.1 .. 127.0.0.N, bound before
    connect."""

    def spread(self, sources, conns=64):
        with PlainServer() as srv:
            p = echod._track(subprocess.Popen(
                [echod.binary("cmd/bench"), "idle", "--plain", "-c",
                 str(conns), "-d", "3", "--sources", str(sources),
                 "--connect", srv.addr, "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            try:
                seen = echod.wait_until(
                    lambda: (lambda d: d if sum(d.values()) == conns else
                             None)(established_sources(srv.port)),
                    20, what="%d established connections" % conns)
                stdout, stderr = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                echod._untrack(p)
            srv.stop()
        self.assertEqual(p.returncode, 0, stderr)
        out = json.loads(stdout.strip().splitlines()[-1])
        self.assertEqual(out["held"], conns)
        return seen, out

    def test_spread_over_four(self):
        seen, out = self.spread(4)
        self.assertEqual(out["sources"], 4)
        self.assertEqual(seen, {"127.0.0.%d" % i: 16 for i in range(1, 5)})

    def test_one_source(self):
        seen, out = self.spread(1, conns=10)
        self.assertEqual(out["sources"], 0)
        self.assertEqual(seen, {"127.0.0.1": 10})


class Scale(unittest.TestCase):
    """scale against echod: held, echoed, closed; refusals at the limit
    are counted and do not fail the run while every held session echoes."""

    def scale(self, srv, *args):
        code, out, err = bench(list(args) + [
            "--connect", "127.0.0.1:%d" % srv.port, "--server-pid",
            str(srv.pid), "--hold", "0.5", "--no-progress"],
            state_dir=srv.state_dir)
        self.assertEqual(code, 0, "%s %s" % (out, err))
        self.assertEqual(errors(out), {}, out)
        s = out["sessions"]
        self.assertEqual(s["established"] + s["refused_at_limit"],
                         s["attempted"], out)
        self.assertEqual(s["held"], s["established"], out)
        self.assertEqual(s["closed"], s["established"], out)
        self.assertEqual(s["close_unclean"], 0, out)
        return out

    def test_sessions_held_echoed_closed(self):
        with echod.Server("--workers", "1", "--handshake-threads",
                          "1") as srv:
            out = self.scale(srv, "scale", "-c", "200")
            srv.stop_clean()
        self.assertEqual(out["sessions"]["established"], 200, out)
        self.assertEqual(out["tls"]["version"], "TLSv1.3")
        server = out["server"]
        self.assertGreaterEqual(server["fds_held"],
                                server["fds_before"] + 200, out)
        self.assertEqual(server["fds_after"], server["fds_before"], out)
        self.assertGreater(server["rss_after_kib"], 0, out)
        self.assertGreater(server["rss_after_close_kib"], 0, out)
        self.assertGreater(out["client_fds"]["max_sessions"], 200, out)

    def test_refused_at_max_connections(self):
        with echod.Server("--workers", "1", "--handshake-threads", "1",
                          "--max-connections", "50") as srv:
            out = self.scale(srv, "scale", "-c", "80", "--parallel", "16")
            srv.stop_clean()
        self.assertEqual(out["sessions"]["established"], 50, out)
        self.assertEqual(out["sessions"]["refused_at_limit"], 30, out)

    def test_refused_at_descriptor_limit(self):
        # The server may open 64 descriptors: the sessions beyond are
        # turned away, the rest are held, echo and close.
        with echod.Server("--workers", "1", "--handshake-threads",
                          "1") as srv:
            resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (64, 64))
            out = self.scale(srv, "scale", "-c", "100", "--parallel", "16")
            srv.stop_clean()
        s = out["sessions"]
        self.assertGreater(s["refused_at_limit"], 0, out)
        self.assertGreater(s["established"], 0, out)
        self.assertLess(s["established"], 64, out)

    def test_too_many_for_this_process(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        code, _, err = bench(["scale", "--plain", "-c", str(hard + 1),
                              "--connect",
                              "127.0.0.1:%d" % echod.free_port()])
        self.assertEqual(code, 1)
        self.assertIn("sessions fit", err)


class ClosedLoopFlood(unittest.TestCase):
    """flood --rate 0: quiet, the storm alone, then both."""

    def test_closed_loop_with_solo_storm(self):
        with echod.Server("--workers", "1", "--handshake-threads",
                          "1") as srv:
            code, out, err = bench(
                ["flood", "--rate", "0", "--echo-conns", "4", "--storm", "2",
                 "-d", "2", "--connect", "127.0.0.1:%d" % srv.port,
                 "--server-pid", str(srv.pid), "--no-progress"],
                state_dir=srv.state_dir)
            srv.stop_clean()
        self.assertEqual(code, 0, "%s %s" % (out, err))
        self.assertEqual(errors(out), {}, out)
        self.assertTrue(out["closed_loop"])
        self.assertEqual(out["echo_conns"], 4)
        self.assertGreater(out["quiet_rtt_us"]["n"], 0, out)
        self.assertGreater(out["storm_rtt_us"]["n"], 0, out)
        solo = out["solo_storm"]
        self.assertGreater(solo["handshakes"], 0, out)
        self.assertGreater(solo["handshake_us"]["n"], 0, out)
        self.assertAlmostEqual(out["storm_hs_kept"],
                               out["storm_hs_per_s"] / solo["hs_per_s"],
                               places=3)
        rates = out["achieved_rate_per_conn"]
        self.assertAlmostEqual(out["echo_rate_kept"],
                               rates["storm"] / rates["quiet"], places=3)


class SizeReported(unittest.TestCase):
    """issue 13 item 10: the summary said 64 bytes for a handshake run
    that echoes 32."""

    def test_handshake_reports_what_it_sends(self):
        with echod.Server("--workers", "1") as srv:
            code, out, err = bench(
                ["handshake", "-c", "2", "-n", "50", "--connect",
                 "127.0.0.1:%d" % srv.port], state_dir=srv.state_dir)
            srv.stop_clean()
        self.assertEqual(code, 0, err)
        self.assertEqual(out["size"], 32, out)
        self.assertEqual(out["bytes"], 50 * 32, out)


if __name__ == "__main__":
    unittest.main()
