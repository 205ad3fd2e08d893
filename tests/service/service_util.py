"""Helpers for the service tests: a server started without waiting for
its logfmt "listening" line (tests that watch something else: a systemd
notification, JSON logs), and a stand-in for systemd's notification
socket."""

import os
import re
import socket
import subprocess
import time

from tests.lib import echod


class SpawnedServer(echod.Server):
    """echod.Server whose start() returns once the process runs: the test
    decides what "ready" means. Same flags, env, logs and stop()."""

    def start(self, ready_timeout=20):
        self._log = open(self.log_path, "ab")
        self._out = open(self.out_path, "ab")
        self.proc = echod._track(subprocess.Popen(
            [echod.binary("cmd/server")] + self.flags,
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._log,
            env=self.env, cwd=self.state_dir))
        self.pid = self.proc.pid
        return self


def parse(datagram):
    """b"READY=1\\nSTATUS=x" -> {"READY": "1", "STATUS": "x"}."""
    out = {}
    for line in datagram.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


class NotifySocket:
    """A Unix datagram socket standing in for systemd's $NOTIFY_SOCKET:
    a path in a short temp dir, or an abstract name ("@...")."""

    _count = 0

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            NotifySocket._count += 1
            self.name = "@echod-notify-test/%d/%d" % (os.getpid(),
                                                      NotifySocket._count)
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = os.path.join(echod.tmpdir("ntf-"), "notify")
            self.sock.bind(self.name)
        self.messages = []  # every datagram so far, parsed, in order

    def close(self):
        self.sock.close()

    def receive(self, timeout):
        """The next datagram as a dict, or None after |timeout| (scaled)."""
        self.sock.settimeout(echod.scaled(timeout))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        msg = parse(data)
        self.messages.append(msg)
        return msg

    def wait_for(self, pred, timeout=10, what="a notification"):
        """Receives until a datagram satisfies |pred|; returns it. Raises
        AssertionError listing what did arrive."""
        deadline = time.monotonic() + echod.scaled(timeout)
        while True:
            left = deadline - time.monotonic()
            msg = self.receive(max(left, 0.001) / echod.slow_factor())
            if msg is not None and pred(msg):
                return msg
            if time.monotonic() >= deadline:
                raise AssertionError("no %s within %.1fs; received: %r"
                                     % (what, echod.scaled(timeout),
                                        self.messages))

    def since(self, mark):
        return self.messages[mark:]


STATUS_RE = re.compile(
    r"^(running|draining), (\d+) sessions?; last reload (ok|FAILED) "
    r"\((\w+), (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)(: .*)?$")
