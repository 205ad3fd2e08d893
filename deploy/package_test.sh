#!/usr/bin/env bash
# deploy/package_test.sh — tools/package builds a .deb that is what
# docs/deploy.md says, from the binaries Bazel built for this test:
#   1. tools/package --bin-dir succeeds; the name carries `echod --version`;
#      the same binaries give the same bytes twice (SOURCE_DATE_EPOCH).
#   2. Exactly the expected files, conffiles, maintainer scripts and
#      dependencies (libuv1, libcjson1, adduser, procps).
#   3. lintian: no error, and the warnings are exactly those docs/deploy.md
#      lists and justifies (its "lintian" table).
#   4. Each man page renders with `man -l` without a warning, is named for
#      its tool and carries every --flag of that tool's --help.
#   5. The bash completions load (`complete -p`) and complete commands,
#      options and values.
#   6. /etc/echod/config.json is accepted and gives the unit's paths; the
#      commented example, comments stripped, is accepted too and explains
#      every key echod has (--print-config's keys).
#   7. A changelog that lags `echod --version` stops the build.
# The install itself (apt-get, the echod user, purge) is tested in a fresh
# Debian container: deploy/package-install-test.sh, run by deploy/container-test.sh.
set -euo pipefail

srcdir=${TEST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)/..}
ws=$srcdir/echod
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

# Packages are made from -c opt binaries; sanitizer builds are many times
# larger (xz alone takes minutes) and never packaged.
if grep -qaE '__asan_init|__tsan_init' "$ws/cmd/server"; then
	echo "SKIP sanitizer build: //deploy:package_test runs in the plain \`bazel test\`"
	exit 0
fi

for c in dpkg-deb help2man lintian man; do
	command -v "$c" >/dev/null || { echo "FAIL $c is not installed (run tools/setup)"; exit 1; }
done

# tools/package reads the tree around it: a scratch copy of the parts it
# uses, with BoringSSL's LICENSE where tools/setup would have put it.
top=$tmp/top
mkdir -p "$top/tools" "$top/deploy" "$top/third_party/boringssl/src"
cp "$ws/tools/package" "$top/tools/"
cp -r "$ws/deploy/debian" "$ws/deploy/systemd" "$top/deploy/"
cp "$ws/third_party/boringssl/VERSION" "$top/third_party/boringssl/"
cp "$srcdir/boringssl/LICENSE" "$top/third_party/boringssl/src/"

# --- 1. build ----------------------------------------------------------------------
version=$("$ws/cmd/server" --version | head -n 1 | awk '{print $2}')
arch=$(dpkg --print-architecture)
if deb=$("$top/tools/package" --bin-dir "$ws" --out "$tmp/out" 2>"$tmp/build.err") &&
	[ "$deb" = "$tmp/out/echod_${version}_${arch}.deb" ] && [ -f "$deb" ]; then
	pass "tools/package built $(basename "$deb")"
else
	cat "$tmp/build.err"
	echo "FAIL tools/package (stderr above; printed \"${deb:-}\")"
	exit 1
fi
deb2=$("$top/tools/package" --bin-dir "$ws" --out "$tmp/out2" 2>/dev/null)
if cmp -s "$deb" "$deb2"; then
	pass "the same binaries give the same package, byte for byte"
else
	fail "two builds from the same binaries differ"
fi

# --- 2. contents ----------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sed 's|\./||' | sort >"$tmp/contents"
cat >"$tmp/want" <<'EOF'
-rw-r--r-- root/root etc/echod/config.example.jsonc
-rw-r--r-- root/root etc/echod/config.json
-rw-r--r-- root/root lib/systemd/system/echod-crl.service
-rw-r--r-- root/root lib/systemd/system/echod-crl.timer
-rw-r--r-- root/root lib/systemd/system/echod.service
-rw-r--r-- root/root lib/systemd/system/echod.socket
-rw-r--r-- root/root usr/share/bash-completion/completions/echo-pki
-rw-r--r-- root/root usr/share/bash-completion/completions/echoctl
-rw-r--r-- root/root usr/share/doc/echod/changelog.gz
-rw-r--r-- root/root usr/share/doc/echod/copyright
-rw-r--r-- root/root usr/share/man/man1/echo-bench.1.gz
-rw-r--r-- root/root usr/share/man/man1/echo-client.1.gz
-rw-r--r-- root/root usr/share/man/man1/echo-pki.1.gz
-rw-r--r-- root/root usr/share/man/man1/echoctl.1.gz
-rw-r--r-- root/root usr/share/man/man1/echod.1.gz
-rwxr-xr-x root/root usr/bin/echo-bench
-rwxr-xr-x root/root usr/bin/echo-client
-rwxr-xr-x root/root usr/bin/echo-pki
-rwxr-xr-x root/root usr/bin/echoctl
-rwxr-xr-x root/root usr/bin/echod
EOF
grep -v '^d' "$tmp/contents" | sort >"$tmp/files"
sort -o "$tmp/want" "$tmp/want"
if diff -u "$tmp/want" "$tmp/files"; then
	pass "contents: the five tools, four units, /etc/echod, man pages, completions, docs"
