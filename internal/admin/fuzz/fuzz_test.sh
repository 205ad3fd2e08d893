#!/usr/bin/env bash
# Builds the admin parser's libFuzzer target with clang (ASan + UBSan +
# LeakSanitizer) and fuzzes it for a bounded time over the committed
# corpus. Fails on any crash, leak, timeout or sanitizer report.
#   ECHOD_FUZZ_SECONDS   how long to fuzz (default 60)
# Crash inputs land in $TEST_UNDECLARED_OUTPUTS_DIR (bazel-testlogs/...).
set -euo pipefail

seconds=${ECHOD_FUZZ_SECONDS:-60}
root=${TEST_SRCDIR:?run me with bazel test}/echod
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}

command -v clang >/dev/null || { echo "fuzz_test: clang not found (run tools/setup)" >&2; exit 1; }

bin=$tmp/parse_fuzz
clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -I"$root" \
	"$root/internal/admin/fuzz/parse_fuzz.c" \
	"$root/internal/admin/proto.c" \
	"$root/internal/base/base.c" \
	"$root/internal/stats/stats.c" \
	-lcjson -lm -lpthread -o "$bin"

# libFuzzer writes new inputs to the first directory; the committed corpus
# (read-only runfiles) is the second.
mkdir -p "$tmp/work"
status=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$bin" "$tmp/work" "$root/internal/admin/fuzz/corpus" \
	-dict="$root/internal/admin/fuzz/admin.dict" \
	-max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
	-print_final_stats=1 -artifact_prefix="$out/" >"$tmp/fuzz.log" 2>&1 ||
	status=$?
tail -n 40 "$tmp/fuzz.log"
if [ "$status" != 0 ] || grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" "$tmp/fuzz.log"; then
	echo "fuzz_test: the fuzzer found a problem (exit $status); input saved under $out" >&2
	exit 1
fi
echo "fuzz_test: ok, ${seconds}s without a crash or leak"
