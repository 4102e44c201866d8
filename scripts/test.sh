#!/bin/bash
# test.sh — go vet + go test over the whole module, then a short summary. Called by `make test`
# (after scripts/deps.sh and the fixture build). Extra arguments go to `go test`; TEST_PKGS (default
# ./...) and TEST_TIMEOUT (default 20m) narrow or stretch the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
TIMEOUT=${TEST_TIMEOUT:-20m}
# deps.sh installs postgresql: the logbook's PostgreSQL tests must run, not skip.
export CHAOS_REQUIRE_POSTGRES=${CHAOS_REQUIRE_POSTGRES:-1}
read -ra PKGS <<<"${TEST_PKGS:-./...}"
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== go vet ${PKGS[*]}"
go vet "${PKGS[@]}"
vet=$?

echo "== go test -count=1 -timeout $TIMEOUT $* ${PKGS[*]}"
go test -count=1 -timeout "$TIMEOUT" "$@" "${PKGS[@]}" 2>&1 | tee "$log"
test=${PIPESTATUS[0]}

echo
echo "== summary ($((SECONDS - start)) s)"
echo "go vet:                 $([[ $vet == 0 ]] && echo ok || echo "FAILED (exit $vet)")"
echo "packages ok:            $(grep -c '^ok ' "$log")"
echo "packages without tests: $(grep -c '^? ' "$log")"
echo "packages failed:        $(grep -cE '^FAIL[[:space:]]+[^[:space:]]' "$log")"
grep -E '^FAIL[[:space:]]+[^[:space:]]|^[[:space:]]*--- FAIL' "$log" | sed 's/^[[:space:]]*/  /'
if grep -q ' /tmp/chaos-testenv-' /proc/self/mountinfo; then
    echo "WARNING: test root mounts left under /tmp/chaos-testenv-* (the next test run sweeps them)"
fi
if [[ $vet == 0 && $test == 0 ]]; then
    echo "RESULT: PASS"
    exit 0
fi
echo "RESULT: FAIL"
exit 1
