"""Helpers for the fleet tests: the admin socket, processes an upgrade
starts (not our children: this process becomes their subreaper so it can
wait for them and stop them), a client loop that counts every failure and
every byte, HAProxy in front of replicas, and a shared PKI."""

import ctypes
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

from tests.lib import echod

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans (an upgraded echod, once its old process and spawner are
    gone) become our children: waitable, and stopped at exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def admin(path, req, timeout=30):
    """One admin request; returns the whole reply (ok or not)."""
    return echod.admin_request(path, req, timeout)


def echoctl(*args, timeout=60):
    return echod.run_tool([echod.binary("cmd/echoctl")] + list(args),
                          timeout=timeout)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie we are the reaper of
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap(pid, timeout):
    """Waits (bounded) for |pid|, our child or orphan, to exit; returns its
    exit status, or None if it is still running."""
    deadline = time.monotonic() + echod.scaled(timeout)
    while time.monotonic() < deadline:
        try:
            got, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0 if not alive(pid) else None
        if got == pid:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.02)
    return None


def stop_pid(pid, timeout=15):
    """SIGTERM, then SIGKILL: for a process an upgrade started."""
    if not pid or not alive(pid):
        return reap(pid, 1) if pid else None
    os.kill(pid, signal.SIGTERM)
    rc = reap(pid, timeout)
    if rc is None:
        os.kill(pid, signal.SIGKILL)
        rc = reap(pid, 5)
    return rc


def refused_syscalls(log_text):
    return [l for l in log_text.splitlines()
            if 'msg="system call refused"' in l]


# ---- a shared PKI ------------------------------------------------------------


class Pki:
    """One CA (echo-pki) for every replica: a server certificate, clients,
    a CRL, and the ticket-keys file."""

    def __init__(self, clients=("alice",)):
        self.dir = echod.tmpdir("fleet-pki-")
        self.state = echod.tmpdir("fleet-pki-state-")
        self.pki("init")
        self.pki("issue", "server", "server", "--dns", "localhost",
                 "--ip", "127.0.0.1")
        for c in clients:
            self.pki("issue", "client", c)
        # A directory of its own: Landlock must let the server read it.
        self.keys = os.path.join(echod.tmpdir("fleet-keys-"), "ticket-keys")
        echod.run_pki(["ticket-keys", "--out", self.keys], self.state)

    def pki(self, *args):
        return echod.run_pki(["--dir", self.dir] + list(args), self.state)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_flags(self, keys=True):
        f = ["--cert", self.path("server.pem"), "--key",
             self.path("server.key"), "--ca", self.path("ca.pem"),
             "--crl", self.path("crl.pem")]
        return f + (["--ticket-keys", self.keys] if keys else [])

    def client(self, name="alice"):
        return echod.client_context(ca=self.path("ca.pem"),
                                    cert=self.path(name + ".pem"),
                                    key=self.path(name + ".key"),
                                    min_version=ssl.TLSVersion.TLSv1_3)


# ---- a client loop -----------------------------------------------------------


class ClientLoop:
    """|threads| clients connecting to |port| one after another: handshake,
    echo |size| bytes in |chunks| pieces (a short pause between them, so
    sessions overlap whatever the test does meanwhile), close_notify.
    Counts sessions, failures (with why) and bytes sent and echoed."""

    def __init__(self, port, ctx, threads=3, size=4096, chunks=4,
                 pause=0.01):
        self.port, self.ctx = port, ctx
        self.size, self.chunks, self.pause = size, chunks, pause
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.sessions = self.sent = self.echoed = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def one(self):
        data = os.urandom(self.size)
        part = self.size // self.chunks
        with echod.connect(self.port, self.ctx, timeout=20) as s:
            got = b""
            for i in range(self.chunks):
                piece = data[i * part:(i + 1) * part]
                got += echod.echo(s, piece, timeout=20)
                time.sleep(self.pause)
            closed_cleanly = echod.close_tls(s)
        return data, got, closed_cleanly

    def run(self):
        while not self.stop_flag.is_set():
            try:
                data, got, _ = self.one()
                with self.lock:
                    self.sessions += 1
                    self.sent += len(data)
                    self.echoed += len(got) if got == data else 0
                    if got != data:
                        self.failures.append("echoed %d of %d bytes"
                                             % (len(got), len(data)))
            except (OSError, ssl.SSLError, TimeoutError) as e:
                with self.lock:
                    self.failures.append("%s: %s" % (type(e).__name__, e))

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(echod.scaled(60))
        return self


# ---- HAProxy -----------------------------------------------------------------

HAPROXY_CFG = """\
global
    stats socket {stats} mode 600 level admin
    log stderr format raw local0 notice
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch
frontend echo
    bind 127.0.0.1:{port}
    default_backend echod
backend echod
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


class HAProxy:
    """HAProxy (Debian's) in TCP mode in front of |replicas|, each a
    (name, echo port, metrics port): send-proxy-v2, health checks on
    /readyz every 100 ms (down after 1 failure, up after 1 success)."""

    def __init__(self, replicas):
        self.bin = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(self.bin):
            raise AssertionError("haproxy is not installed: run tools/setup "
                                 "(it is in the test packages)")
        self.dir = echod.tmpdir("haproxy-")
        self.port = echod.free_port()
        self.stats = os.path.join(self.dir, "stats.sock")
        servers = "\n".join(
            "    server %s 127.0.0.1:%d check port %d inter 100 fall 1 "
            "rise 1 send-proxy-v2" % r for r in replicas)
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(stats=self.stats, port=self.port,
                                       servers=servers))
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self._log = open(self.log_path, "wb")
        self.proc = echod._track(subprocess.Popen(
            [self.bin, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT))
        echod.wait_until(lambda: os.path.exists(self.stats), 10,
                         what="haproxy's stats socket")

    def command(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        with s:
            s.connect(self.stats)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        return out.decode()

    def status(self):
        """{server name: "UP" | "DOWN" | ...} from "show stat"."""
        lines = self.command("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for l in lines[1:]:
            row = dict(zip(head, l.split(",")))
            if row.get("pxname") == "echod" and row.get("svname") not in (
                    "BACKEND", "FRONTEND", None):
                out[row["svname"]] = row["status"]
        return out

    def wait_status(self, name, want, timeout=10):
        echod.wait_until(lambda: self.status().get(name, "").startswith(want),
                         timeout, what="haproxy: server %s %s" % (name, want))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        echod._untrack(self.proc)
        self._log.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def session_ids(srv_log, since=0):
    return re.findall(r"msg=\"session closed\"[^\n]*", srv_log[since:])
