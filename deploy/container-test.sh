#!/usr/bin/env bash
# deploy/container-test.sh — build deploy/Dockerfile with podman on this
# machine and test the image for real, from the host:
#
#   mTLS echo through a published 127.0.0.1 port (host-built //cmd:client,
#   the container's dev client certificate copied out of the volume);
#   `echoctl status` and the image's HEALTHCHECK inside the container;
#   /metrics and /readyz through a published port; the process runs as a
#   non-root user; certificates mounted at /etc/echod/tls are used;
#   `podman stop` drains and exits 0 within the drain timeout.
#   The Debian package the builder stage made (tools/package), installed
#   in a fresh Debian 12 container: deploy/package-install-test.sh.
#
# Needs root, podman, runc, debootstrap, iptables, curl, python3 (tools/setup
# installs them) and Debian's mirror (debootstrap and apt-get in the build).
# The base image is made with `debootstrap --variant=minbase bookworm` from
# the mirror this machine's apt sources name (no registry is contacted).
# All podman state lives in one temporary directory; it, the containers, the
# network, the firewall rules and the bridge podman adds are removed at the
# end, also on failure or Ctrl-C.
#
#   deploy/container-test.sh
#
# Environment:
#   ECHOD_CLIENT=PATH          host echo client to use (default: bazel build
#                              //cmd:client on the host)
#   BAZEL_OUTPUT_BASE=DIR      --output_base for that host build
#   TMPDIR                     where the temporary directory goes
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
start_s=$(date +%s)
failures=0
summary=0 # the final PASS/FAIL line was printed
name=echod-ct-$$ # containers, volumes and the network carry this prefix
bridge=ectbr$(($$ % 100000))
image=localhost/echod:container-test
drain_s=10

# Messages go to the script's own stdout/stderr (fds 3 and 4), also from the
# EXIT trap when it runs inside a redirected command.
exec 3>&1 4>&2
say() { printf 'container-test: %s\n' "$*" >&4; }
die() { say "error: $*"; exit 1; }
pass() { printf 'PASS %s\n' "$*" >&3; }
fail() { printf 'FAIL %s\n' "$*" >&3; failures=$((failures + 1)); }
elapsed() { echo $(($(date +%s) - start_s)); }

# --- preconditions -----------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: podman here runs rootful (runc, cgroupfs)"
missing=()
for c in podman runc debootstrap iptables-save ip curl python3 tar mountpoint setsid; do
	command -v "$c" >/dev/null || missing+=("$c")
done
[ ${#missing[@]} = 0 ] || die "missing commands: ${missing[*]} (apt-get install podman runc debootstrap iptables curl python3)"
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
nofile=$((hard_nofile < 65536 ? hard_nofile : 65536))
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=32768:32768)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/echod-ct.XXXXXX")
chmod 0755 "$work" # the container user reads bind-mounted files below it

# --- teardown: everything below $work, plus the host state podman touched -----
fw_before="$work/fw-before"
for t in iptables ip6tables; do
	"$t-save" 2>/dev/null >"$fw_before.$t" || true
done
nft_tables_before=$(nft list tables 2>/dev/null || true)
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
cni_dir_existed=0
[ -d /var/lib/cni ] && cni_dir_existed=1
netns_dir_existed=0 # podman makes /run/netns a bind mount of itself
[ -d /run/netns ] && netns_dir_existed=1
bg_pids=()

# Remove the iptables chains and rules that appeared during the run and
# belong to podman's CNI plugins (CNI-* chains, our bridge, our subnet).
undo_firewall() {
	local t tab line chain chains
	for t in iptables ip6tables; do
		"$t-save" 2>/dev/null >"$work/fw-after.$t" || continue
		tab=
		while IFS= read -r line; do
			case "$line" in
			\**) tab=${line#\*} ;;
			-A\ *)
				grep -qxF -- "$line" "$fw_before.$t" && continue
				case "$line" in *CNI-* | *"$bridge"* | *"${subnet:-none}"*) ;; *) continue ;; esac
				# shellcheck disable=SC2086 # iptables-save quotes nothing we need
				eval "$t -w -t $tab -D ${line#-A }" 2>/dev/null || true
				;;
			esac
		done <"$work/fw-after.$t"
		# New CNI-* chains: flush them all, then delete them (they jump to
		# each other).
		chains=()
		tab=
		while IFS= read -r line; do
			case "$line" in
			\**) tab=${line#\*} ;;
			:CNI-*)
				chain=${line#:}
				chain=${chain%% *}
				grep -q "^:$chain " "$fw_before.$t" || chains+=("$tab $chain")
				;;
			esac
		done <"$work/fw-after.$t"
		for line in "${chains[@]}"; do "$t" -w -t ${line% *} -F "${line#* }" 2>/dev/null; done
		for line in "${chains[@]}"; do "$t" -w -t ${line% *} -X "${line#* }" 2>/dev/null; done
	done
	# iptables-nft creates nf_tables tables (ip nat, ip filter, ...) on first
	# use and cannot delete them; nft can. Only new ones with no rules left.
	command -v nft >/dev/null || return 0
	local fam name
	while read -r _ fam name; do
		grep -qxF "table $fam $name" <<<"$nft_tables_before" && continue
		nft -a list table "$fam" "$name" 2>/dev/null | grep -E '# handle [0-9]+$' |
			grep -qvE '^\s*(table|chain) ' && continue # it still has rules
		nft delete table "$fam" "$name" 2>/dev/null || true
	done < <(nft list tables 2>/dev/null)
}

