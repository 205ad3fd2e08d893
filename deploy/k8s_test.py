#!/usr/bin/python3
"""deploy/k8s_test.py — the Kubernetes manifests and the Dockerfile agree
with each other and with echod itself.

Every YAML document in deploy/k8s parses. The ports, probe paths, mount
paths, user and flags the manifests rely on are checked against the
Dockerfile (EXPOSE, USER, VOLUME, ENV) and against the real echod: the
server is run with the container's args and env plus --print-config, so a
flag echod does not know, or a path that does not land where the volumes
are, fails here rather than in a cluster. Needs PyYAML (Debian:
python3-yaml)."""

import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

try:
    import yaml
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("k8s_test: PyYAML is missing (apt-get install python3-yaml)")

SRC = os.path.join(os.environ.get("TEST_SRCDIR",
                                  os.path.join(os.path.dirname(__file__), "..", "..")),
                   "echod")
K8S = os.path.join(SRC, "deploy", "k8s")
DOCKERFILE = os.path.join(SRC, "deploy", "Dockerfile")
SERVER = os.path.join(SRC, "cmd", "server")
TMP = os.environ.get("TEST_TMPDIR", tempfile.gettempdir())


def load_docs():
    docs = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def dockerfile():
    """Instructions of the Dockerfile's stages: [(stage_from, [(op, arg)])]."""
    with open(DOCKERFILE) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            stages.append((arg.strip(), []))
        else:
            stages[-1][1].append((op, arg.strip()))
    return stages


