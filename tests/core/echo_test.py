"""Echo is byte-exact: empty, 1 byte, binary with NULs, 1 MiB, 200
concurrent clients streaming 256 KiB each (checksums), and the same through
//cmd:client in pipe mode."""

import hashlib
import os
import random
import threading
import time
import unittest

from tests.lib import echod


class EchoTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        echod.raise_fd_limit(4096)
        cls.srv = echod.Server()  # zero-config: dev PKI in a temp state dir
        cls.ctx = echod.client_context(**cls.srv.dev_client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_clean()

    def roundtrip(self, data):
        with echod.connect(self.srv.port, self.ctx) as s:
            lport = echod.local_port(s)
            got = echod.echo(s, data, timeout=30)
            self.assertTrue(echod.close_tls(s),
                            "server did not answer our close_notify")
        self.assertEqual(len(got), len(data))
        self.assertEqual(hashlib.sha256(got).hexdigest(),
                         hashlib.sha256(data).hexdigest())
        ev = self.srv.session_closed(lport)
        self.assertEqual(int(ev["bytes_in"]), len(data), ev)
        self.assertEqual(int(ev["bytes_out"]), len(data), ev)
        self.assertEqual(ev.get("reason"), "client_close", ev)
        self.assertEqual(ev.get("cn"), "dev-client", ev)
        return ev

    def test_empty(self):
        self.roundtrip(b"")

    def test_one_byte(self):
        self.roundtrip(b"x")

    def test_binary_with_nuls(self):
        data = b"\x00" * 10 + bytes(range(256)) * 16 + b"\x00\xff\x00"
        self.roundtrip(data)

    def test_one_mib(self):
        self.roundtrip(os.urandom(1 << 20))

    def test_many_small_writes_in_order(self):
        # 2,000 tiny records: order and framing survive.
        with echod.connect(self.srv.port, self.ctx) as s:
            want = bytearray()
            for i in range(2000):
                chunk = b"%d," % i
                s.sendall(chunk)
                want += chunk
            got = bytearray()
            deadline = time.monotonic() + echod.scaled(20)
            while len(got) < len(want) and time.monotonic() < deadline:
                got += s.recv(65536)
            self.assertEqual(bytes(got), bytes(want))

    def test_200_concurrent_clients(self):
        n, size = 200, 256 * 1024
        results = [None] * n
        errors = []

        def client(i):
            rnd = random.Random(i)
            data = rnd.randbytes(size)
            try:
                with echod.connect(self.srv.port, self.ctx, timeout=60) as s:
                    got = echod.echo(s, data, timeout=120)
                    echod.close_tls(s)
                results[i] = (hashlib.sha256(data).digest(),
                              hashlib.sha256(got).digest(), len(got))
            except Exception as e:  # reported below with the client index
                errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        deadline = t0 + echod.scaled(150)
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        elapsed = time.monotonic() - t0
        alive = sum(t.is_alive() for t in threads)
        self.assertEqual(alive, 0, "%d clients still running after %.0fs"
                         % (alive, elapsed))
        self.assertEqual(errors, [], "\n".join(errors[:10]))
        bad = ["client %d: %s" % (i, "no result" if r is None else
                                  "%d of %d bytes back, checksum %s"
                                  % (r[2], size, "ok" if r[0] == r[1]
                                     else "WRONG"))
               for i, r in enumerate(results)
               if r is None or r[0] != r[1] or r[2] != size]
        self.assertEqual(bad, [], "%d clients with a wrong echo:\n%s\n%s"
                         % (len(bad), "\n".join(bad[:10]),
                            self.srv.log_tail(10)))
        print("200 x 256 KiB echoed in %.2fs" % elapsed)

    def run_client(self, data, *extra):
        return echod.run_client(
            ["--connect", "127.0.0.1:%d" % self.srv.port] + list(extra),
            input=data, state_dir=self.srv.state_dir, timeout=60)

    def test_client_pipe_mode(self):
        cases = [b"", b"hello\n", b"\x00\x01\x00" * 1000 + b"\x00",
                 os.urandom(4 << 20)]
        for data in cases:
            r = self.run_client(data)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout), len(data))
            self.assertTrue(r.stdout == data, "echo differs for %d bytes"
                            % len(data))
            self.assertRegex(r.stderr, r"handshake ok: .*version=TLSv1\.3")
            self.assertRegex(r.stderr, r"closed: sent=%d received=%d "
                             r"server_close_notify=yes" % (len(data),
                                                           len(data)))

    def test_client_pipe_mode_quiet(self):
        data = os.urandom(100000)
        r = self.run_client(data, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout == data)
        self.assertEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