else
	fail "contents differ from the list above (diff: - expected, + found)"
fi
dpkg-deb -x "$deb" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/ctl"
if [ "$(cat "$tmp/ctl/conffiles")" = "$(printf '/etc/echod/config.json\n/etc/echod/config.example.jsonc')" ] &&
	[ -x "$tmp/ctl/postinst" ] && [ -x "$tmp/ctl/prerm" ] && [ -x "$tmp/ctl/postrm" ]; then
	pass "conffiles and maintainer scripts"
else
	fail "conffiles ($(tr '\n' ' ' <"$tmp/ctl/conffiles")) or maintainer scripts"
fi
depends=$(dpkg-deb -f "$deb" Depends)
# adduser for the postinst, procps for the unit's ExecReload=/bin/kill.
if [[ "$depends" == *"libuv1 ("* && "$depends" == *"libcjson1 ("* &&
	"$depends" == *adduser* && "$depends" == *procps* ]]; then
	pass "Depends: $depends"
else
	fail "Depends lacks libuv1, libcjson1, adduser or procps: $depends"
fi
for name in echod echo-client echoctl echo-pki echo-bench; do
	if ! "$tmp/root/usr/bin/$name" --help >/dev/null 2>&1; then
		fail "$name --help from the package"
	fi
done

# --- 3. lintian ----------------------------------------------------------------------------
lintian --fail-on none --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1 || true
{ grep -E '^[EW]: ' "$tmp/lintian" || true; } |
	sed -E 's/^([EW]): echod: ([a-z0-9-]+).*/\1 \2/' | sort -u >"$tmp/lintian.got"
# docs/deploy.md: rows "| W | tag | why |" between the lintian markers.
sed -n '/<!-- lintian warnings -->/,/<!-- end lintian warnings -->/p' \
	"$ws/docs/deploy.md" | sed -nE 's/^\| *([EW]) *\| *`?([a-z0-9-]+)`? *\|.*/\1 \2/p' |
	sort -u >"$tmp/lintian.doc"
if grep -q '^E ' "$tmp/lintian.got"; then
	cat "$tmp/lintian"
	fail "lintian reports errors (above)"
elif diff -u "$tmp/lintian.doc" "$tmp/lintian.got" >"$tmp/lintian.diff"; then
	pass "lintian: no errors; warnings as docs/deploy.md lists them ($(wc -l <"$tmp/lintian.got"))"
else
	cat "$tmp/lintian" "$tmp/lintian.diff"
	fail "lintian warnings differ from docs/deploy.md's list (- documented, + reported)"
fi

