#!/usr/bin/env bash
# deploy/systemd_unit_test.sh — deploy/systemd/echod.service and
# echod.socket are units systemd accepts as the package installs them,
# hardened, and the service's command line is one echod accepts:
#   1. `systemd-analyze verify` of both units in a scratch root where they
#      sit in /lib/systemd/system and the real echod in /usr/bin: exit 0
#      and not one warning (unknown keys and bad values are only warnings).
#   2. `systemd-analyze security --offline` exposure stays at or below 2.0.
#   3. The directives the service relies on are there: Type=notify (and
#      the server does read NOTIFY_SOCKET), the watchdog, the package's
#      user, state and runtime directories, the hardening; the socket
#      listens where the configuration does.
#   4. echod, given the unit's Environment= and ExecStart= flags and the
#      package's /etc/echod/config.json, prints a configuration with the
#      admin socket in the RuntimeDirectory and the state directory in the
#      StateDirectory (--print-config).
#   5. echod-crl.service and echod-crl.timer (the CRL of the CA in
#      /var/lib/echod, re-signed when due): verified the same way, exposure
#      at or below 1.0, a twice-daily persistent timer, and a service that runs
#      `echo-pki crl --if-due` as echod on the package's state directory,
#      only where that holds a CA, with no network.
# Skips (exit 0, with a message) only when systemd-analyze is not installed.
set -euo pipefail

srcdir=${TEST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)/..}
unit="$srcdir/echod/deploy/systemd/echod.service"
socket_unit="$srcdir/echod/deploy/systemd/echod.socket"
crl_unit="$srcdir/echod/deploy/systemd/echod-crl.service"
crl_timer="$srcdir/echod/deploy/systemd/echod-crl.timer"
pki="$srcdir/echod/cmd/pki"
config="$srcdir/echod/deploy/debian/config.json"
server="$srcdir/echod/cmd/server"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/systemd-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

[ -f "$unit" ] || { echo "FAIL unit not found at $unit"; exit 1; }
[ -f "$socket_unit" ] || { echo "FAIL socket unit not found at $socket_unit"; exit 1; }
[ -x "$server" ] || { echo "FAIL echod not found at $server"; exit 1; }
[ -f "$crl_unit" ] && [ -f "$crl_timer" ] || { echo "FAIL echod-crl units not found"; exit 1; }
[ -x "$pki" ] || { echo "FAIL echo-pki not found at $pki"; exit 1; }

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP systemd-analyze is not installed (apt-get install systemd); the unit was NOT verified"
	exit 0
fi

# 1. verify, as installed.
root="$tmp/root"
mkdir -p "$root/usr/bin" "$root/bin" "$root/lib/systemd"
cp -r /lib/systemd/system "$root/lib/systemd/"
cp "$unit" "$socket_unit" "$crl_unit" "$crl_timer" "$root/lib/systemd/system/"
cp "$server" "$root/usr/bin/echod"
cp "$pki" "$root/usr/bin/echo-pki"
cp /bin/kill "$root/bin/kill"
if systemd-analyze verify --man=no --root="$root" echod.service echod.socket \
	>"$tmp/verify.out" 2>&1 && [ ! -s "$tmp/verify.out" ]; then
	pass "systemd-analyze verify echod.service echod.socket: no errors, no warnings"
else
	cat "$tmp/verify.out"
	fail "systemd-analyze verify (output above)"
fi

# 2. exposure score (0.0 best .. 10.0; --threshold is in tenths).
if systemd-analyze security --offline=yes --root="$root" --threshold=20 echod.service \
	>"$tmp/security.out" 2>&1; then
	pass "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$tmp/security.out")"
else
	grep -E '^✗|Overall' "$tmp/security.out" || cat "$tmp/security.out"
	fail "systemd-analyze security: exposure above 2.0"
fi

# 3. required directives (exact lines).
required=(
	"Type=notify"
	"NotifyAccess=main"
	"WatchdogSec=30s"
	"ExecStart=/usr/bin/echod --config /etc/echod/config.json"
	"ExecReload=/bin/kill -HUP \$MAINPID"
	"KillSignal=SIGTERM"
	"User=echod"
	"Group=echod"
	"StateDirectory=echod"
	"RuntimeDirectory=echod"
	"NoNewPrivileges=yes"
	"ProtectSystem=strict"
	"ProtectHome=yes"
	"PrivateTmp=yes"
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
	"SystemCallFilter=@system-service"
	"SystemCallFilter=landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp"
	"CapabilityBoundingSet="
	"MemoryDenyWriteExecute=yes"
)
for line in "${required[@]}"; do
	if grep -qxF -- "$line" "$unit"; then
		pass "has $line"
	else
		fail "missing line: $line"
	fi
