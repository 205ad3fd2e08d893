"""Shared end-to-end harness for echod tests (standard library only).

Runs the real binaries from Bazel runfiles as separate processes, each test
in its own temporary state directory, on ephemeral loopback ports, and
makes sure nothing it starts outlives the test (atexit + SIGTERM handler +
context managers). Every wait is bounded.

Typical use:

    from tests.lib import echod

    class T(unittest.TestCase):
        def test_echo(self):
            with echod.Server() as srv:          # zero-config dev PKI
                ctx = echod.client_context(**srv.dev_client())
                with echod.connect(srv.port, ctx) as s:
                    self.assertEqual(echod.echo(s, b"hi"), b"hi")

Timeouts are multiplied by SLOW under sanitizers (see slow_factor()).
"""

import atexit
import json
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

# ---- locating things -------------------------------------------------------

WORKSPACE = "echod"


def runfiles_dir():
    """Returns the runfiles root (the directory holding 'echod/')."""
    for var in ("TEST_SRCDIR", "RUNFILES_DIR"):
        d = os.environ.get(var)
        if d and os.path.isdir(os.path.join(d, WORKSPACE)):
            return d
    d = os.path.abspath(sys.argv[0]) + ".runfiles"
    if os.path.isdir(d):
        return d
    raise RuntimeError("cannot find Bazel runfiles (TEST_SRCDIR unset)")


def binary(label):
    """Path of a binary from data deps: binary("cmd/server")."""
    p = os.path.join(runfiles_dir(), WORKSPACE, label)
    if not os.path.exists(p):
        raise RuntimeError(
            "%s is not in the runfiles; add //%s to the test's data"
            % (p, label.replace("/", ":", 1) if "/" in label else label))
    return p


def has_binary(label):
    try:
        return os.path.exists(binary(label))
    except RuntimeError:
        return False


_SLOW = None


def slow_factor():
    """How much slower the binaries run than a plain build: 1, or more
    under sanitizers (detected in //cmd:server) or $ECHOD_TEST_SLOW."""
    global _SLOW
    if _SLOW is None:
        _SLOW = float(os.environ.get("ECHOD_TEST_SLOW", "0") or 0)
        if not _SLOW:
            _SLOW = 1.0
            try:
                with open(binary("cmd/server"), "rb") as f:
                    data = f.read()
                if b"__tsan_init" in data:
                    _SLOW = 6.0
                elif b"__asan_init" in data:
                    _SLOW = 3.0
            except (OSError, RuntimeError):
                pass
    return _SLOW


_SANITIZER_BUILD = None


def sanitizer_build():
    """True when //cmd:server carries ASan or TSan. Those runtimes need
    what echod's sandbox refuses (LeakSanitizer forks a tracer, TSan maps
    shadow memory by fixed address), so the harness passes --no-sandbox
    to such a server; every other test runs sandboxed."""
    global _SANITIZER_BUILD
    if _SANITIZER_BUILD is None:
        _SANITIZER_BUILD = False
        try:
            with open(binary("cmd/server"), "rb") as f:
                data = f.read()
            _SANITIZER_BUILD = b"__tsan_init" in data or b"__asan_init" in data
        except (OSError, RuntimeError):
            pass
    return _SANITIZER_BUILD


def server_flags(flags):
    """|flags| plus --no-sandbox for a sanitizer build (see
    sanitizer_build)."""
    flags = list(flags)
    if sanitizer_build() and "--no-sandbox" not in flags:
        flags.append("--no-sandbox")
    return flags


def scaled(seconds):
    """|seconds| stretched for sanitizer builds."""
    return seconds * slow_factor()


def is_tsan():
    return slow_factor() >= 6.0 and not os.environ.get("ECHOD_TEST_SLOW")


