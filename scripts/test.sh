#!/bin/bash
# test.sh — go vet + go test over the whole module (and the deploy/helmtest module), then a summary: tests run, failed and skipped per
# package (scripts/testsummary reads `go test -json`). Called by `make test` (after scripts/deps.sh
# and the fixture build). Extra arguments go to `go test`; TEST_PKGS (default ./...) and TEST_TIMEOUT
# (default 20m) narrow or stretch the run.
#
# It fails when a test fails, and also when a test skipped without an entry in scripts/skips.allow:
# CHAOS_REQUIRE_ALL=1 turns every "tool missing" skip (internal/testenv.Missing) into a failure, and
# the summary catches any other skip. docs/testing.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
TIMEOUT=${TEST_TIMEOUT:-20m}
# deps.sh installs every tool the tests use: a test must run, not skip because one is missing.
export CHAOS_REQUIRE_ALL=${CHAOS_REQUIRE_ALL:-1}
read -ra PKGS <<<"${TEST_PKGS:-./...}"
start=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== go vet ${PKGS[*]}"
go vet "${PKGS[@]}"
vet=$?

if ! go build -o "$tmp/testsummary" ./scripts/testsummary; then
    echo "RESULT: FAIL (scripts/testsummary does not build)"
    exit 1
fi
# deploy/helmtest is a module of its own (the Helm SDK and k8s.io/api stay out of chaos's module):
# a whole run (TEST_PKGS unset or ./..., as make test sets it) includes it. It compiles for minutes,
# so it runs beside the main module's tests; its summary is printed after theirs.
helm=0
if [[ ${TEST_PKGS:-./...} == ./... ]]; then
    helm=1
    ( cd deploy/helmtest && { go vet ./... >"$tmp/helm-vet.log" 2>&1; echo $? >"$tmp/helm-vet.rc"; }
        go test -json -count=1 -timeout "$TIMEOUT" "$@" ./... >"$tmp/helm.json" 2>&1 ) &
    helmpid=$!
fi
echo "== go test -json -count=1 -timeout $TIMEOUT $* ${PKGS[*]} (CHAOS_REQUIRE_ALL=$CHAOS_REQUIRE_ALL)"
# The packages still run in parallel (go test -p); testsummary prints what plain go test would,
# plus the reason of each skip, and the per-package counts at the end.
go test -json -count=1 -timeout "$TIMEOUT" "$@" "${PKGS[@]}" 2>&1 | "$tmp/testsummary" -allow scripts/skips.allow
codes=("${PIPESTATUS[@]}")
test=${codes[0]} summary=${codes[1]}

if ((helm)); then
    wait "$helmpid"
    helmtest=$?
    echo "== deploy/helmtest (its own module): go vet, go test -json"
    cat "$tmp/helm-vet.log"
    [[ $(cat "$tmp/helm-vet.rc" 2>/dev/null) == 0 ]] || vet=1
    "$tmp/testsummary" -allow scripts/skips.allow <"$tmp/helm.json"
    summary_helm=$?
    ((helmtest == 0)) || test=$helmtest
    ((summary_helm == 0)) || summary=$summary_helm
fi

echo
echo "== $((SECONDS - start)) s"
echo "go vet:      $([[ $vet == 0 ]] && echo ok || echo "FAILED (exit $vet)")"
echo "go test:     $([[ $test == 0 ]] && echo ok || echo "FAILED (exit $test)")"
echo "testsummary: $([[ $summary == 0 ]] && echo ok || echo "FAILED (exit $summary: failures or unexpected skips above)")"
if grep -q ' /tmp/chaos-testenv-' /proc/self/mountinfo; then
    echo "WARNING: test root mounts left under /tmp/chaos-testenv-* (the next test run sweeps them)"
fi
if [[ $vet == 0 && $test == 0 && $summary == 0 ]]; then
    echo "RESULT: PASS"
    exit 0
fi
echo "RESULT: FAIL"
exit 1
