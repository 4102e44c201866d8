#!/bin/bash
# bench/capitain-vs-apply.sh — a real run of N SSH hosts through Capitain against `chaos apply -f`
# (issue 20: overhead <= 10 %; docs/performance.md).
#
# Starts N real SSH test hosts (network namespaces + sshd; internal/testenv) and applies the same
# Ch-obolo (a directory, 20 files, 5 users, a configuration file) with `chaos apply -f` and with an
# apply job of a Capitain server (SQLite, one worker per host), first runs and no-change runs
# alternating; prints a markdown table of medians and Capitain's overhead in percent.
#
# Run as root from the repository. Environment: CHAOS_BENCH_HOSTS (default 20), CHAOS_BENCH_RUNS
# (rounds, default 3), CHAOS_BIN (default: built from this tree by the test).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "bench/capitain-vs-apply.sh: must run as root (network namespaces)" >&2; exit 1; }
export PATH=/usr/local/go/bin:$PATH
export CHAOS_BENCH=1
if [[ -n ${CHAOS_BIN:-} ]]; then export CHAOS_BIN=$(readlink -f "$CHAOS_BIN"); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! go test -count=1 -timeout 1h -run '^TestCapitainVsApply$' -v ./bench >"$out" 2>&1; then
    cat "$out" >&2
    exit 1
fi
grep -E '^(Capitain|\|)' "$out"
