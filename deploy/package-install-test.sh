#!/usr/bin/env bash
# deploy/package-install-test.sh DEB — install the package in a fresh Debian 12
# (container, as root) and use it the way an operator would:
#
#   apt-get install ./echod_*.deb; the echod system user and its 0700 state
#   directory; echod run as user echod (setpriv) with the unit's own command line
#   (the unit's RuntimeDirectory made as systemd would); `echoctl status`
#   with no flags finds /run/echod/admin.sock; an mTLS echo with the dev
#   client certificate; echo-bench; SIGTERM drains and exits 0; `man -l`
#   renders every page; bash completion loads (`complete -p`) and
#   completes; `dpkg -r` removes the programs and keeps the configuration
#   and state; `dpkg -P` leaves no file behind (compared with a listing
#   taken before the install), and keeps the echod user and group (the
#   policy in docs/deploy.md).
#
# deploy/container-test.sh runs it with the package's dependencies, man-db
# and bash-completion already installed (so no network is needed here and
# the listing is about echod alone). Prints PASS/FAIL lines; exit 1 on any
# failure.
set -uo pipefail

deb=${1:?usage: package-install-test.sh DEB}
failures=0
pass() { printf 'PASS package: %s\n' "$*"; }
fail() { printf 'FAIL package: %s\n' "$*"; failures=$((failures + 1)); }
die() { fail "$*"; exit 1; }
tools=(echod echo-client echoctl echo-pki echo-bench)
export DEBIAN_FRONTEND=noninteractive

# Every path outside the kernel's trees, dpkg's and apt's own records,
# caches and logs, and scratch space.
snapshot() {
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
		-o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \
		-o -path /var/log -o -path /root -o -path /var/tmp \) -prune -o -print |
		LC_ALL=C sort
}
snapshot >/tmp/before

# --- install -----------------------------------------------------------------------
cp "$deb" /tmp/ && cd /tmp || die "cannot copy $deb"
if apt-get install -y -q --no-install-recommends "./$(basename "$deb")" >/tmp/apt.log 2>&1 &&
	[ "$(dpkg-query -W -f='${Status}' echod)" = "install ok installed" ]; then
	pass "apt-get install ./$(basename "$deb")"
else
	tail -n 20 /tmp/apt.log
	die "apt-get install ./$(basename "$deb") (log above)"
fi
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd echod)
if [ -n "${uid:-}" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/echod ] &&
	[ "$shell" = /usr/sbin/nologin ] && [ "$(getent group echod | cut -d: -f3)" = "$gid" ]; then
	pass "system user echod (uid $uid, group echod, home /var/lib/echod, no login)"
else
	fail "echod user: $(getent passwd echod) / group: $(getent group echod)"
fi
if [ "$(stat -c '%U:%G %a' /var/lib/echod)" = "echod:echod 700" ]; then
	pass "/var/lib/echod is echod's, mode 0700"
else
	fail "/var/lib/echod: $(stat -c '%U:%G %a' /var/lib/echod 2>&1)"
fi
version=$(echod --version | head -n 1 | awk '{print $2}')
case "$(basename "$deb")" in
echod_"$version"_*.deb) pass "echod --version ($version) names the package" ;;
*) fail "echod --version says $version; the package is $(basename "$deb")" ;;
esac
ok=1
for t in "${tools[@]}"; do
	[ "$(command -v "$t")" = "/usr/bin/$t" ] && "$t" --help >/dev/null 2>&1 || ok=0
done
if [ $ok = 1 ]; then
	pass "the five tools in /usr/bin answer --help: ${tools[*]}"
else
	fail "a tool is missing from /usr/bin or fails --help"
fi

# --- run echod as the unit would ---------------------------------------------------
unit=/lib/systemd/system/echod.service
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
read -r -a argv <<<"$execstart"
install -d -m 0700 -o echod -g echod /run/echod # RuntimeDirectory=echod
# setpriv switches user and group and execs, as systemd's User=/Group= do
# (runuser would keep a root parent around for a PAM session).
setpriv --reuid=echod --regid=echod --init-groups -- "${argv[@]}" \
	>/tmp/echod.out 2>/tmp/echod.log &
