#!/usr/bin/env bash
# deploy/package-systemd-test.sh DEB — the package under a real systemd:
# run inside a container whose PID 1 is systemd (podman --systemd=always),
# as root. The shipped unit, as shipped — Type=notify, its hardening and
# system-call filter, User=echod, RuntimeDirectory — must let echod work:
#
#   apt-get install ./echod_*.deb; `systemctl enable --now echod` returns
#   once echod sent READY=1; `systemctl status` shows its STATUS= line; the
#   process runs as echod with no capabilities, no_new_privs and a seccomp
#   filter; `echoctl status` (no flags) and an echo work; `systemctl
#   reload` succeeds and STATUS= names the reload; echod-crl.timer is
#   enabled and waiting, and echod-crl.service (hardened, as echod) leaves
#   a fresh CRL alone and re-signs a due one, which echod then reloads by
#   its file watch; the process metrics can
#   read /proc; `echoctl upgrade` hands over (MAINPID=); `systemctl stop`
#   drains, exits 0, leaves no process for systemd to kill and removes
#   /run/echod; `dpkg -P` removes the enablement symlink.
#
# deploy/container-test.sh runs it with the package's dependencies and
# systemd already installed (no network needed). PASS/FAIL lines; exit 1
# on any failure.
set -uo pipefail

deb=${1:?usage: package-systemd-test.sh DEB}
failures=0
pass() { printf 'PASS systemd: %s\n' "$*"; }
fail() { printf 'FAIL systemd: %s\n' "$*"; failures=$((failures + 1)); }
die() { fail "$*"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
show() { systemctl show -p "$1" --value echod; }

# Until systemd's bus is up, systemctl cannot even ask.
for _ in $(seq 1 100); do
	[ -S /run/systemd/private ] && break
	sleep 0.1
done
state=$(timeout 60 systemctl is-system-running --wait 2>&1)
case "$state" in
running | degraded) ;;
*) die "systemd in the container is not running: $state" ;;
esac
cp "$deb" /tmp/ && cd /tmp || die "cannot copy $deb"
apt-get install -y -q --no-install-recommends "./$(basename "$deb")" >/tmp/apt.log 2>&1 ||
	{ tail -n 20 /tmp/apt.log; die "apt-get install (log above)"; }
if [ "$(systemctl is-enabled echod)" = disabled ] && [ "$(show ActiveState)" = inactive ]; then
	pass "installed; the unit is neither enabled nor started by the package"
else
	fail "after install: $(systemctl is-enabled echod), $(show ActiveState)"
fi

if [ "$(systemctl is-enabled echod-crl.timer)" = enabled ] &&
	[ "$(systemctl show -p ActiveState --value echod-crl.timer)" = active ]; then
	pass "echod-crl.timer enabled and started by the package"
else
	fail "echod-crl.timer: $(systemctl is-enabled echod-crl.timer), $(systemctl show -p ActiveState --value echod-crl.timer)"
fi

if systemctl enable --now echod >/tmp/start.log 2>&1 && [ "$(show ActiveState)" = active ] &&
	[ -S /run/echod/admin.sock ]; then
	pass "systemctl enable --now echod: active once READY=1 came, admin socket in /run/echod"
else
	cat /tmp/start.log
	journalctl -u echod --no-pager | tail -n 20
	die "systemctl enable --now echod (journal above)"
fi
status=$(show StatusText)
if [[ "$status" == "running, 0 sessions; last reload ok (startup, "* ]]; then
	pass "STATUS=: $status"
else
	fail "StatusText after start: \"$status\""
fi
pid=$(show MainPID)
sandbox=$(awk '/^(Uid|CapEff|NoNewPrivs|Seccomp):/ {printf "%s%s ", $1, $2}' "/proc/$pid/status")
if [ "$sandbox" = "Uid:$(id -u echod) CapEff:0000000000000000 NoNewPrivs:1 Seccomp:2 " ]; then
	pass "pid $pid runs as echod, no capabilities, no_new_privs, seccomp filter"
