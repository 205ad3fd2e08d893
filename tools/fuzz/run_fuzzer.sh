#!/usr/bin/env bash
# Builds one libFuzzer target with clang (ASan + UBSan + LeakSanitizer),
# outside Bazel's gcc toolchain, and fuzzes it for a bounded time over a
# committed corpus. Fails on any crash, leak, timeout or sanitizer report.
# Used as the script of each parser's fuzz_test (sh_test args):
#
#   run_fuzzer.sh NAME CORPUS DICT MAX_LEN SOURCE.c... [-- LDFLAGS...]
#
# Paths are workspace-relative (files in the test's runfiles). CORPUS is a
# committed directory of seeds, or a Python script that writes the seeds
# into the directory it is given (for seeds that are generated keys or
# certificates, which are never committed); such a script gets a second
# directory too, for files the target reads at start (a CA bundle the
# seeds chain to), which the target finds in $ECHOD_FUZZ_FIXTURE.
#   ECHOD_FUZZ_SECONDS   how long to fuzz (default 60)
# Crashing inputs land in $TEST_UNDECLARED_OUTPUTS_DIR (test.outputs).
set -euo pipefail

[ $# -ge 5 ] || { echo "usage: $0 NAME CORPUS DICT MAX_LEN SRC... [-- LDFLAGS]" >&2; exit 2; }
name=$1 corpus=$2 dict=$3 max_len=$4
shift 4
srcs=() ldflags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do srcs+=("$1"); shift; done
[ $# -gt 0 ] && shift && ldflags=("$@")

seconds=${ECHOD_FUZZ_SECONDS:-60}
root=${TEST_SRCDIR:?run me with bazel test}/echod
tmp=${TEST_TMPDIR:-$(mktemp -d)}/fuzz-$name
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
mkdir -p "$tmp/work"

cc=$(command -v clang || command -v clang-14 || true)
[ -n "$cc" ] || { echo "fuzz_test: clang not installed (run tools/setup)" >&2; exit 1; }

bin=$tmp/$name
"$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -I"$root" "${srcs[@]/#/$root/}" \
	"${ldflags[@]}" -o "$bin"

# libFuzzer writes new inputs to the first directory; the seeds (the
# committed corpus in read-only runfiles, or what the seed script wrote)
# are the second.
seeds=$root/$corpus
case "$corpus" in
*.py)
	seeds=$tmp/seeds
	export ECHOD_FUZZ_FIXTURE=$tmp/fixture
	mkdir -p "$seeds" "$ECHOD_FUZZ_FIXTURE"
	python3 "$root/$corpus" "$seeds" "$ECHOD_FUZZ_FIXTURE" ||
		{ echo "fuzz_test: $name: the seed script $corpus failed" >&2; exit 1; }
	;;
esac
status=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$bin" "$tmp/work" "$seeds" -dict="$root/$dict" \
	-max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
	-rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$out/" \
	>"$tmp/fuzz.log" 2>&1 || status=$?
grep -v '^"' "$tmp/fuzz.log" | tail -n 40
if [ "$status" != 0 ] ||
	grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" "$tmp/fuzz.log"; then
	if [ -n "${ECHOD_FUZZ_FIXTURE:-}" ]; then
		# The input means something only with this run's fixture (keys
		# are minted afresh each run): keep it next to the input.
		cp -r "$ECHOD_FUZZ_FIXTURE" "$out/fixture" || true
		echo "fuzz_test: $name: the run's fixture is in $out/fixture (ECHOD_FUZZ_FIXTURE=... $bin INPUT)" >&2
	fi
	echo "fuzz_test: $name: the fuzzer found a problem (exit $status); input saved under $out" >&2
	exit 1
fi
echo "fuzz_test: $name: ok, ${seconds}s without a crash or leak"