pid=$!
for _ in $(seq 1 100); do
	[ -S /run/echod/admin.sock ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
if [ -S /run/echod/admin.sock ] && [ "$(stat -c %U "/proc/$pid")" = echod ]; then
	pass "echod runs as echod with the unit's command line: $execstart"
else
	cat /tmp/echod.log
	die "echod did not start as the unit would run it (log above)"
fi
if echoctl status >/tmp/status.out 2>&1 && echoctl --json status | grep -q '"ok":true'; then
	pass "echoctl status (no flags, as root) finds /run/echod/admin.sock"
else
	cat /tmp/status.out
	fail "echoctl status with no flags"
fi
pki=/var/lib/echod/pki
if printf 'packaged echo' | echo-client --quiet --connect 127.0.0.1:7443 --ca $pki/ca.pem \
	--cert $pki/dev-client.pem --key $pki/dev-client.key >/tmp/echo.out 2>/tmp/echo.err &&
	[ "$(cat /tmp/echo.out)" = "packaged echo" ]; then
	pass "echo-client: mTLS echo with the dev client certificate the first start made"
else
	cat /tmp/echo.err
	fail "echo-client through 127.0.0.1:7443 (got \"$(cat /tmp/echo.out)\")"
fi
if echo-bench echo --connect 127.0.0.1:7443 --ca $pki/ca.pem --cert $pki/dev-client.pem \
	--key $pki/dev-client.key -c 2 -n 50 -d 0 >/tmp/bench.out 2>&1; then
	pass "echo-bench echo: 50 operations"
else
	tail -n 5 /tmp/bench.out
	fail "echo-bench echo"
fi
kill -TERM $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if ! kill -0 $pid 2>/dev/null && wait $pid; then
	pass "SIGTERM: echod drained and exited 0"
else
	kill -KILL $pid 2>/dev/null
	fail "echod did not exit 0 within 10 s of SIGTERM"
fi
rm -rf /run/echod # systemd removes the RuntimeDirectory when the unit stops

# --- manual pages and completion -----------------------------------------------------
for t in "${tools[@]}"; do
	page=/usr/share/man/man1/$t.1.gz
	if MANWIDTH=80 man --warnings -l "$page" >/tmp/man.out 2>/tmp/man.err && [ ! -s /tmp/man.err ] &&
		grep -qE "^ +$t - " /tmp/man.out && [ "$(man -w "$t")" = "$page" ]; then
		pass "man -l $page renders; \`man $t\` finds it"
	else
		cat /tmp/man.err
		fail "man page of $t"
	fi
done
got=$(bash --norc --noprofile -c '
	source /usr/share/bash-completion/bash_completion
	for t in echoctl echo-pki; do _completion_loader "$t"; complete -p "$t"; done
	COMP_WORDS=(echoctl rel); COMP_CWORD=1; COMP_LINE="echoctl rel"
	COMP_POINT=${#COMP_LINE}; _echoctl; echo "${COMPREPLY[*]}"' 2>&1)
want="complete -F _echoctl echoctl
complete -F _echo_pki echo-pki
reload"
if [ "$got" = "$want" ]; then
	pass "bash completion loads for echoctl and echo-pki and completes"
else
	printf '%s\n' "$got"
	fail "bash completion (got the above)"
fi

# --- remove, then purge ----------------------------------------------------------------
if dpkg -r echod >/tmp/remove.log 2>&1 &&
	[ "$(dpkg-query -W -f='${Status}' echod)" = "deinstall ok config-files" ]; then
	left=()
	for f in "${tools[@]/#//usr/bin/}" /lib/systemd/system/echod.service \
		/usr/share/man/man1/echod.1.gz /usr/share/bash-completion/completions/echoctl; do
		[ -e "$f" ] && left+=("$f")
	done
	if [ ${#left[@]} = 0 ] && [ -f /etc/echod/config.json ] && [ -d /var/lib/echod/pki ]; then
		pass "dpkg -r: programs gone; /etc/echod and /var/lib/echod kept"
	else
		fail "dpkg -r: left ${left[*]:-nothing}; config $(ls /etc/echod 2>&1 | tr '\n' ' ')"
	fi
else
	cat /tmp/remove.log
	fail "dpkg -r echod"
fi
if dpkg -P echod >/tmp/purge.log 2>&1 && ! dpkg-query -W echod >/dev/null 2>&1; then
	snapshot >/tmp/after
	# Allowed: the account files' backups and adduser's lock file, which
	# making the (kept) user leaves.
	added=$(comm -13 /tmp/before /tmp/after |
		grep -vxE '/etc/(passwd|group|shadow|gshadow)-|/run/adduser')
	removed=$(comm -23 /tmp/before /tmp/after)
	if [ -z "$added" ] && [ -z "$removed" ]; then
		pass "dpkg -P: no file left behind (every path as before the install)"
	else
		fail "dpkg -P: left behind: ${added:-none}; removed: ${removed:-none}"
	fi
	if getent passwd echod >/dev/null && getent group echod >/dev/null; then
		pass "dpkg -P: the echod user and group stay (docs/deploy.md: remove and purge)"
	else
		fail "dpkg -P: the echod user or group was removed"
	fi
else
	cat /tmp/purge.log
	fail "dpkg -P echod"
fi

[ $failures = 0 ] || { echo "package test: $failures check(s) failed"; exit 1; }
echo "package test: all checks passed"