else
	fail "pid $pid: $sandbox"
fi

if echoctl status >/tmp/status.out 2>&1; then
	pass "echoctl status (no flags) finds /run/echod/admin.sock"
else
	cat /tmp/status.out
	fail "echoctl status"
fi
pki=/var/lib/echod/pki
if [ "$(printf 'under systemd' | echo-client --quiet --ca $pki/ca.pem \
	--cert $pki/dev-client.pem --key $pki/dev-client.key 2>/tmp/echo.err)" = "under systemd" ]; then
	pass "mTLS echo through 127.0.0.1:7443"
else
	cat /tmp/echo.err
	fail "echo through the service"
fi
# The CRL service: nothing to do on a fresh CRL; a due one (a day left of
# the CA's seven) is re-signed, and echod reloads it by itself.
crlsvc() { systemctl show -p "$1" --value echod-crl.service; }
# (No openssl in this container: the file's hash tells a re-signed CRL.)
crl_hash() { sha256sum $pki/crl.pem | cut -c1-12; }
before=$(crl_hash)
if systemctl start echod-crl.service && [ "$(crlsvc Result)" = success ] &&
	[ "$(crl_hash)" = "$before" ] &&
	journalctl -u echod-crl --no-pager | grep 'not re-signed' >/dev/null; then
	pass "echod-crl.service: a fresh CRL left alone (sha256 $before...)"
else
	journalctl -u echod-crl --no-pager | tail -n 10
	fail "echod-crl.service on a fresh CRL: Result=$(crlsvc Result), sha256 $before -> $(crl_hash)"
fi
runuser -u echod -- env ECHOD_STATE_DIR=/var/lib/echod echo-pki crl --days 1 >/dev/null &&
	sed -i 's/"crl_days":[[:space:]]*1\([^0-9]\)/"crl_days": 7\1/' $pki/index.json