cleanup() {
	local rc=$? pid m
	trap - EXIT
	trap '' INT TERM # finish cleaning up even on a second Ctrl-C
	set +e
	# Background jobs run in their own process groups (spawn): stop each
	# group, then wait for it.
	for pid in "${bg_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
	for pid in "${bg_pids[@]}"; do wait "$pid" 2>/dev/null; done
	if [ -f "$work/containers.conf" ]; then
		pm rm -f -t 0 -a >/dev/null 2>&1
		pm volume rm -f -a >/dev/null 2>&1
		pm system reset -f >/dev/null 2>&1 # unmounts and empties storage
	fi
	undo_firewall
	ip link del "$bridge" 2>/dev/null
	if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$ip_forward_before" ]; then
		echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
	fi
	rm -rf "/var/lib/cni/networks/$name"
	rm -f /var/lib/cni/results/"$name"-* 2>/dev/null
	if [ $cni_dir_existed = 0 ]; then # libcni's cache dir, if now empty
		rmdir /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null
	fi
	if [ $netns_dir_existed = 0 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
		while mountpoint -q /run/netns; do umount /run/netns || break; done
		rmdir /run/netns
	fi
	# Anything still mounted below $work (overlay layers, volumes) goes first.
	for m in $(awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m"
	done
	rm -rf "$work"
	say "cleaned up; total wall time $(elapsed)s"
	if [ $rc != 0 ] && [ $summary = 0 ]; then
		printf 'FAIL container-test: stopped early (exit %s)\n' "$rc" >&3
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- podman, confined to $work ---------------------------------------------------
mkdir -p "$work"/{storage,run,tmp,libpod,cni,volumes,xdg/config,xdg/data,xdg/run}
chmod 0700 "$work/xdg/run"
cat >"$work/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
[network]
network_backend = "cni"
network_config_dir = "$work/cni"
default_network = "$name"
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "$work/libpod/events.log"
lock_type = "file"
tmp_dir = "$work/libpod"
volume_path = "$work/volumes"
static_dir = "$work/storage/libpod"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
cat >"$work/registries.conf" <<EOF
unqualified-search-registries = []
EOF
export CONTAINERS_CONF="$work/containers.conf"
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$work/registries.conf"
export XDG_CONFIG_HOME="$work/xdg/config" XDG_DATA_HOME="$work/xdg/data"
export XDG_RUNTIME_DIR="$work/xdg/run" TMPDIR="$work/tmp"
pm_argv=(--root "$work/storage" --runroot "$work/run" --tmpdir "$work/libpod"
	--storage-driver overlay --cgroup-manager cgroupfs --runtime runc
	--events-backend file --network-config-dir "$work/cni"
	--volumepath "$work/volumes")
pm() { podman "${pm_argv[@]}" "$@"; }

# spawn LOG CMD...: start CMD in the background in its own process group,
# stdout and stderr to LOG (cleanup stops the group). waitfor LOG CMD...:
# spawn and wait — a signal to this script then reaches its traps at once,
# which a foreground command would delay.
spawn() {
	local log=$1
	shift
	setsid -w "$@" >"$log" 2>&1 &
	bg_pids+=($!)
}
waitfor() {
	spawn "$@"
	wait "${bg_pids[-1]}"
}

# --- host client: build it while debootstrap downloads ---------------------------
client_log="$work/host-build.log"
if [ -n "${ECHOD_CLIENT:-}" ]; then
	client=$ECHOD_CLIENT
	[ -x "$client" ] || die "ECHOD_CLIENT=$client is not an executable"
else
	bazel_start=()
	[ -n "${BAZEL_OUTPUT_BASE:-}" ] && bazel_start=(--output_base="$BAZEL_OUTPUT_BASE")
	# shellcheck disable=SC2016 # expanded by the inner bash
	spawn "$client_log" bash -c 'cd "$1" && shift && bazel "$@" build //cmd:client &&
		bazel "$@" info bazel-bin >"$0"' "$work/client-bin" "$top" "${bazel_start[@]}"
	client_pid=${bg_pids[-1]}
fi

# --- base image: debootstrap from this machine's mirror ---------------------------
# The first Debian mirror in the apt sources that carries bookworm (deb822
# .sources first, then the one-line sources.list).
mirror=$(python3 - <<'EOF'
import glob, re
def stanzas():
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for block in re.split(r"\n\s*\n", open(f).read()):
            fields = {}
            for line in block.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).split()
            if fields.get("enabled", ["yes"])[0] == "no":
                continue
            if "deb" in fields.get("types", []):
                for uri in fields.get("uris", []):
                    yield uri, fields.get("suites", [])
    try:
        for line in open("/etc/apt/sources.list"):
            m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                yield m.group(1), [m.group(2)]
    except FileNotFoundError:
        pass
for uri, suites in stanzas():
    if "bookworm" in suites:
        print(uri)
        break
EOF
)
[ -n "$mirror" ] || die "no bookworm mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
say "debootstrap --variant=minbase bookworm from $mirror"
t0=$(date +%s)
waitfor "$work/debootstrap.log" debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" ||
	{ tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
rm -rf "$work/rootfs"
waitfor "$work/import.log" podman "${pm_argv[@]}" import --quiet "$work/rootfs.tar" \
	docker.io/library/debian:bookworm-slim || { cat "$work/import.log"; die "podman import failed"; }
rm -f "$work/rootfs.tar"
say "base image ready in $(($(date +%s) - t0))s"

# --- build the image ----------------------------------------------------------------
say "podman build -f deploy/Dockerfile (Bazel inside; several minutes)"
t0=$(date +%s)
if waitfor "$work/build.log" podman "${pm_argv[@]}" build --pull=never --format docker \
	--network host "${ulimits[@]}" -f "$top/deploy/Dockerfile" -t "$image" "$top"; then
	pass "image builds with podman from deploy/Dockerfile ($(($(date +%s) - t0))s)"
else
	tail -n 40 "$work/build.log"
	fail "podman build -f deploy/Dockerfile (log tail above)"
	exit 1
fi

# --- the package in fresh Debian 12 containers (in the background) -------------
# tools/package ran in the builder stage; its .deb comes from there (the
# stage is cached by the build above: no second build). The package's
# dependencies and the tests' tools (man-db, bash-completion, systemd) go
# into a fresh base container from the mirror (host network); then, with
# no network at all, deploy/package-install-test.sh (apt-get install
# ./echod_*.deb, echod as user echod, echoctl status, man -l, completion,
# dpkg -r and -P) and deploy/package-systemd-test.sh in a container whose
# PID 1 is systemd (the shipped unit as shipped: Type=notify, hardening,
# reload, stop). Their PASS/FAIL lines are reported at the end.
package_job() {
	local deb deps rc=0
	mkdir -p "$work/deb"
	pm build --pull=never --format docker --network host "${ulimits[@]}" \
		--target builder -t localhost/echod:builder -f "$top/deploy/Dockerfile" "$top" \
		>"$work/builder.log" 2>&1 &&
		pm create --name "$name-builder" localhost/echod:builder true >/dev/null &&
		pm cp "$name-builder:/out/." "$work/deb/" &&
		pm rm -f "$name-builder" >/dev/null ||
		{ tail -n 20 "$work/builder.log"; echo "FAIL package: cannot take the .deb from the builder stage"; return 1; }
	deb=$(ls "$work"/deb/echod_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { echo "FAIL package: no echod_*.deb in the builder's /out"; return 1; }
	deps=$(dpkg-deb -f "$deb" Depends | sed -e 's/([^)]*)//g' -e 's/,/ /g')
	pm run --name "$name-pkgbase" --network host "${ulimits[@]}" \
		docker.io/library/debian:bookworm-slim \
		sh -c "echo 'man-db man-db/auto-update boolean false' | debconf-set-selections &&
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $deps man-db bash-completion systemd" \
		>"$work/pkgbase.log" 2>&1 &&
		pm commit -q "$name-pkgbase" localhost/echod:pkgtest >/dev/null &&
		pm rm -f "$name-pkgbase" >/dev/null ||
		{ tail -n 20 "$work/pkgbase.log"; echo "FAIL package: preparing the fresh container"; return 1; }
	pm run --rm --network none "${ulimits[@]}" -v "$work/deb:/deb:ro" \
		-v "$top/deploy/package-install-test.sh:/t.sh:ro" localhost/echod:pkgtest \
		bash /t.sh "/deb/$(basename "$deb")" || rc=1
	pm run -d --name "$name-systemd" --network none "${ulimits[@]}" --systemd=always \
		-v "$work/deb:/deb:ro" -v "$top/deploy/package-systemd-test.sh:/t.sh:ro" \
		localhost/echod:pkgtest /lib/systemd/systemd >/dev/null &&
		pm exec "$name-systemd" bash /t.sh "/deb/$(basename "$deb")" || rc=1
	pm rm -f -t 0 "$name-systemd" >/dev/null 2>&1
	return $rc
}
package_t0=$(date +%s)
package_job >"$work/package.log" 2>&1 &
package_pid=$!
bg_pids+=("$package_pid")

if [ -z "${ECHOD_CLIENT:-}" ]; then
	wait "$client_pid" || { tail -n 30 "$client_log"; die "host build of //cmd:client failed"; }
	client="$(cat "$work/client-bin")/cmd/client"
	[ -x "$client" ] || { tail -n 30 "$client_log"; die "no client at $client after the host build"; }
fi

# --- run ------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo_port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$echo_port" ]; do metrics_port=$(free_port); done

# Our own CNI network (bridge, its address range and host-local IPAM state
# under $work), so teardown knows exactly what to remove: a /24 in 10.x no
# route on this machine covers.
for _ in $(seq 1 50); do
	net3="10.$((RANDOM % 50 + 200)).$((RANDOM % 256))"
	ip route show to match "$net3.1" | grep -qv '^default' || break
done
subnet="$net3.0/24"
cat >"$work/cni/$name.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true,
      "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$work/cni-ipam",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "$subnet", "gateway": "$net3.1"}]]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": "iptables"},
    {"type": "tuning"}
  ]
}
EOF
pm volume create "$name-state" >/dev/null
pm run -d --name "$name" --network "$name" "${ulimits[@]}" --health-interval disable \
	-p "127.0.0.1:$echo_port:7443" -p "127.0.0.1:$metrics_port:9870" \
	-v "$name-state:/var/lib/echod" "$image" --drain-timeout "${drain_s}s" \
	>/dev/null 2>"$work/run.err" || { cat "$work/run.err"; die "podman run failed"; }

