#!/bin/bash
# bench/fleet/scale.sh — DESIGN §7 "cost flat in resources" over SSH (docs/performance.md): chaos with
# 10, 100 and 1,000 files and users on real SSH test hosts (one per count), no-change runs against
# the raw probe, and Ansible with the same resources at 1,000 (TestScaleOverSSH).
#
# Run as root from the repository. Needs ansible (apt-get install ansible) unless
# CHAOS_BENCH_ANSIBLE_SCALE=0, iproute2, util-linux and the Debian mirror once (the cached python3
# layer of the test root). Environment: CHAOS_BENCH_SCALE (default 10,100,1000), CHAOS_BENCH_RUNS
# (default 5), CHAOS_BENCH_ANSIBLE_SCALE (default 1000; 0 skips Ansible), CHAOS_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) == 0 ]] || { echo "bench/fleet/scale.sh: must run as root (network namespaces)" >&2; exit 1; }
export PATH=/usr/local/go/bin:$PATH
export CHAOS_BENCH=1
if [[ -n ${CHAOS_BIN:-} ]]; then export CHAOS_BIN=$(readlink -f "$CHAOS_BIN"); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! go test -count=1 -timeout 3h -run '^TestScaleOverSSH$' -v ./bench/fleet >"$out" 2>&1; then
    cat "$out" >&2
    exit 1
fi
grep -E '^(chaos over|\||slope|Ansible|    scale_test)' "$out" | sed 's/^    scale_test.go:[0-9]*: /  /'
