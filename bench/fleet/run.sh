#!/bin/bash
# bench/fleet/run.sh — chaos against Ansible over real SSH hosts (issue 6, docs/performance.md).
#
# Starts N real SSH test hosts (network namespace + copy-on-write Debian root with python3 + sshd
# each; internal/testenv), then, on the same hosts in the same run, applies one directory, 20 files
# with content, 5 users and one line in a file with chaos (`chaos apply -f`, parallelism = all)
# and with Ansible (`ansible-playbook`, forks = N, pipelining on), first run and no-change run,
# and measures the floor: a fresh SSH connection per host running `true`, and running the raw
# probe chaos sends. Prints a markdown table (times, speed-ups, no-change / floor, load average).
#
# Run as root from the repository. Needs ansible (apt-get install ansible), iproute2, util-linux and
# the Debian mirror once (to build the cached python3 layer of the test root).
# Environment: CHAOS_BENCH_HOSTS (default 1,10,30,50), CHAOS_BENCH_RUNS (no-change runs per median,
# default 3), CHAOS_BENCH_ANSIBLE_RUNS (Ansible's, default CHAOS_BENCH_RUNS; 0 skips Ansible), CHAOS_BIN (default: built from this tree by the test; `make bench` passes bin/chaos).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) == 0 ]] || { echo "bench/fleet: must run as root (network namespaces)" >&2; exit 1; }
export PATH=/usr/local/go/bin:$PATH
export CHAOS_BENCH=1
export CHAOS_BENCH_HOSTS=${CHAOS_BENCH_HOSTS:-1,10,30,50}
if [[ -n ${CHAOS_BIN:-} ]]; then export CHAOS_BIN=$(readlink -f "$CHAOS_BIN"); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! go test -count=1 -timeout 4h -run '^TestFleetVsAnsible$' -v ./bench/fleet >"$out" 2>&1; then
    cat "$out" >&2
    exit 1
fi
grep -E '^(chaos vs|\||    fleet_test)' "$out" | sed 's/^    fleet_test.go:[0-9]*: /  /'