murl="http://127.0.0.1:$metrics_port"
ready=0
for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "$murl/readyz" 2>/dev/null; then ready=1; break; fi
	[ "$(pm inspect -f '{{.State.Running}}' "$name")" = true ] || break
	sleep 0.2
done
if [ $ready = 1 ]; then
	pass "container starts; /readyz answers 200 through published 127.0.0.1:$metrics_port"
else
	pm logs "$name" 2>&1 | tail -n 30
	fail "container did not become ready (logs above)"
	exit 1
fi

# Non-root, inside and as seen from the host.
uid_in=$(pm exec "$name" id -u 2>&1 || true)
host_pid=$(pm inspect -f '{{.State.Pid}}' "$name")
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$host_pid/status")
comm=$(cat "/proc/$host_pid/comm")
# shellcheck disable=SC2086 # $uids: four numbers
if [[ "$uid_in" =~ ^[0-9]+$ ]] && [ "$uid_in" != 0 ] && [ "$comm" = echod ] &&
	! printf '%s\n' $uids | grep -qx 0; then
	pass "runs as non-root: exec id -u = $uid_in; host pid $host_pid ($comm) uids $uids"
else
	fail "non-root: exec id -u = $uid_in; host pid $host_pid ($comm) uids $uids"
fi

# The dev PKI made on first start, copied out of the volume.
mkdir -p "$work/pki"
copied=0
for f in ca.pem dev-client.pem dev-client.key server.pem server.key; do
	pm cp "$name:/var/lib/echod/pki/$f" "$work/pki/$f" 2>>"$work/cp.err" && copied=$((copied + 1))