def duration_s(s):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", s)
    if not m:
        raise ValueError(f"bad duration {s!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def print_config(args, env):
    proc = subprocess.run([SERVER] + list(args) + ["--print-config"], env=env,
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"echod {' '.join(args)} --print-config: exit "
                             f"{proc.returncode}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def under(path, directory):
    return os.path.commonpath([path, directory]) == directory


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_docs()
        cls.by_kind = {}
        for docs in cls.docs.values():
            for d in docs:
                cls.by_kind.setdefault(d["kind"], []).append(d)
        cls.stages = dockerfile()
        runtime = cls.stages[-1][1]
        cls.df = {}
        for op, arg in runtime:
            cls.df.setdefault(op, []).append(arg)
        cls.deploy = cls.by_kind["Deployment"][0]
        cls.pod = cls.deploy["spec"]["template"]
        cls.ctr = cls.pod["spec"]["containers"][0]
        cls.ports = {p["name"]: p["containerPort"] for p in cls.ctr["ports"]}
        cls.mounts = {m["name"]: m for m in cls.ctr["volumeMounts"]}
        cls.volumes = {v["name"]: v for v in cls.pod["spec"]["volumes"]}

    # --- documents ----------------------------------------------------------
    def test_every_document_parses_and_is_named(self):
        self.assertGreaterEqual(len(self.docs), 5, self.docs.keys())
        for name, docs in self.docs.items():
            self.assertTrue(docs, f"{name} has no document")
            for d in docs:
                for key in ("apiVersion", "kind"):
                    self.assertIn(key, d, name)
                if d["kind"] != "Kustomization":
                    self.assertEqual(d["metadata"]["name"], "echod", name)
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "PodMonitor",
                     "Kustomization", "HorizontalPodAutoscaler"):
            self.assertIn(kind, self.by_kind)

    def test_kustomization_lists_the_core_files(self):
        res = self.by_kind["Kustomization"][0]["resources"]
        for r in res:
            self.assertTrue(os.path.exists(os.path.join(K8S, r)), r)
        # The PodMonitor needs the Prometheus Operator's CRDs: apart on purpose.
        self.assertEqual(sorted(res),
                         ["deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml"])

    # --- Dockerfile ------------------------------------------------------------
    def test_dockerfile_stages(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.stages[0][0], "debian:bookworm-slim AS builder")
        self.assertEqual(self.stages[1][0], "debian:bookworm-slim")
        builder = " ".join(a for op, a in self.stages[0][1] if op == "RUN")
        self.assertIn("tools/setup --build-only", builder)
        for t in ("//cmd:server", "//cmd:client", "//cmd:echoctl", "//cmd:pki",
                  "//cmd:bench"):
            self.assertIn(t, builder)
        self.assertIn("-c opt", builder)
        # One install path: the builder makes the Debian package, the
        # runtime installs it (its Depends bring libuv1 and libcjson1).
        self.assertIn("tools/package --bin-dir", builder)
        runtime_run = " ".join(self.df["RUN"])
        self.assertIn("apt-get install", runtime_run)
        self.assertIn("/tmp/deb/echod_*.deb", runtime_run)
        self.assertNotIn("-dev", runtime_run)
        for tool in ("echod", "echo-client", "echoctl", "echo-pki", "echo-bench"):
            self.assertIn(tool, runtime_run)
        self.assertEqual(self.df["STOPSIGNAL"], ["SIGTERM"])
        self.assertIn('CMD ["echoctl", "status"]', self.df["HEALTHCHECK"][0])
        self.assertEqual(self.df["ENTRYPOINT"], ['["echod"]'])

    def dockerfile_env(self):
        env = {}
        for arg in self.df["ENV"]:
            for kv in shlex.split(arg):
                k, _, v = kv.partition("=")
                env[k] = v
        return env

    def test_dockerfile_matches_echod_defaults(self):
        state = os.path.join(TMP, "state")
        defaults = print_config([], {"ECHOD_STATE_DIR": state})
        _, echo_port = hostport(defaults["listen"][0])
        _, metrics_port = hostport(defaults["metrics_listen"])
        self.assertEqual(defaults["admin_socket"], state + "/admin.sock")
        exposed = sorted(int(p) for p in " ".join(self.df["EXPOSE"]).split())
        self.assertEqual(exposed, sorted([echo_port, metrics_port]))
        env = self.dockerfile_env()
        # The image's own configuration: all addresses, same ports.
        cfg = print_config([], env)
        self.assertEqual(cfg["listen"], [f"0.0.0.0:{echo_port}"])
        self.assertEqual(cfg["metrics_listen"], f"0.0.0.0:{metrics_port}")
        self.assertEqual(cfg["state_dir"], "/var/lib/echod")
        self.assertIn('["/var/lib/echod"]', self.df["VOLUME"])
        self.assertEqual(self.df["USER"], ["10001:10001"])

    # --- Deployment ----------------------------------------------------------
    def container_env(self):
        env = {}
        limits = self.ctr["resources"]["limits"]
        for e in self.ctr.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["resourceFieldRef"]
                self.assertIn(ref["resource"].split(".", 1)[1], limits, e["name"])
                env[e["name"]] = "2"  # what the kubelet passes for limits.cpu "2"
        return env

    def test_container_flags_ports_and_mounts(self):
        env = dict(self.dockerfile_env())  # image ENV, overridden by the pod's
        env.update(self.container_env())
        cfg = print_config(self.ctr["args"], env)
        host, port = hostport(cfg["listen"][0])
        self.assertEqual((host, port), ("0.0.0.0", self.ports["echo"]))
        host, port = hostport(cfg["metrics_listen"])
        self.assertEqual((host, port), ("0.0.0.0", self.ports["metrics"]))
        self.assertEqual(sorted(self.ports.values()),
                         sorted(int(p) for p in " ".join(self.df["EXPOSE"]).split()))
        # Certificates from the Secret volume, state on the writable emptyDir.
        tls_dir = self.mounts["tls"]["mountPath"]
        self.assertTrue(self.mounts["tls"]["readOnly"])
        self.assertIn("secret", self.volumes["tls"])
        for key in ("cert", "key", "ca"):
            self.assertTrue(under(cfg[key], tls_dir), f"--{key} {cfg[key]} not in {tls_dir}")
        self.assertEqual(
            sorted(os.path.basename(cfg[k]) for k in ("cert", "key", "ca")),
            ["ca.crt", "tls.crt", "tls.key"])  # the keys cert-manager writes
        state_dir = self.mounts["state"]["mountPath"]
        self.assertIn("emptyDir", self.volumes["state"])
        self.assertEqual(cfg["state_dir"], state_dir)
        self.assertEqual(state_dir, self.dockerfile_env()["ECHOD_STATE_DIR"])
        self.assertTrue(under(cfg["admin_socket"], state_dir))
        self.assertFalse(cfg["no_watch"], "file watch must be on for Secret reloads")
        self.assertEqual(cfg["workers"], 2)
        self.assertEqual(cfg["handshake_threads"], 2)
        # Graceful stop fits: the preStop drain (delay, sessions finishing,
        # close_notify's 2 s grace) ends within the grace period. echoctl
        # finds the admin socket through ECHOD_STATE_DIR, as echod puts it.
        pre_stop = self.ctr["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop, ["echoctl", "drain"])
        self.assertEqual(cfg["admin_socket"], cfg["state_dir"] + "/admin.sock")
        self.assertEqual(cfg["drain_sessions"], "finish")
        self.assertGreater(duration_s(cfg["drain_delay"]), 0)
        budget = (duration_s(cfg["drain_delay"]) + duration_s(cfg["drain_timeout"])
                  + 2)
        self.assertLess(budget, self.pod["spec"]["terminationGracePeriodSeconds"])
        # One ticket-keys Secret for every replica, mounted read-only.
        tk_dir = self.mounts["ticket-keys"]["mountPath"]
        self.assertTrue(self.mounts["ticket-keys"]["readOnly"])
        self.assertTrue(under(cfg["ticket_keys"], tk_dir))
        self.assertEqual(self.volumes["ticket-keys"]["secret"]["secretName"],
                         "echod-ticket-keys")

    def test_key_file_mode_is_private(self):
        for vol in ("tls", "ticket-keys"):
            mode = self.volumes[vol]["secret"]["defaultMode"]
            self.assertEqual(mode & 0o077, 0, oct(mode))  # fsGroup adds group read only
        self.assertEqual(self.pod["spec"]["securityContext"]["fsGroup"], 10001)

    def test_probes(self):
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = self.ctr[probe]["httpGet"]
            self.assertEqual(get["path"], path)
            self.assertEqual(get["port"], "metrics")

    def test_security_and_resources(self):
        uid = int(self.df["USER"][0].split(":")[0])
        psc = self.pod["spec"]["securityContext"]
        self.assertTrue(psc["runAsNonRoot"])
        self.assertEqual(psc["runAsUser"], uid)
        csc = self.ctr["securityContext"]
        self.assertTrue(csc["readOnlyRootFilesystem"])
        self.assertFalse(csc["allowPrivilegeEscalation"])
        self.assertEqual(csc["capabilities"]["drop"], ["ALL"])
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                self.assertIn(res, self.ctr["resources"][kind])

    def test_selectors_match_the_pods(self):
        labels = self.pod["metadata"]["labels"]

        def matches(sel):
            return sel and all(labels.get(k) == v for k, v in sel.items())

        self.assertTrue(matches(self.deploy["spec"]["selector"]["matchLabels"]))
        svc = self.by_kind["Service"][0]
        self.assertTrue(matches(svc["spec"]["selector"]))
        self.assertEqual([(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]],
                         [(self.ports["echo"], "echo")])
        pdb = self.by_kind["PodDisruptionBudget"][0]
        self.assertTrue(matches(pdb["spec"]["selector"]["matchLabels"]))
        self.assertLess(pdb["spec"]["maxUnavailable"], self.deploy["spec"]["replicas"])

    def test_rolls_without_loss(self):
        roll = self.deploy["spec"]["strategy"]
        self.assertEqual(roll["type"], "RollingUpdate")
        self.assertEqual(roll["rollingUpdate"]["maxUnavailable"], 0)
        self.assertGreaterEqual(roll["rollingUpdate"]["maxSurge"], 1)
        ready = self.ctr["readinessProbe"]
        self.assertEqual(ready["httpGet"]["path"], "/readyz")
        # Taken out of the Service within the drain delay.
        env = dict(self.dockerfile_env())
        env.update(self.container_env())
        cfg = print_config(self.ctr["args"], env)
        self.assertLessEqual(ready["periodSeconds"] * ready["failureThreshold"],
                             duration_s(cfg["drain_delay"]) + 5)

    def test_autoscaler(self):
        hpa = self.by_kind["HorizontalPodAutoscaler"][0]
        ref = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((ref["kind"], ref["name"]), ("Deployment", "echod"))
        pdb = self.by_kind["PodDisruptionBudget"][0]
        self.assertGreater(hpa["spec"]["minReplicas"], pdb["spec"]["maxUnavailable"])
        self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
        metric = hpa["spec"]["metrics"][0]
        self.assertEqual(metric["resource"]["name"], "cpu")
        self.assertIn("cpu", self.ctr["resources"]["requests"])  # utilization needs it

    def test_proxy_protocol_overlay(self):
        d = os.path.join(K8S, "proxy-protocol")
        docs = {}
        for name in ("kustomization.yaml", "service.yaml", "deployment-patch.yaml"):
            with open(os.path.join(d, name)) as f:
                docs[name] = yaml.safe_load(f)
        kz = docs["kustomization.yaml"]
        self.assertEqual(kz["resources"], ["../"])
        self.assertEqual(sorted(p["path"] for p in kz["patches"]),
                         ["deployment-patch.yaml", "service.yaml"])
        svc = docs["service.yaml"]
        self.assertEqual(svc["metadata"]["name"], "echod")
        ann = svc["metadata"]["annotations"]
        self.assertEqual(ann["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"], "*")
        self.assertEqual(ann["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"],
                         "/readyz")
        self.assertEqual(int(ann["service.beta.kubernetes.io/"
                                 "aws-load-balancer-healthcheck-port"]), self.ports["metrics"])
        patch = docs["deployment-patch.yaml"]
        ctr = patch["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(ctr["name"], self.ctr["name"])
        env = dict(self.dockerfile_env())
        env.update(self.container_env())
        env.update({e["name"]: e["value"] for e in ctr["env"]})
        self.assertTrue(print_config(self.ctr["args"], env)["proxy_protocol"])
        self.assertFalse(print_config(self.ctr["args"], self.container_env())["proxy_protocol"])

    def test_scraping(self):
        pm = self.by_kind["PodMonitor"][0]
        labels = self.pod["metadata"]["labels"]
        sel = pm["spec"]["selector"]["matchLabels"]
        self.assertTrue(all(labels.get(k) == v for k, v in sel.items()))
        ep = pm["spec"]["podMetricsEndpoints"][0]
        self.assertEqual((ep["port"], ep["path"]), ("metrics", "/metrics"))
        ann = self.pod["metadata"]["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(int(ann["prometheus.io/port"]), self.ports["metrics"])
        self.assertEqual(ann["prometheus.io/path"], "/metrics")


if __name__ == "__main__":
    unittest.main(verbosity=2)
