#!/usr/bin/env python3
"""The original design, as a benchmark peer: socket + ssl, a thread per
client. Requires and verifies a client certificate; TLS 1.3 only. Prints
"msg=listening addr=HOST:PORT" on stderr once it accepts.

Usage: echo_python.py --listen 127.0.0.1:0 --cert C --key K --ca CA
"""
import argparse
import signal
import socket
import ssl
import sys
import threading


def serve_client(conn):
    try:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
    except (OSError, ssl.SSLError):
        pass


def handshake_and_serve(conn, ctx):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError):
        conn.close()
        return
    serve_client(tls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    # Let the client's suite order win, as the Go and Node peers do.
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE

    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(fam, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, int(port)))
    lsock.listen(4096)
    h, p = lsock.getsockname()[:2]
    h = "[%s]" % h if fam == socket.AF_INET6 else h
    sys.stderr.write("msg=listening addr=%s:%d\n" % (h, p))
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            conn, _ = lsock.accept()
        except OSError:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = threading.Thread(target=handshake_and_serve, args=(conn, ctx),
                             daemon=True)
        t.start()


if __name__ == "__main__":
    main()