done
if [ $copied = 5 ]; then
	chmod 0600 "$work/pki/dev-client.key" "$work/pki/server.key"
	pass "first start made the dev PKI in the volume (ca, server, dev-client); copied out"
else
	cat "$work/cp.err"
	pm exec "$name" ls -la /var/lib/echod /var/lib/echod/pki 2>&1 || true
	fail "dev PKI in the volume: copied $copied of 5 files"
	exit 1
fi

# mTLS echo from the host, byte-exact.
head -c 262144 /dev/urandom >"$work/payload"
client_args=(--connect "127.0.0.1:$echo_port" --ca "$work/pki/ca.pem"
	--cert "$work/pki/dev-client.pem" --key "$work/pki/dev-client.key")
if timeout 30 "$client" "${client_args[@]}" <"$work/payload" >"$work/echoed" 2>"$work/client.err" &&
	cmp -s "$work/payload" "$work/echoed"; then
	pass "mTLS echo through 127.0.0.1:$echo_port: 256 KiB echoed byte-exact"
else
	cat "$work/client.err"
	fail "mTLS echo through 127.0.0.1:$echo_port ($(wc -c <"$work/echoed") of 262144 bytes back)"
fi

# A client without a certificate is refused.
if printf 'x' | ECHOD_STATE_DIR="$work/no-state" timeout 15 "$client" --connect "127.0.0.1:$echo_port" --ca "$work/pki/ca.pem" \
	>"$work/nocert.out" 2>/dev/null && [ "$(cat "$work/nocert.out")" = x ]; then
	fail "a client without a certificate was served"
