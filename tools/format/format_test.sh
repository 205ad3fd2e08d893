#!/usr/bin/env bash
# Checks every tracked and new .c/.h file against the repo's .clang-format.
set -euo pipefail
ws=$(dirname "$(readlink -f "$TEST_SRCDIR/echod/WORKSPACE")")
cd "$ws"
[ -f .clang-format ] || { echo "format_test: no .clang-format in $ws"; exit 1; }
command -v clang-format >/dev/null || { echo "format_test: clang-format not installed (run tools/setup)"; exit 1; }
files=$(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
	find . -path ./third_party -prune -o \( -name '*.c' -o -name '*.h' \) -print)
bad=0
n=0
for f in $files; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f   (fix: clang-format -i $f)"
		bad=$((bad + 1))
	fi
done
echo "format_test: $n files checked, $bad not formatted"
[ "$bad" -eq 0 ]