due=$(crl_hash)
cursor=$(journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
if systemctl start echod-crl.service && [ "$(crlsvc Result)" = success ] &&
	[ "$(crl_hash)" != "$due" ]; then
	for _ in $(seq 1 50); do
		journalctl -u echod --no-pager --after-cursor "$cursor" |
			grep 'msg=reloaded trigger=watch' >/dev/null && break
		sleep 0.1
	done
	if journalctl -u echod --no-pager --after-cursor "$cursor" |
		grep 'msg=reloaded trigger=watch' >/dev/null; then
		pass "echod-crl.service re-signed a due CRL (sha256 $due... -> $(crl_hash)...); echod reloaded it"
	else
		journalctl -u echod --no-pager --after-cursor "$cursor" | tail -n 10
		fail "echod did not reload the re-signed CRL (journal above)"
	fi
else
	journalctl -u echod-crl --no-pager | tail -n 10
	fail "echod-crl.service on a due CRL: Result=$(crlsvc Result), sha256 $due -> $(crl_hash)"
fi

if echoctl metrics | grep -qE '^process_start_time_seconds [0-9]'; then
	pass "the process metrics read /proc under the unit's sandbox"
else
	fail "no process_start_time_seconds in echoctl metrics"
fi

# journalctl | grep, not grep -q: grep reads the whole journal (with
# pipefail, a grep -q that quits at its match fails journalctl: SIGPIPE).
if systemctl reload echod >/tmp/reload.log 2>&1; then
	for _ in $(seq 1 50); do
		[[ "$(show StatusText)" == *"last reload ok (signal, "* ]] && break
		sleep 0.1
	done
	if [[ "$(show StatusText)" == *"last reload ok (signal, "* ]] &&
		journalctl -u echod --no-pager | grep 'msg=reloaded trigger=signal' >/dev/null; then
		pass "systemctl reload: SIGHUP reloaded; STATUS=: $(show StatusText)"
	else
		fail "systemctl reload: StatusText \"$(show StatusText)\""
	fi
else
	cat /tmp/reload.log
	journalctl -u echod --no-pager | tail -n 5
	fail "systemctl reload echod"
fi
if [ "$(show NRestarts)" = 0 ] && [ "$(show ActiveState)" = active ]; then
	pass "still active, never restarted (no watchdog or start timeout)"
else
	fail "NRestarts=$(show NRestarts), ActiveState=$(show ActiveState)"
fi

# echoctl upgrade under systemd: the new process takes the sockets, the old
# one announces MAINPID= and drains; systemd follows the new main pid.
old=$(show MainPID)
if echoctl upgrade >/tmp/upgrade.out 2>&1; then
	new=$(sed -n 's/^upgraded: pid \([0-9]*\) serves now.*/\1/p' /tmp/upgrade.out)
	for _ in $(seq 1 50); do
		[ -n "$new" ] && [ "$(show MainPID)" = "$new" ] && break
		sleep 0.1
	done
	for _ in $(seq 1 100); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.1
	done
	echoed=$(printf 'after upgrade' | echo-client --quiet --ca $pki/ca.pem \
		--cert $pki/dev-client.pem --key $pki/dev-client.key 2>/tmp/echo2.err)
	if [ -n "$new" ] && [ "$(show MainPID)" = "$new" ] && [ "$(show ActiveState)" = active ] &&
		[ "$(show NRestarts)" = 0 ] && ! kill -0 "$old" 2>/dev/null &&
		[ "$echoed" = "after upgrade" ] && echoctl status >/dev/null 2>&1; then
		pass "echoctl upgrade: MainPID $old -> $new (MAINPID=), active, echoes; the old one drained and exited"
	else
		cat /tmp/upgrade.out /tmp/echo2.err
		journalctl -u echod --no-pager | tail -n 20
		fail "upgrade: MainPID $(show MainPID) (old $old, new $new), $(show ActiveState)"
	fi
else
	cat /tmp/upgrade.out
	journalctl -u echod --no-pager | tail -n 20
	fail "echoctl upgrade"
fi

# Stop. echod exits last of its processes (it reaps its spawner first):
# systemd (KillMode=mixed) SIGKILLs what is left once the main process
# has exited, and systemd 252 on the legacy cgroup hierarchy can then miss
# the leftover's end and time out. So systemd must have killed nothing.
cursor=$(journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
systemctl stop echod
killed=$(journalctl -u echod --no-pager --after-cursor "$cursor" | grep 'Killing process')
if [ -z "$killed" ]; then
	pass "systemctl stop: nothing of the unit was left for systemd to kill"
else
	fail "systemctl stop: systemd killed a leftover: $killed"
fi
if [ "$(show Result)" = success ] && [ "$(show ExecMainStatus)" = 0 ] && [ ! -e /run/echod ] &&
	journalctl -u echod --no-pager | grep 'msg=draining' >/dev/null; then
	pass "systemctl stop: drained, exit 0, /run/echod removed"
else
	journalctl -u echod --no-pager | tail -n 30
	ps -eo pid,ppid,stat,wchan:20,cmd # what outlived the stop, and whose child it is
	fail "stop: Result=$(show Result) ExecMainStatus=$(show ExecMainStatus) /run/echod $(ls -d /run/echod 2>&1)"
fi

dpkg -P echod >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "dpkg -P echod"; }
left=$(find /etc/systemd /lib/systemd/system /var/lib/systemd -name 'echod*' 2>/dev/null)
if [ -z "$left" ] && [ ! -e /var/lib/echod ] && [ ! -e /etc/echod ]; then
	pass "dpkg -P: units, enablement, /etc/echod and /var/lib/echod gone"
else
	fail "dpkg -P left: $left $(ls -d /var/lib/echod /etc/echod 2>/dev/null)"
fi

[ $failures = 0 ] || { echo "systemd test: $failures check(s) failed"; exit 1; }
echo "systemd test: all checks passed"