def tmpdir(prefix="echod-"):
    """A new directory under $TEST_TMPDIR (or /tmp). A Unix socket path
    (the admin socket in a state dir) holds only 107 bytes, and Bazel's
    TEST_TMPDIR can be longer than that leaves room for, so a long base
    falls back to /tmp, and the directory is removed at exit."""
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    if len(base) <= 60:
        return tempfile.mkdtemp(prefix=prefix, dir=base)
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    atexit.register(shutil.rmtree, d, True)
    return d


def run_bench_ab(tool, args, timeout=120):
    """Runs tools/bench/|tool| from the runfiles as an A/B of this build
    against itself (--bin-dir and --ab), its server on the last CPU, with
    --json and a fresh TMPDIR: the completed process (text) and what the
    tool left in that directory (it must leave nothing: its work directory
    holds a CA's private key)."""
    bindir = os.path.join(runfiles_dir(), WORKSPACE)
    tmp = tmpdir(tool.replace("_", "-") + "-tmp-")
    r = subprocess.run(
        [sys.executable, os.path.join(bindir, "tools", "bench", tool),
         "--bin-dir", bindir, "--ab", bindir,
         "--server-cpu", str((os.cpu_count() or 1) - 1), "--json"] +
        list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, TMPDIR=tmp), timeout=scaled(timeout))
    return r, os.listdir(tmp)


def free_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- process bookkeeping -----------------------------------------------------

_PROCS = []
_PROCS_LOCK = threading.Lock()


def _track(proc):
    with _PROCS_LOCK:
        _PROCS.append(proc)
    return proc


def _untrack(proc):
    with _PROCS_LOCK:
        if proc in _PROCS:
            _PROCS.remove(proc)


def kill_all():
    """SIGKILLs every process this harness started that is still alive."""
    with _PROCS_LOCK:
        procs = list(_PROCS)
        _PROCS.clear()
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


atexit.register(kill_all)


def _on_term(signum, frame):
    kill_all()
    sys.exit(128 + signum)


# Bazel sends SIGTERM on a test timeout: take our children with us.
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_term)


def rss_kb(pid):
    """Resident set size of |pid| in KiB (VmRSS from /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def num_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- the admin socket -----------------------------------------------------


def admin_request(path, req, timeout=15):
    """One request on the admin socket at |path|, without echoctl: the
    whole reply (ok or not), as parsed JSON."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(scaled(timeout))
    with s:
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


# ---- logfmt --------------------------------------------------------------

_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    """Parses one logfmt line into a dict (quoted values unescaped)."""
    out = {}
    for k, v in _LOGFMT.findall(line):
        if v.startswith('"'):
            v = bytes(v[1:-1], "utf-8").decode("unicode_escape")
        out[k] = v
    return out


# ---- the server ------------------------------------------------------------


class ServerError(AssertionError):
    pass


