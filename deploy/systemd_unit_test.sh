#!/usr/bin/env bash
# deploy/systemd_unit_test.sh — deploy/systemd/echod.service is a unit
# systemd accepts as installed, hardened, and its command line is one echod
# accepts:
#   1. `systemd-analyze verify` in a scratch root where the unit sits in
#      /etc/systemd/system and the real echod in /usr/local/bin: exit 0 and
#      not one warning (unknown keys and bad values are only warnings).
#   2. `systemd-analyze security --offline` exposure stays at or below 2.0.
#   3. The directives issue 7 asks for are there.
#   4. echod, given the unit's Environment= and ExecStart= flags, prints a
#      configuration with the admin socket in the RuntimeDirectory and the
#      state directory in the StateDirectory (--print-config).
# Skips (exit 0, with a message) only when systemd-analyze is not installed.
set -euo pipefail

srcdir=${TEST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)/..}
unit="$srcdir/echod/deploy/systemd/echod.service"
server="$srcdir/echod/cmd/server"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/systemd-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

[ -f "$unit" ] || { echo "FAIL unit not found at $unit"; exit 1; }
[ -x "$server" ] || { echo "FAIL echod not found at $server"; exit 1; }

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP systemd-analyze is not installed (apt-get install systemd); the unit was NOT verified"
	exit 0
fi

# 1. verify, as installed.
root="$tmp/root"
mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/bin" "$root/lib/systemd"
cp -r /lib/systemd/system "$root/lib/systemd/"
cp "$unit" "$root/etc/systemd/system/echod.service"
cp "$server" "$root/usr/local/bin/echod"
cp /bin/kill "$root/bin/kill"
if systemd-analyze verify --man=no --root="$root" echod.service >"$tmp/verify.out" 2>&1 &&
	[ ! -s "$tmp/verify.out" ]; then
	pass "systemd-analyze verify: no errors, no warnings"
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
	"Type=simple"
	"ExecReload=/bin/kill -HUP \$MAINPID"
	"KillSignal=SIGTERM"
	"DynamicUser=yes"
	"StateDirectory=echod"
	"RuntimeDirectory=echod"
	"NoNewPrivileges=yes"
	"ProtectSystem=strict"
	"ProtectHome=yes"
	"PrivateTmp=yes"
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
	"SystemCallFilter=@system-service"
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
# Type=notify needs sd_notify in the server (it would read NOTIFY_SOCKET);
# if that arrives, the unit must say so.
if grep -qa NOTIFY_SOCKET "$server"; then
	fail "the server now reads NOTIFY_SOCKET: switch the unit to Type=notify"
fi

# 4. echod accepts the unit's command line; paths land where systemd
# provides directories.
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
mapfile -t envs < <(sed -n 's/^Environment=//p' "$unit")
read -r -a argv <<<"$execstart"
argv[0]=$server
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
		pass "echod --print-config with the unit's flags: admin socket /run/echod, state /var/lib/echod"
	else
		cat "$tmp/config.json"
		fail "echod --print-config with the unit's flags (above)"
	fi
else
	cat "$tmp/config.err"
	fail "echod rejects the unit's command line: $execstart"
fi

[ $failures = 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
