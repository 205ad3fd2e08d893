#!/usr/bin/python3
"""deploy/k8s_secret_test.py — echod works with certificates mounted the way
deploy/k8s/deployment.yaml mounts them.

The kubelet lays a Secret volume out as timestamped directories behind a
"..data" symlink (tls.crt -> ..data/tls.crt), files owned by root, group
fsGroup, mode defaultMode|0440 — with this Deployment 0440. When the Secret
changes it writes a new timestamped directory and renames a new "..data"
symlink over the old one. This test builds exactly that layout, starts the
real echod with the Deployment's arguments (addresses moved to ephemeral
loopback ports, paths to the temporary directory), checks that a client
with a certificate from the CA is echoed, swaps the Secret to a new server
certificate and checks that new handshakes get it without a restart or a
signal (the file watch). The session-ticket keys come the same way from
their own Secret: swapping it to rotated keys reloads them too (the
metrics show the new key count and sealing key id). Standard library
only."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import re
import time
import unittest
import urllib.request

SRC = os.path.join(os.environ.get("TEST_SRCDIR",
                                  os.path.join(os.path.dirname(__file__), "..", "..")),
                   "echod")
BIN = {n: os.path.join(SRC, "cmd", n) for n in ("server", "pki", "echoctl")}
FS_GROUP = 10001  # deployment.yaml: securityContext.fsGroup


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployment_args():
    """The container's args from deployment.yaml (no YAML parser needed for
    this list: lines '- --flag=value' under 'args:')."""
    args, inside = [], False
    with open(os.path.join(SRC, "deploy", "k8s", "deployment.yaml")) as f:
        for line in f:
            s = line.strip()
            if s == "args:":
                inside = True
            elif inside and s.startswith("#"):
                continue
            elif inside and s.startswith("- --"):
                args.append(s[2:])
            elif inside and s:
                break
    return args


class SecretVolume(unittest.TestCase):
    def setUp(self):
        # The admin socket lives in the state dir and a Unix socket path holds
        # only 107 bytes: a long $TEST_TMPDIR falls back to /tmp.
        base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        self.tmp = tempfile.mkdtemp(prefix="k8s-secret-",
                                    dir=base if len(base) <= 60 else "/tmp")
        self.ca = os.path.join(self.tmp, "ca")
        self.vol = os.path.join(self.tmp, "etc-echod-tls")
        self.tkvol = os.path.join(self.tmp, "etc-echod-ticket-keys")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.vol)
        os.makedirs(self.tkvol)
        self.tk_generation = 0
        self.keys_file = os.path.join(self.tmp, "ticket-keys")
        self.pki("ticket-keys", "--out", self.keys_file)
        self.publish_keys()
        self.proc = None
        self.pki("init")
        self.pki("issue", "client", "alice")
        self.generation = 0

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pki(self, *args):
        if args[0] == "ticket-keys":
            cmd = [BIN["pki"]] + list(args)
        else:
            cmd = [BIN["pki"], "--dir", self.ca] + list(args)
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)

    def publish_keys(self):
        """Write the ticket-keys Secret (key "keys") as the kubelet does."""
        self.tk_generation += 1
        with open(self.keys_file, "rb") as f:
            swap(self.tkvol, {"keys": f.read()}, self.tk_generation)

    def ticket_metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
        n = re.search(r'^echod_ticket_keys\{source="file"\} (\d+)$', text, re.M)
        i = re.search(r'^echod_ticket_key_info\{source="file",id="(\w+)"\} 1$',
                      text, re.M)
        return (int(n.group(1)) if n else None, i.group(1) if i else None)

    def publish(self, server_name):
        """Write the Secret (tls.crt, tls.key, ca.crt) as the kubelet does."""
        self.generation += 1
        gen = f"..2025_01_01_00_00_0{self.generation}.000000001"
        d = os.path.join(self.vol, gen)
        os.mkdir(d)
        for key, src in (("tls.crt", server_name + ".pem"), ("tls.key", server_name + ".key"),
                         ("ca.crt", "ca.pem")):
            with open(os.path.join(self.ca, src), "rb") as f:
                data = f.read()
            path = os.path.join(d, key)
            with open(path, "wb") as f:
                f.write(data)
            if os.geteuid() == 0:
                os.chown(path, 0, FS_GROUP)
            os.chmod(path, 0o440)  # defaultMode 0400 | fsGroup read
        tmp_link = os.path.join(self.vol, "..data_tmp")
        os.symlink(gen, tmp_link)
        old = os.path.realpath(os.path.join(self.vol, "..data"))
        os.rename(tmp_link, os.path.join(self.vol, "..data"))
        for key in ("tls.crt", "tls.key", "ca.crt"):
            link = os.path.join(self.vol, key)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", key), link)
        if self.generation > 1:
            for name in os.listdir(old):
                os.unlink(os.path.join(old, name))
            os.rmdir(old)
        with open(os.path.join(self.ca, server_name + ".pem")) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def served_cert(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.ca, "ca.pem"))
        ctx.load_cert_chain(os.path.join(self.ca, "alice.pem"),
                            os.path.join(self.ca, "alice.key"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"k8s secret\n")
                got = b""
                while len(got) < 11:
                    chunk = tls.recv(64)
                    if not chunk:
                        break
                    got += chunk
                self.assertEqual(got, b"k8s secret\n")
                return tls.getpeercert(binary_form=True)

    def start(self):
        self.port, mport = free_port(), free_port()
        self.mport = mport
        self.assertNotEqual(self.port, mport)
        args = []
        for a in deployment_args():
            flag, eq, value = a.partition("=")
            if not eq:
                args.append(flag)
                continue
            if flag == "--listen":
                value = f"127.0.0.1:{self.port}"
            elif flag == "--metrics-listen":
                value = f"127.0.0.1:{mport}"
            value = value.replace("/etc/echod/tls", self.vol)
            value = value.replace("/etc/echod/ticket-keys", self.tkvol)
            args.append(f"{flag}={value}")
        env = {"PATH": "/usr/bin:/bin", "ECHOD_STATE_DIR": self.state}
        self.proc = subprocess.Popen([BIN["server"]] + args, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"echod exited {self.proc.returncode} at start: "
                          f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                self.served_cert()
                return
            except OSError:  # not listening yet (ssl.SSLError is an OSError too)
                time.sleep(0.1)
        self.fail("echod not ready within 20 s")

    def test_secret_layout_serves_and_reloads_on_symlink_swap(self):
        self.pki("issue", "server", "server-a")
        first = self.publish("server-a")
        self.start()
        self.assertEqual(self.served_cert(), first)
        self.pki("issue", "server", "server-b")
        second = self.publish("server-b")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.served_cert() != second:
            time.sleep(0.2)
        self.assertEqual(self.served_cert(), second,
                         "new handshakes still get the old certificate 15 s after the swap")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=40), 0)

    def test_ticket_keys_secret_reloads_on_symlink_swap(self):
        self.pki("issue", "server", "server-a")
        self.publish("server-a")
        self.start()
        keys, key_id = self.ticket_metrics()
        self.assertEqual(keys, 1)
        self.pki("ticket-keys", "--out", self.keys_file, "--rotate")
        self.publish_keys()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.ticket_metrics()[0] != 2:
            time.sleep(0.2)
        keys2, key_id2 = self.ticket_metrics()
        self.assertEqual(keys2, 2, "the rotated keys were not loaded")
        self.assertNotEqual(key_id2, key_id)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=40), 0)


def swap(vol, files, generation):
    """Lays |files| out in |vol| as the kubelet does a Secret volume: a new
    timestamped directory, a "..data" symlink renamed over the old one,
    KEY -> ..data/KEY links; root-owned, group fsGroup, mode 0440."""
    gen = f"..2025_01_01_00_00_0{generation}.000000001"
    d = os.path.join(vol, gen)
    os.mkdir(d)
    for key, data in files.items():
        path = os.path.join(d, key)
        with open(path, "wb") as f:
            f.write(data)
        if os.geteuid() == 0:
            os.chown(path, 0, FS_GROUP)
        os.chmod(path, 0o440)  # defaultMode 0400 | fsGroup read
    old = os.path.realpath(os.path.join(vol, "..data"))
    tmp_link = os.path.join(vol, "..data_tmp")
    os.symlink(gen, tmp_link)
    os.rename(tmp_link, os.path.join(vol, "..data"))
    for key in files:
        link = os.path.join(vol, key)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", key), link)
    if generation > 1:
        for name in os.listdir(old):
            os.unlink(os.path.join(old, name))
        os.rmdir(old)


if __name__ == "__main__":
    unittest.main(verbosity=2)