class Server:
    """One echod server process (//cmd:server).

    Server(*flags, state_dir=None, listen="127.0.0.1:0", admin=False,
           metrics=False, env=None, start=True, ready_timeout=20,
           launcher=None, program=None)

    Adds --listen (unless |listen| is None), --no-admin / --no-metrics
    (unless asked for), --no-sandbox in a sanitizer build, and sets
    ECHOD_STATE_DIR to |state_dir| (a new temp dir by default). stderr goes
    to |log_path|, stdout to |out_path|. |launcher| (argv) runs first and
    execs the server (socket activation tests). stop() fails the test when
    the log holds a sanitizer report or a system call the sandbox refused.
    Attributes once started: proc, pid, port, addrs (list of "host:port").
    Use as a context manager, or call stop() — a test never leaves one
    running (kill_all() at exit catches the rest).
    """

    def __init__(self, *flags, state_dir=None, listen="127.0.0.1:0",
                 admin=False, metrics=False, env=None, start=True,
                 ready_timeout=20, launcher=None, program=None):
        self.state_dir = state_dir or tmpdir("state-")
        self.flags = server_flags(flags)
        self.launcher = list(launcher or [])
        # |program|: another path of the server binary (an upgrade test
        # replaces that file, as a package upgrade does).
        self.program = program or binary("cmd/server")
        if listen is not None:
            self.flags += ["--listen", listen]
        if not admin:
            self.flags.append("--no-admin")
        if not metrics:
            self.flags.append("--no-metrics")
        self.env = dict(os.environ)
        self.env["ECHOD_STATE_DIR"] = self.state_dir
        self.env.update(env or {})
        # Logs go to the undeclared outputs (kept by Bazel in
        # test.outputs/outputs.zip) when there is one, else a temp dir.
        out = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if out:
            os.makedirs(out, exist_ok=True)
            logdir = tempfile.mkdtemp(prefix="server-", dir=out)
        else:
            logdir = tmpdir("log-")
        self.log_path = os.path.join(logdir, "server.log")
        self.out_path = os.path.join(logdir, "server.out")
        self.proc = None
        self.pid = None
        self.port = None
        self.addrs = []
        self.returncode = None
        if start:
            self.start(ready_timeout)

    # -- lifecycle --

    def start(self, ready_timeout=20):
        """Starts the process and waits for its "listening" lines."""
        self._log = open(self.log_path, "ab")
        self._out = open(self.out_path, "ab")
        self.proc = _track(subprocess.Popen(
            self.launcher + [self.program] + self.flags,
            stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._log, env=self.env,
            cwd=self.state_dir))
        self.pid = self.proc.pid
        self.wait_log(r"msg=listening addr=\S+", ready_timeout)
        time.sleep(0.05)  # let every worker's line land
        self.addrs = sorted(set(
            m.group(1) for m in
            re.finditer(r"msg=listening addr=(\S+)", self.log())))
        self.port = int(self.addrs[0].rsplit(":", 1)[1])
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns its status or raises."""
        try:
            self.returncode = self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            raise ServerError("server still running after %.1fs\n%s"
                              % (scaled(timeout), self.log_tail()))
        return self.returncode

    def stop(self, timeout=15, check_sanitizers=True):
        """SIGTERM, then SIGKILL after |timeout| (scaled). Returns the exit
        status (negative for a signal). Raises ServerError if the log holds
        a sanitizer report (a data race under --config=tsan fails the
        test even when every assertion passed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        _untrack(self.proc)
        for f in (self._log, self._out):
            f.close()
        if check_sanitizers:
            reports = self.sanitizer_reports()
            if reports:
                raise ServerError("sanitizer report in the server log:\n%s"
                                  % reports[0][:4000])
            refused = self.refused_syscalls()
            if refused:
                raise ServerError("the sandbox refused a system call the "
                                  "server made (add it to the allow-list in "
                                  "internal/sandbox/seccomp.c):\n%s"
                                  % "\n".join(refused))
        return self.returncode

    def stop_clean(self, timeout=15):
        """stop(), then raises AssertionError (with the log tail) unless
        the server exited 0 after SIGTERM: what every test's teardown
        checks."""
        rc = self.stop(timeout)
        if rc != 0:
            raise AssertionError("server exited %s after SIGTERM\n%s"
                                 % (rc, self.log_tail()))

    _SANITIZER = re.compile(
        r"^(?:WARNING: ThreadSanitizer|==\d+==ERROR: \w+Sanitizer|"
        r"\S+:\d+:\d+: runtime error:).*?(?=^\S*==\d+==|\Z)",
        re.M | re.S)

    def refused_syscalls(self):
        """The log lines of system calls the seccomp filter refused."""
        return [l for l in self.log().splitlines()
                if 'msg="system call refused"' in l]

    def sanitizer_reports(self):
        """ThreadSanitizer/AddressSanitizer/UBSan reports in the log."""
        return [m.group(0) for m in self._SANITIZER.finditer(self.log())]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- logs --

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=30):
        return "--- server log (last %d lines) ---\n%s" % (
            n, "\n".join(self.log().splitlines()[-n:]))

    def log_offset(self):
        """Current size of the log; pass as |since| to wait_log."""
        return os.path.getsize(self.log_path)

    def wait_log(self, regex, timeout=10, since=0):
        """Waits until the log (from byte |since|) matches |regex|; returns
        the re.Match. Raises ServerError with the log tail on timeout or if
        the server exits first."""
        pat = re.compile(regex)
        deadline = time.monotonic() + scaled(timeout)
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
            m = pat.search(text)
            if m:
                return m
            if self.proc.poll() is not None:
                raise ServerError(
                    "server exited (status %s) before logging /%s/\n%s"
                    % (self.proc.returncode, regex, self.log_tail()))
            if time.monotonic() > deadline:
                raise ServerError("no /%s/ in the server log within %.1fs\n%s"
                                  % (regex, scaled(timeout), self.log_tail()))
            time.sleep(0.02)

    def events(self, msg=None, since=0):
        """The log lines as dicts (parse_logfmt), optionally only |msg|."""
        with open(self.log_path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        out = [parse_logfmt(l) for l in text.splitlines() if "=" in l]
        return [e for e in out if msg is None or e.get("msg") == msg]

    def handshake_failure_event(self, peer_port, timeout=10):
        """Waits for the "handshake failed" line of the connection from
        local port |peer_port|; returns it as a dict."""
        m = self.wait_log(
            r'msg="handshake failed"[^\n]*peer=(?:127\.0\.0\.1|\[::1\]):%d '
            r'[^\n]*' % peer_port, timeout)
        return parse_logfmt(m.group(0))

    def handshake_failure(self, peer_port, timeout=10):
        """The reason of handshake_failure_event()."""
        return self.handshake_failure_event(peer_port, timeout).get("reason")

    def session_closed(self, peer_port, timeout=10):
        """Waits for the "session closed" line of the connection from local
        port |peer_port|; returns it as a dict."""
        m = self.wait_log(
            r'msg="session closed"[^\n]*peer=(?:127\.0\.0\.1|\[::1\]):%d '
            r'[^\n]*' % peer_port, timeout)
        return parse_logfmt(m.group(0))

    # -- files --

    def pki_dir(self):
        return os.path.join(self.state_dir, "pki")

    def dev_client(self):
        """Keyword arguments for client_context(): the dev client."""
        d = self.pki_dir()
        return dict(ca=os.path.join(d, "ca.pem"),
                    cert=os.path.join(d, "dev-client.pem"),
                    key=os.path.join(d, "dev-client.key"))

    def rss_kb(self):
        return rss_kb(self.pid)


def run_server(args, state_dir=None, env=None, timeout=20, input=None):
    """Runs //cmd:server to completion (for --help, bad flags, ...).
    Returns subprocess.CompletedProcess (text, stdout/stderr captured)."""
    e = dict(os.environ)
    e["ECHOD_STATE_DIR"] = state_dir or tmpdir("state-")
    e.update(env or {})
    return _run([binary("cmd/server")] + server_flags(args), e, timeout,
                input)


def _run(argv, env, timeout, input=None, text=True):
    p = _track(subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE if input is not None else
        subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=text))
    try:
        out, err = p.communicate(input, timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise AssertionError("%s timed out after %.0fs; stderr:\n%s"
                             % (argv[0], scaled(timeout), err))
    finally:
        _untrack(p)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


# ---- the other binaries --------------------------------------------------


def run_client(args, input=b"", state_dir=None, env=None, timeout=30):
    """Runs //cmd:client with |args| and |input| (bytes) on stdin (pipe
    mode). Returns CompletedProcess with bytes stdout, str stderr."""
    e = dict(os.environ)
    if state_dir:
        e["ECHOD_STATE_DIR"] = state_dir
    e.update(env or {})
    r = _run([binary("cmd/client")] + list(args), e, timeout, input,
             text=False)
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def run_pki(args, state_dir, env=None, timeout=30):
    """Runs //cmd:pki with ECHOD_STATE_DIR=|state_dir|; raises on a
    non-zero exit. Returns CompletedProcess (text)."""
    e = dict(os.environ)
    e["ECHOD_STATE_DIR"] = state_dir
    e.update(env or {})
    r = _run([binary("cmd/pki")] + list(args), e, timeout)
    if r.returncode != 0:
        raise AssertionError("pki %s failed (%d): %s"
                             % (" ".join(args), r.returncode, r.stderr))
    return r


def run_testca(args, timeout=30):
    """Runs the test-only //pki:testca_tool (add it to the test's data):
    run_testca(["--dir", d, "issue", "old", "--kind", "expired"]). Kinds:
    good, expired, not-yet-valid, wrong-eku, rogue-ca. Raises on failure.
    (The core tests mint their bad certificates with TestCA below, an
    independent CA on the openssl CLI.)"""
    r = _run([binary("pki/testca_tool")] + list(args), dict(os.environ),
             timeout)
    if r.returncode != 0:
        raise AssertionError("testca_tool %s failed (%d): %s"
                             % (" ".join(args), r.returncode, r.stderr))
    return r


def run_tool(argv, timeout=30, input=None, env=None, check=False):
    """Runs any program (openssl, sslscan, ...) with a bounded time."""
    e = dict(os.environ)
    e.update(env or {})
    r = _run(list(argv), e, timeout, input)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def openssl_s_client(port, cert, key, ca, data, extra=(), timeout=30,
                     brief=True):
    """Runs `openssl s_client` with a client certificate, writes |data|,
    reads stdout until |data| has come back (the echo; with brief=False
    after the session dump), then closes stdin so s_client sends
    close_notify and exits. Returns (stdout bytes, stderr str, status)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-CAfile", ca,
            "-verify_return_error", "-nocommands"]
    if brief:
        argv.append("-brief")
    argv += list(extra)
    p = _track(subprocess.Popen(argv, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE))
    out = bytearray()
    errbuf = []
    t = threading.Thread(target=lambda: errbuf.append(p.stderr.read()),
                         daemon=True)
    t.start()
    try:
        try:
            p.stdin.write(data)
            p.stdin.flush()
        except BrokenPipeError:
            pass  # refused: s_client exited before reading; its output says
        deadline = time.monotonic() + scaled(timeout)
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        while not out.endswith(data) and time.monotonic() < deadline:
            if not sel.select(min(0.5, max(0, deadline - time.monotonic()))):
                continue
            b = os.read(p.stdout.fileno(), 65536)
            if not b:
                break
            out += b
        sel.close()
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.wait(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        pass
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        _untrack(p)
    t.join(10)
    p.stdout.close()
    p.stderr.close()
    return bytes(out), (errbuf[0] if errbuf else b"").decode(
        "utf-8", "replace"), p.returncode


# ---- TLS clients in this process ---------------------------------------------


def client_context(ca=None, cert=None, key=None, min_version=None,
                   max_version=None, check_hostname=True):
    """An ssl.SSLContext for a client: trusts |ca|, presents |cert|/|key|
    (both optional). Versions are ssl.TLSVersion values."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def connect(port, ctx, host="127.0.0.1", server_hostname="localhost",
            timeout=10, session=None, strict_eof=False):
    """Opens a TCP connection and completes the TLS handshake. Returns the
    ssl.SSLSocket (blocking, with a scaled timeout). In TLS 1.3 a refused
    client certificate shows up on the first read, not here. With
    |strict_eof|, recv() returns b"" only after the server's close_notify
    and raises ssl.SSLEOFError on a bare TCP close."""
    raw = socket.create_connection((host, port), timeout=scaled(timeout))
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname,
                            session=session,
                            suppress_ragged_eofs=not strict_eof)
    except BaseException:
        raw.close()
        raise
    return s