else
	pass "a client without a certificate is refused"
fi

# echoctl status inside the container, and the image's HEALTHCHECK.
if pm exec "$name" echoctl status >"$work/status.out" 2>&1; then
	pass "podman exec echoctl status (exit 0)"
else
	cat "$work/status.out"
	fail "podman exec echoctl status"
fi
if pm exec "$name" echoctl --json status >"$work/status.json" 2>&1 &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True' "$work/status.json"; then
	pass "echoctl --json status replies ok"
else
	cat "$work/status.json"
	fail "echoctl --json status"
fi
health_cmd=$(pm image inspect -f '{{.HealthCheck.Test}}' "$image" 2>&1 || true)
if [[ "$health_cmd" == *"echoctl status"* ]] &&
	pm healthcheck run "$name" >"$work/health.out" 2>&1; then
	pass "image HEALTHCHECK ($health_cmd) reports healthy"
else
	cat "$work/health.out" 2>/dev/null
	fail "image HEALTHCHECK: '$health_cmd' missing or unhealthy"
fi

# Metrics through the published port.
if curl -fsS "$murl/metrics" >"$work/metrics" &&
	awk '$1 ~ /^echod_connections_accepted_total/ && $2 >= 1 {ok=1} END {exit !ok}' "$work/metrics" &&
	awk '$1 ~ /^echod_received_bytes_total/ && $2 >= 262144 {ok=1} END {exit !ok}' "$work/metrics"; then
	pass "GET /metrics through 127.0.0.1:$metrics_port counts the echo session and its bytes"
else
	grep -E '^echod_(connections_accepted|received_bytes)' "$work/metrics" || true
	fail "GET /metrics: echod_connections_accepted_total >= 1 and echod_received_bytes_total >= 262144"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$murl/readyz")
[ "$code" = 200 ] && pass "GET /readyz = 200" || fail "GET /readyz = $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$murl/healthz")
[ "$code" = 200 ] && pass "GET /healthz = 200" || fail "GET /healthz = $code"

# Mounted certificates are used instead of a dev PKI: a second container with
# an empty volume and the first one's server cert mounted read-only.
mkdir -p "$work/tls"
cp "$work/pki/server.key" "$work/tls/tls.key"
cp "$work/pki/server.pem" "$work/tls/tls.crt"
cp "$work/pki/ca.pem" "$work/tls/ca.crt"
chown -R 10001:10001 "$work/tls"
chmod 0600 "$work/tls/tls.key"
tls_port=$(free_port)
pm run -d --name "$name-tls" --network "$name" "${ulimits[@]}" --health-interval disable \
	-p "127.0.0.1:$tls_port:7443" -v "$work/tls:/etc/echod/tls:ro" \
	-v "$name-state2:/var/lib/echod" "$image" --cert /etc/echod/tls/tls.crt \
	--key /etc/echod/tls/tls.key --ca /etc/echod/tls/ca.crt --no-metrics \
	>/dev/null 2>"$work/run.err" || { cat "$work/run.err"; die "podman run (mounted certificates) failed"; }
