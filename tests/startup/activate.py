"""Systemd socket activation without systemd, for tests.

    activate.py [--name NAME] [--kind listen|bound|udp] ADDR [ADDR...] \\
        [--pid-offset N] -- PROGRAM ARGS...

Creates one socket per ADDR ("127.0.0.1:0", "[::1]:0") the way a .socket
unit with ListenStream= does (SO_REUSEADDR, bound, listening; --kind bound
leaves it unlistened and udp makes a datagram socket, both mistakes echod
must refuse), moves them to descriptors 3, 4, ..., sets LISTEN_PID to this
process (exec keeps the pid; --pid-offset makes it someone else's),
LISTEN_FDS and LISTEN_FDNAMES, and execs PROGRAM in place.
"""

import fcntl
import os
import socket
import sys


def make(addr, kind):
    host, port = addr.rsplit(":", 1)
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    host = host.strip("[]")
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, stype)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    if kind == "listen":
        s.listen(128)
    return s


def main(argv):
    sep = argv.index("--")
    opts, prog = argv[:sep], argv[sep + 1:]
    name, kind, offset, addrs = "echo", "listen", 0, []
    i = 0
    while i < len(opts):
        if opts[i] in ("--name", "--kind", "--pid-offset"):
            val = opts[i + 1]
            if opts[i] == "--name":
                name = val
            elif opts[i] == "--kind":
                kind = val
            else:
                offset = int(val)
            i += 2
        else:
            addrs.append(opts[i])
            i += 1
    socks = [make(a, kind) for a in addrs]
    # Move every socket above the target range first, then into place.
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 3 + len(socks))
            for s in socks]
    for s in socks:
        s.close()
    for n, fd in enumerate(high):
        os.dup2(fd, 3 + n, inheritable=True)
        os.close(fd)
    env = dict(os.environ)
    env["LISTEN_PID"] = str(os.getpid() + offset)
    env["LISTEN_FDS"] = str(len(socks))
    env["LISTEN_FDNAMES"] = ":".join([name] * len(socks))
    os.execve(prog[0], prog, env)


if __name__ == "__main__":
    main(sys.argv[1:])