# --- 4. man pages ----------------------------------------------------------------------
for name in echod echo-client echoctl echo-pki echo-bench; do
	page=$tmp/root/usr/share/man/man1/$name.1.gz
	if ! MANWIDTH=100 man --warnings -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" ||
		[ -s "$tmp/man.err" ]; then
		cat "$tmp/man.err"
		fail "man -l $name.1.gz"
		continue
	fi
	missing=()
	for flag in $("$tmp/root/usr/bin/$name" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
		grep -qF -- "$flag" "$tmp/man.txt" || missing+=("$flag")
	done
	if [ "$name" = echo-pki ]; then
		# echo-pki's options are per command: each command its --help
		# lists needs its own section with every flag of `COMMAND --help`.
		for c in $("$tmp/root/usr/bin/echo-pki" --help |
			sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
			grep -qE "^   $c\$" "$tmp/man.txt" || missing+=("section $c")
			for flag in $("$tmp/root/usr/bin/echo-pki" "$c" --help |
				grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
				grep -qF -- "$flag" "$tmp/man.txt" || missing+=("$c $flag")
			done
		done
	fi
	if ! grep -qE "^ +$name - " "$tmp/man.txt"; then
		fail "$name.1: no NAME line \"$name - ...\""
	elif [ ${#missing[@]} -gt 0 ]; then
		fail "$name.1 lacks ${missing[*]} from $name --help"
	else
		pass "man -l $name.1.gz renders cleanly, with every flag of $name --help"
	fi
done

# --- 5. bash completion ---------------------------------------------------------------------
if [ ! -f /usr/share/bash-completion/bash_completion ]; then
	fail "bash-completion is not installed (tools/setup installs it)"
else
	comp=$tmp/root/usr/share/bash-completion/completions
	got=$(ECHOD_STATE_DIR=$tmp/state bash --norc --noprofile -c '
		source /usr/share/bash-completion/bash_completion
		source "$1/echoctl"; source "$1/echo-pki"
		complete -p echoctl echo-pki
		c() { local f=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); $f
			echo "$* => ${COMPREPLY[*]}"; }
		c _echoctl echoctl ses
		c _echoctl echoctl sessions --state e
		c _echoctl echoctl log-level w
		c _echo_pki echo-pki issue c
		c _echo_pki echo-pki init --key-type ed' _ "$comp" 2>&1)
	want="complete -F _echoctl echoctl
complete -F _echo_pki echo-pki
echoctl ses => sessions session
echoctl sessions --state e => established
echoctl log-level w => warn
echo-pki issue c => client
echo-pki init --key-type ed => ed25519"
	if [ "$got" = "$want" ]; then
		pass "bash completion: echoctl and echo-pki load and complete"
	else
		diff <(echo "$want") <(echo "$got") || true
		fail "bash completion (diff: - expected, + got)"
	fi
fi

# --- 6. configuration -------------------------------------------------------------------------
etc=$tmp/root/etc/echod
if env -i HOME=/nonexistent "$ws/cmd/server" --config "$etc/config.json" --print-config \
	>"$tmp/config.out" 2>"$tmp/config.err" && python3 - "$tmp/config.out" <<'EOF'; then
import json, sys
c = json.load(open(sys.argv[1]))
want = {"state_dir": "/var/lib/echod", "admin_socket": "/run/echod/admin.sock",
        "listen": ["127.0.0.1:7443"], "metrics_listen": "127.0.0.1:9870"}
bad = {k: c.get(k) for k, v in want.items() if c.get(k) != v}
if bad:
    sys.exit("config.json gives %r" % bad)
EOF
	pass "/etc/echod/config.json: accepted; state /var/lib/echod, admin socket /run/echod"
else
	cat "$tmp/config.err"
	fail "/etc/echod/config.json"
fi
grep -vE '^[[:space:]]*//' "$etc/config.example.jsonc" >"$tmp/example.json"
if env -i HOME=/nonexistent "$ws/cmd/server" --config "$tmp/example.json" --print-config \
	>"$tmp/example.out" 2>"$tmp/example.err" && python3 - "$tmp/example.json" "$tmp/example.out" \
	"$etc/config.example.jsonc" <<'EOF'; then
import json, re, sys
example = json.load(open(sys.argv[1]))
effective = json.load(open(sys.argv[2]))
text = open(sys.argv[3]).read()
missing = sorted(set(effective) - set(example))
unexplained = [k for k in example
               if not re.search(r'//[^\n]*\n([ \t]*//[^\n]*\n)*'
                                r'([ \t]*"[a-z_]+": [^\n]*\n)*[ \t]*"%s":' % k, text)]
if missing or unexplained:
    sys.exit("not in the example: %s; keys with no comment above: %s" % (missing, unexplained))
EOF
	pass "config.example.jsonc: loads without its comments, covers and explains every key"
else
	cat "$tmp/example.err"
	fail "config.example.jsonc (above)"
fi

# --- 7. a changelog behind the version --------------------------------------------------------------
sed -i '1s/(.*)/(0.0.1)/' "$top/deploy/debian/changelog"
if "$top/tools/package" --bin-dir "$ws" --out "$tmp/out3" >/dev/null 2>"$tmp/lag.err"; then
	fail "tools/package built with a changelog at 0.0.1 and echod at $version"
elif grep -q "changelog's top entry is 0.0.1" "$tmp/lag.err"; then
	pass "a changelog behind \`echod --version\` stops the build: $(cat "$tmp/lag.err")"
else
	cat "$tmp/lag.err"
	fail "tools/package with a lagging changelog failed without saying why"
fi

[ $failures = 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