def serves(port, ctx, data=b"ping", timeout=2):
    """True when a new client completes a handshake and gets |data| echoed
    within |timeout| seconds; False when it is refused or cut off. For
    waiting until a server admits clients again (wait_until(lambda:
    serves(...)))."""
    try:
        with connect(port, ctx, timeout=timeout) as s:
            return echo(s, data, timeout=timeout) == data
    except OSError:  # ssl.SSLError included
        return False


def local_port(sock):
    return sock.getsockname()[1]


def echo(sock, data, timeout=30, chunk=16384):
    """Sends |data| and reads the same number of bytes back, writing and
    reading at the same time (never deadlocks on a bounded server buffer).
    Returns the bytes read (fewer only if the server closed early)."""
    return stream(sock, data, len(data), timeout, chunk)


def stream(sock, data, expect, timeout=30, chunk=16384):
    """Writes |data| while reading until |expect| bytes arrived, the peer
    closed, or |timeout| (scaled) passed (raises TimeoutError)."""
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    view = memoryview(data)
    sent, got = 0, bytearray()
    deadline = time.monotonic() + scaled(timeout)
    try:
        while len(got) < expect:
            moved = False
            if sent < len(view):
                try:
                    sent += sock.send(view[sent:sent + chunk])
                    moved = True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                        BlockingIOError):
                    pass
            try:
                while len(got) < expect:
                    b = sock.recv(65536)
                    if not b:
                        return bytes(got)
                    got += b
                    moved = True
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                    BlockingIOError):
                pass
            if moved:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("sent %d/%d, got %d/%d bytes"
                                   % (sent, len(view), len(got), expect))
            sel.modify(sock, selectors.EVENT_READ | (
                selectors.EVENT_WRITE if sent < len(view) else 0))
            sel.select(min(left, 0.5))
        return bytes(got)
    finally:
        sel.close()
        sock.settimeout(scaled(timeout))