done
# Type=notify needs sd_notify in the server: without it systemd would
# wait for READY=1 until TimeoutStartSec and then kill it.
if grep -qa NOTIFY_SOCKET "$server"; then
	pass "the server reads NOTIFY_SOCKET (Type=notify)"
else
	fail "Type=notify, but the server does not read NOTIFY_SOCKET"
fi
if grep -qxF "ListenStream=127.0.0.1:7443" "$socket_unit" &&
	grep -q '"listen": \["127.0.0.1:7443"\]' "$config"; then
	pass "echod.socket listens where /etc/echod/config.json does (127.0.0.1:7443)"
else
	fail "echod.socket's ListenStream= and config.json's listen differ"
fi

# 4. echod accepts the unit's command line; paths land where systemd
# provides directories.
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
mapfile -t envs < <(sed -n 's/^Environment=//p' "$unit")
read -r -a argv <<<"$execstart"
argv[0]=$server
# The package installs deploy/debian/config.json as /etc/echod/config.json.
argv=("${argv[@]//\/etc\/echod\/config.json/$config}")
if env -i "${envs[@]}" "${argv[@]}" --print-config >"$tmp/config.json" 2>"$tmp/config.err"; then
	if python3 - "$tmp/config.json" <<'EOF'; then
import json, sys
c = json.load(open(sys.argv[1]))
def want(key, value):
    if c.get(key) != value:
        sys.exit(f"{key} = {c.get(key)!r}, want {value!r}")
want("admin_socket", "/run/echod/admin.sock")   # RuntimeDirectory=echod
want("state_dir", "/var/lib/echod")             # StateDirectory=echod
want("listen", ["127.0.0.1:7443"])
want("metrics_listen", "127.0.0.1:9870")
EOF
		pass "echod --print-config with the unit's command line and config.json: admin socket /run/echod, state /var/lib/echod"
	else
		cat "$tmp/config.json"
		fail "echod --print-config with the unit's flags (above)"
	fi
else
	cat "$tmp/config.err"
	fail "echod rejects the unit's command line: $execstart"
fi

# 5. the CRL units.
if systemd-analyze verify --man=no --root="$root" echod-crl.service echod-crl.timer \
	>"$tmp/verify-crl.out" 2>&1 && [ ! -s "$tmp/verify-crl.out" ]; then
	pass "systemd-analyze verify echod-crl.service echod-crl.timer: no errors, no warnings"
else
	cat "$tmp/verify-crl.out"
	fail "systemd-analyze verify of the CRL units (output above)"
fi
if systemd-analyze security --offline=yes --root="$root" --threshold=10 echod-crl.service \
	>"$tmp/security-crl.out" 2>&1; then
	pass "systemd-analyze security echod-crl.service: $(grep -o 'Overall exposure level.*' "$tmp/security-crl.out")"
else
	grep -E '^✗|Overall' "$tmp/security-crl.out" || cat "$tmp/security-crl.out"
	fail "systemd-analyze security: echod-crl.service exposure above 1.0"
fi
for line in "Type=oneshot" "User=echod" "Group=echod" "StateDirectory=echod" \
	"Environment=ECHOD_STATE_DIR=/var/lib/echod" \
	"ExecStart=/usr/bin/echo-pki crl --if-due" \
	"ConditionPathExists=/var/lib/echod/pki/ca.key" "PrivateNetwork=yes" \
	"NoNewPrivileges=yes" "ProtectSystem=strict"; do
	grep -qxF -- "$line" "$crl_unit" && pass "echod-crl.service has $line" ||
		fail "echod-crl.service lacks $line"
done
for line in "OnCalendar=*-*-* 00,12:00:00" "Persistent=true" "WantedBy=timers.target"; do
	grep -qxF -- "$line" "$crl_timer" && pass "echod-crl.timer has $line" ||
		fail "echod-crl.timer lacks $line"
done
# The state directory both services name is the one echod uses.
if [ "$(sed -n 's/^StateDirectory=//p' "$unit")" = "$(sed -n 's/^StateDirectory=//p' "$crl_unit")" ] &&
	[ "$(sed -n 's/^StateDirectoryMode=//p' "$unit")" = "$(sed -n 's/^StateDirectoryMode=//p' "$crl_unit")" ]; then
	pass "echod-crl.service shares echod.service's StateDirectory= and its mode"
else
	fail "echod-crl.service and echod.service disagree on StateDirectory=/StateDirectoryMode="
fi
# echo-pki accepts the service's command line.
if "$pki" crl --help 2>&1 | grep -q -- '--if-due'; then
	pass "echo-pki crl takes --if-due"
else
	fail "echo-pki crl --help does not list --if-due"
fi

[ $failures = 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
