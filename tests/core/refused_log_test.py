"""Connections the server refuses at accept (--max-connections, the
handshake pool's queue full) are logged: a "connection refused" line with
the reason and the peer, at most one a second per reason, each saying how
many refusals since the previous line got none (unlogged=). Before, these
closes were only counted. (Draining: internal/loop conn_test; a draining
server has closed its listeners, so a client cannot reach that path.)"""

import socket
import ssl
import time
import unittest

from tests.lib import echod


def refused_lines(srv, reason):
    return [e for e in srv.events("connection refused")
            if e.get("reason") == reason]


def knock(port):
    """Opens TCP, sends one byte (the listener's TCP_DEFER_ACCEPT hands a
    connection over once it has data; a silent one only after about a
    second) and waits for the server to close it; returns the local
    port."""
    s = socket.create_connection(("127.0.0.1", port),
                                 timeout=echod.scaled(10))
    lport = s.getsockname()[1]
    s.sendall(b"\x16")
    try:
        s.recv(1)
    except ConnectionResetError:
        pass
    s.close()
    return lport


def client_hello(srv):
    """A TCP connection that has sent a ClientHello (a step for the pool)
    and reads nothing yet."""
    ctx = echod.client_context(**srv.dev_client())
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s = socket.create_connection(("127.0.0.1", srv.port),
                                 timeout=echod.scaled(10))
    s.sendall(out.read())
    return s


class RefusedLogTest(unittest.TestCase):

    def test_max_connections_rate_limited(self):
        n = 30
        with echod.Server("--max-connections", "1", "--workers", "1") as srv:
            ctx = echod.client_context(**srv.dev_client())
            with echod.connect(srv.port, ctx) as held:
                self.assertEqual(echod.echo(held, b"x"), b"x")
                t0 = time.monotonic()
                ports = [knock(srv.port) for _ in range(n)]
                burst_s = time.monotonic() - t0
                time.sleep(1.2)  # past the one-second limit
                ports.append(knock(srv.port))
                last = srv.wait_log(r'msg="connection refused" [^\n]*'
                                    r'peer=127\.0\.0\.1:%d [^\n]*' % ports[-1])
            lines = refused_lines(srv, "max_connections")
            # The first refusal is logged; every refusal is either logged
            # or counted in a later line's unlogged=.
            self.assertEqual(lines[0]["peer"], "127.0.0.1:%d" % ports[0])
            self.assertEqual(lines[0]["unlogged"], "0")
            self.assertEqual(echod.parse_logfmt(last.group(0))["peer"],
                             "127.0.0.1:%d" % ports[-1])
            if burst_s < 1:  # the usual case: the burst got one line
                self.assertEqual([e["unlogged"] for e in lines],
                                 ["0", str(n - 1)])
            self.assertEqual(len(lines) + sum(int(e["unlogged"])
                                              for e in lines), n + 1)
            self.assertLessEqual(len(lines), 3 + int(burst_s), lines)
            srv.stop_clean()

    def test_pending_handshakes(self):
        delay = int(min(1000 * echod.slow_factor(), 10000))
        with echod.Server("--max-pending-handshakes", "1",
                          "--handshake-threads", "1", "--workers", "1",
                          "--test-handshake-delay", "%dms" % delay) as srv:
            busy = client_hello(srv)  # the one thread sleeps on it
            time.sleep(0.1)
            queued = client_hello(srv)  # waits in the queue: it is full
            time.sleep(0.1)
            lport = knock(srv.port)
            m = srv.wait_log(r'msg="connection refused" [^\n]*')
            ev = echod.parse_logfmt(m.group(0))
            self.assertEqual((ev["reason"], ev["peer"], ev["unlogged"]),
                             ("pending_handshakes",
                              "127.0.0.1:%d" % lport, "0"))
            busy.close()
            queued.close()
            srv.stop_clean()


if __name__ == "__main__":
    unittest.main()