def close_tls(sock, timeout=5):
    """Sends close_notify and waits (bounded) for the server's; returns
    True if the server answered with its own close_notify."""
    sock.settimeout(scaled(timeout))
    try:
        sock.unwrap().close()
        return True
    except (ssl.SSLError, OSError):
        sock.close()
        return False


def refused_alert(port, ctx, timeout=10, server_hostname="localhost",
                  send=b"x"):
    """Connects with |ctx| and expects the server to refuse. Returns
    (ssl error reason string such as 'SSLV3_ALERT_CERTIFICATE_REVOKED' or
    'EOF', local port). Raises AssertionError if the echo works."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    lport = raw.getsockname()[1]
    s = None
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
        s.sendall(send)
        got = s.recv(100)
        if got:
            raise AssertionError("server echoed %r; expected a refusal" % got)
        return "EOF", lport
    except ssl.SSLError as e:
        return (e.reason or str(e)), lport
    except (ConnectionResetError, BrokenPipeError) as e:
        return type(e).__name__, lport
    finally:
        if s is not None:
            s.close()
        raw.close()


def tls13_only():
    return dict(min_version=ssl.TLSVersion.TLSv1_3)


# ---- a CA made with the openssl CLI, for good and bad certificates -----------

_CA_CNF = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
"""

