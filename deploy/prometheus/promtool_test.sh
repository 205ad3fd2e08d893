#!/usr/bin/env bash
# Checks the Prometheus config and alert rules, and runs the alert unit
# tests (alerts_test.yml) with Debian's promtool.
set -euo pipefail
dir="$TEST_SRCDIR/echod/deploy/prometheus"
promtool=$(command -v promtool || true)
[ -n "$promtool" ] || { echo "promtool_test: promtool not installed (run tools/setup)"; exit 1; }
# promtool resolves rule_files relative to the file, and runfiles are
# symlinks: work on a private copy.
work="${TEST_TMPDIR:-$(mktemp -d)}/prom"
mkdir -p "$work"
cp "$dir/prometheus.yml" "$dir/alerts.yml" "$dir/alerts_test.yml" "$work/"
cd "$work"
"$promtool" check config prometheus.yml
"$promtool" check rules alerts.yml
"$promtool" test rules alerts_test.yml
# Every alert the deploy files promise is there and unit-tested.
for a in EchodDown EchodServerCertExpiringSoon EchodCAExpiringSoon \
	EchodLastReloadFailed EchodCRLOutdated EchodHandshakeErrorRatioHigh; do
	grep -q "alert: $a\$" alerts.yml || { echo "missing alert $a"; exit 1; }
	grep -q "alertname: $a\$" alerts_test.yml || { echo "alert $a has no test"; exit 1; }
done
echo "promtool_test: ok"
