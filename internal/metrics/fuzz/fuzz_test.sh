#!/usr/bin/env bash
# Builds the HTTP request parser with clang + libFuzzer (ASan + UBSan),
# outside Bazel's gcc toolchain, and fuzzes it for a bounded time over the
# committed corpus. Fails on any crash, sanitizer report or leak.
#   ECHOD_FUZZ_SECONDS  run time (default 60)
set -euo pipefail

src="$TEST_SRCDIR/echod"
work="${TEST_TMPDIR:-$(mktemp -d)}/fuzz"
seconds="${ECHOD_FUZZ_SECONDS:-60}"
mkdir -p "$work/corpus" "$work/artifacts"

cc=$(command -v clang || command -v clang-14 || true)
[ -n "$cc" ] || { echo "fuzz_test: clang not installed (run tools/setup)"; exit 1; }

"$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -I "$src" \
	"$src/internal/metrics/http.c" "$src/internal/metrics/fuzz/fuzz_http.c" \
	-o "$work/fuzz_http"

# New inputs go to the first corpus directory (a temp copy); the committed
# corpus is only read.
status=0
"$work/fuzz_http" -max_total_time="$seconds" -max_len=9000 -timeout=10 \
	-rss_limit_mb=1024 -print_final_stats=1 \
	-dict="$src/internal/metrics/fuzz/http.dict" \
	-artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$src/internal/metrics/fuzz/corpus" >"$work/fuzz.log" 2>&1 || status=$?
grep -v '^"' "$work/fuzz.log" | tail -40
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	echo "fuzz_test: FAILED (status $status); crashing inputs:"
	ls -l "$work/artifacts"
	exit 1
fi
echo "fuzz_test: ok, ${seconds}s without a crash"