ok=0
for _ in $(seq 1 50); do
	if printf 'mounted' | timeout 10 "$client" "${client_args[@]/$echo_port/$tls_port}" \
		>"$work/tls.out" 2>/dev/null && [ "$(cat "$work/tls.out")" = mounted ]; then
		ok=1
		break
	fi
	sleep 0.2
done
if [ $ok = 1 ] && ! pm exec "$name-tls" test -e /var/lib/echod/pki; then
	pass "certificates mounted at /etc/echod/tls are served; no dev PKI created"
else
	pm logs "$name-tls" 2>&1 | tail -n 20
	fail "mounted certificates (echo ok=$ok; pki dir $(pm exec "$name-tls" ls /var/lib/echod 2>&1 | tr '\n' ' '))"
fi
pm rm -f -t 0 "$name-tls" >/dev/null 2>&1

# podman stop with a session open: drain, close_notify, exit 0 in time.
# An independent TLS peer (python3's ssl) holds a session open; it reports
# how the session ended: close_notify, EOF without it, or a reset.
cat >"$work/hold.py" <<'EOF'
import socket, ssl, sys
port, pki, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(pki + "/ca.pem")
ctx.load_cert_chain(pki + "/dev-client.pem", pki + "/dev-client.key")
with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"held\n")
        got = b""
        while got != b"held\n":
            got += tls.recv(16)
        open(out, "w").write("established\n")
        try:
            end = "close_notify" if tls.recv(16) == b"" else "unexpected data"
        except ssl.SSLEOFError:
            end = "EOF without close_notify"
        except ConnectionResetError:
            end = "connection reset"
        open(out, "a").write(end + "\n")
        sys.exit(0 if end == "close_notify" else 1)
EOF
spawn "$work/held.err" timeout $((drain_s + 20)) python3 "$work/hold.py" "$echo_port" \
	"$work/pki" "$work/held.out"
held_pid=${bg_pids[-1]}
for _ in $(seq 1 100); do
	grep -q established "$work/held.out" 2>/dev/null && break
	sleep 0.1
done
t0=$(date +%s.%N)
pm stop -t $((drain_s + 15)) "$name" >/dev/null 2>&1
t1=$(date +%s.%N)
stop_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
exit_code=$(pm inspect -f '{{.State.ExitCode}}' "$name")
if [ "$exit_code" = 0 ] && python3 -c "import sys; sys.exit(not $t1 - $t0 <= $drain_s + 2)"; then
	pass "podman stop: exit 0 after ${stop_s}s (drain timeout ${drain_s}s) with a session open"
else
	pm logs "$name" 2>&1 | tail -n 20
	fail "podman stop: exit code $exit_code after ${stop_s}s (drain timeout ${drain_s}s)"
fi
if wait "$held_pid"; then
	pass "the open session got close_notify when the server drained"
else
	cat "$work/held.err"
	fail "the open session on drain: $(tr '\n' ' ' <"$work/held.out" 2>/dev/null)"
fi
# Read the whole log first: with pipefail, `pm logs | grep -q` fails when
# grep exits at its match and pm logs gets SIGPIPE.
drain_log=$(pm logs "$name" 2>&1 || true)
if grep -q 'msg=draining sessions=1' <<<"$drain_log"; then
	pass "the server's log shows the drain with 1 session open"
else
	pm logs "$name" 2>&1 | tail -n 5
	fail "no 'draining sessions=1' line in the server's log"
fi

# The package test's results.
package_rc=0
wait "$package_pid" || package_rc=$?
grep -E '^(PASS|FAIL) ' "$work/package.log" || true
if [ $package_rc = 0 ]; then
	pass "the package installs, runs (also under systemd) and purges cleanly in fresh Debian 12 containers ($(($(date +%s) - package_t0))s, in the background)"
else
	grep -vE '^(PASS|FAIL) ' "$work/package.log" | tail -n 30
	fail "the package test in a fresh container (exit $package_rc; output above)"
fi

summary=1
if [ $failures = 0 ]; then
	printf 'PASS container-test (%ss)\n' "$(elapsed)"
else
	printf 'FAIL container-test: %d check(s) failed\n' "$failures"
	exit 1
fi
