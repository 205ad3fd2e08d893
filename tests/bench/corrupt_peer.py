#!/usr/bin/env python3
"""A mutual-TLS echo server that lies on purpose, for echo-bench's tests:
it echoes faithfully until --corrupt-after bytes have passed on a
connection, then flips one bit in every chunk it echoes. With
--corrupt-after -1 it never lies (the control case). Prints
"msg=listening addr=HOST:PORT" on stderr.
"""
import argparse
import socket
import ssl
import sys
import threading


def serve(conn, ctx, corrupt_after):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError):
        conn.close()
        return
    seen = 0
    try:
        with tls:
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                if 0 <= corrupt_after <= seen + len(data):
                    data = bytes([data[0] ^ 0x01]) + data[1:]
                seen += len(data)
                tls.sendall(data)
    except (OSError, ssl.SSLError):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--corrupt-after", type=int, default=100)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    host, _, port = a.listen.rpartition(":")
    lsock = socket.socket()
    lsock.bind((host, int(port)))
    lsock.listen(128)
    sys.stderr.write("msg=listening addr=%s:%d\n" % lsock.getsockname())
    sys.stderr.flush()
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, ctx, a.corrupt_after),
                         daemon=True).start()


if __name__ == "__main__":
    main()
