"""Helpers for the admin socket end-to-end tests: start a server with its
admin socket at a short path, talk to it raw or through echoctl."""

import json
import os
import socket
import time

from tests.lib import echod


def short_dir(mode=0o700):
    """A new directory, short enough for a socket path (echod.tmpdir)."""
    d = echod.tmpdir("adm-")
    os.chmod(d, mode)
    return d


def start(*flags, sock_dir=None, env=None, **kw):
    """Starts echod with --admin-socket in a short dir; waits for it."""
    path = os.path.join(sock_dir or short_dir(), "admin.sock")
    srv = echod.Server(*flags, "--admin-socket", path, admin=True, env=env,
                       **kw)
    srv.admin_path = path
    echod.wait_until(lambda: os.path.exists(path), 10, what="admin socket")
    return srv


def dial(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(echod.scaled(timeout))
    s.connect(path)
    return s


def read_lines(s, n, timeout=10):
    """Reads |n| reply lines (or until EOF); returns the parsed objects and
    whether the server closed the connection right after them."""
    buf = b""
    out = []
    deadline = time.monotonic() + echod.scaled(timeout)
    while len(out) < n and time.monotonic() < deadline:
        while b"\n" in buf and len(out) < n:
            line, buf = buf.split(b"\n", 1)
            out.append(json.loads(line))
        if len(out) >= n:
            break
        chunk = s.recv(65536)
        if not chunk:
            return out, True
        buf += chunk
    return out, False


def sees_eof(s, timeout=10):
    s.settimeout(echod.scaled(timeout))
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def request(path, req, timeout=10):
    """Sends one request (dict or bytes line) and returns the reply dict."""
    line = req if isinstance(req, bytes) else json.dumps(req).encode()
    with dial(path, timeout) as s:
        s.sendall(line + b"\n")
        replies, _ = read_lines(s, 1, timeout)
    assert replies, "no reply to %r" % line
    return replies[0]


def result(path, req, timeout=10):
    r = request(path, req, timeout)
    assert r.get("ok") is True, r
    return r["result"]


def echoctl(path, *args, timeout=30, env=None):
    """Runs //cmd:echoctl --socket PATH ARGS; returns CompletedProcess."""
    argv = [echod.binary("cmd/echoctl")]
    if path:
        argv += ["--socket", path]
    return echod.run_tool(argv + list(args), timeout=timeout, env=env)


def echoctl_json(path, *args, timeout=30):
    r = echoctl(path, "--json", *args, timeout=timeout)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None


def serial_of(cert_path):
    """Uppercase hex serial of a PEM certificate (openssl CLI)."""
    r = echod.run_tool(("openssl", "x509", "-in", cert_path, "-noout",
                        "-serial"), check=True)
    return r.stdout.strip().split("=", 1)[1].upper().lstrip("0")


def served_serial(port, ctx):
    """The serial of the certificate the server presents now."""
    with echod.connect(port, ctx) as s:
        assert echod.echo(s, b"x") == b"x"
        return s.getpeercert()["serialNumber"].upper().lstrip("0")