_EXT = """\
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{eku}{san}
"""


class TestCA:
    """An independent CA built with the openssl CLI in |dir| (a new temp
    dir by default). Mints certificates the server must accept or refuse:

        ca = TestCA()
        cert, key = ca.issue("alice")                      # good client
        cert, key = ca.issue("old", not_after=-86400)       # expired
        cert, key = ca.issue("soon", not_before=86400*30)   # not yet valid
        cert, key = ca.issue("srv", role="server")          # serverAuth
        ca.revoke("alice"); crl = ca.crl()

    Times are seconds relative to now. Files: NAME.pem, NAME.key (0600).
    """

    def __init__(self, dir=None, cn="echod test CA"):
        self.dir = dir or tmpdir("ca-")
        self.ca_pem = os.path.join(self.dir, "ca.pem")
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.cnf = os.path.join(self.dir, "openssl.cnf")
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        with open(os.path.join(self.dir, "index.txt"), "w"):
            pass
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("%032X\n" % int.from_bytes(os.urandom(15), "big"))
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(self.cnf, "w") as f:
            f.write(_CA_CNF.format(dir=self.dir))
        self._genkey(self.ca_key)
        self._ossl("req", "-x509", "-new", "-key", self.ca_key, "-out",
                   self.ca_pem, "-subj", "/CN=" + cn, "-days", "3650",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                   "-addext", "subjectKeyIdentifier=hash")

    def _ossl(self, *args):
        return run_tool(("openssl",) + args, timeout=30, check=True)

    def _genkey(self, path):
        self._ossl("genpkey", "-algorithm", "EC", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-out", path)
        os.chmod(path, 0o600)

    @staticmethod
    def _asn1_time(offset):
        t = time.gmtime(time.time() + offset)
        return time.strftime("%Y%m%d%H%M%SZ", t)

    def path(self, name, ext="pem"):
        return os.path.join(self.dir, "%s.%s" % (name, ext))

    def issue(self, name, role="client", not_before=-300, not_after=30 * 86400,
              dns=(), ips=(), uris=(), eku=None):
        """Issues NAME.pem/NAME.key. |role| "client" (EKU clientAuth) or
        "server" (serverAuth; default SANs localhost, 127.0.0.1, ::1).
        |eku| overrides the EKU text ("" for none). Returns (cert, key)."""
        key, cert = self.path(name, "key"), self.path(name)
        csr = self.path(name, "csr")
        self._genkey(key)
        self._ossl("req", "-new", "-key", key, "-out", csr,
                   "-subj", "/CN=" + name)
        if eku is None:
            eku = "serverAuth" if role == "server" else "clientAuth"
        if role == "server" and not (dns or ips):
            dns, ips = ("localhost",), ("127.0.0.1", "::1")
        sans = ["DNS:" + d for d in dns] + ["IP:" + i for i in ips] + \
            ["URI:" + u for u in uris]
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(_EXT.format(
                eku=("extendedKeyUsage = %s\n" % eku) if eku else "",
                san=("subjectAltName = %s\n" % ",".join(sans)) if sans else ""))
        self._ossl("ca", "-batch", "-config", self.cnf, "-in", csr, "-out",
                   cert, "-notext", "-extfile", ext, "-extensions", "leaf",
                   "-startdate", self._asn1_time(not_before),
                   "-enddate", self._asn1_time(not_after))
        return cert, key

    def revoke(self, name, reason="keyCompromise"):
        self._ossl("ca", "-batch", "-config", self.cnf, "-revoke",
                   self.path(name), "-crl_reason", reason)

    def crl(self, path=None):
        """Writes the current CRL (PEM) to |path| (default DIR/crl.pem)."""
        path = path or os.path.join(self.dir, "crl.pem")
        self._ossl("ca", "-batch", "-config", self.cnf, "-gencrl", "-out",
                   path)
        return path

    def sha256(self, name):
        """Lowercase hex SHA-256 of NAME.pem's DER."""
        r = self._ossl("x509", "-in", self.path(name), "-noout",
                       "-fingerprint", "-sha256")
        return r.stdout.strip().split("=", 1)[1].replace(":", "").lower()

    def client(self, name, **kw):
        """client_context() kwargs for certificate |name| of this CA."""
        return dict(ca=self.ca_pem, cert=self.path(name),
                    key=self.path(name, "key"), **kw)

    def server_flags(self, name="server", crl=None):
        """--cert/--key/--ca (and --crl) flags for a server cert |name|
        issued by this CA (issue it first)."""
        f = ["--cert", self.path(name), "--key", self.path(name, "key"),
             "--ca", self.ca_pem]
        if crl:
            f += ["--crl", crl]
        return f


# ---- misc -------------------------------------------------------------------


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls |pred| until true or |timeout| (scaled) passed (raises)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (scaled(timeout), what))
        time.sleep(interval)


def raise_fd_limit(n=8192):
    """Raises this process's RLIMIT_NOFILE soft limit towards |n|."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want
