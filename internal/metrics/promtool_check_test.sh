#!/usr/bin/env bash
# `promtool check metrics` on a full rendering must report nothing at all
# (no errors, no lint warnings).
set -euo pipefail
sample="$TEST_SRCDIR/echod/internal/metrics/render_sample"
command -v promtool >/dev/null || { echo "promtool not installed (run tools/setup)"; exit 1; }
out="${TEST_TMPDIR:-/tmp}/sample.prom"
"$sample" >"$out"
rc=0
report=$(promtool check metrics <"$out" 2>&1) || rc=$?
echo "promtool check metrics: rc=$rc"
[ -z "$report" ] || { echo "$report"; exit 1; }
[ "$rc" -eq 0 ]
grep -q '^echod_build_info{version="sample",boringssl="api-' "$out"
echo "$(grep -c '^# TYPE' "$out") families, $(grep -vc '^#' "$out") samples"
