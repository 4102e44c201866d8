#!/bin/bash
# bench/noop-250.sh — DESIGN §7: "local no-change apply of a 250-package Ch-obolo: <= 1.5x the time of
# the raw probe commands alone".
#
# Builds (once, cached) a Debian bookworm root with 250 tiny packages installed from a local apt
# repository by chaos itself, then times, side by side:
#   chaos   `chaos apply -c noop-250.yml --target @chroot/ROOT --dry` (no changes: exit 0)
#   probe   the probe script that very command sends to `sh -s` on the target (captured with
#           CHAOS_DEBUG_PROBE=FILE), run in the same root: `chroot ROOT /bin/sh -s < probe.sh`
# and prints both medians and their ratio. The two are timed in turns, one run of each per round
# (after 3 warm-up rounds), so that both medians come from the same minutes: on a shared machine the
# load moves medians taken a minute apart by more than the difference measured.
#
# Run as root from the repository (make bench builds bin/chaos and the base root first).
# Environment: CHAOS_BIN (default bin/chaos), CHAOS_BENCH_ROOT (default /var/tmp/chaos-bench-noop-250),
# CHAOS_BENCH_RUNS (default 20), CHAOS_BENCH_PKGS (default 250), CHAOS_BENCH_STRICT=1 (exit 1 when the
# ratio misses the target), CHAOS_BENCH_REBUILD=1 (rebuild the cached root), CHAOS_BENCH_BASELINE (another
# chaos binary, timed in the same rounds: before/after comparisons). Each binary records its runs in
# its own copy of the default logbook.
set -euo pipefail
cd "$(dirname "$0")/.."

CHAOS=$(readlink -f "${CHAOS_BIN:-bin/chaos}")
ROOT=${CHAOS_BENCH_ROOT:-/var/tmp/chaos-bench-noop-250}
RUNS=${CHAOS_BENCH_RUNS:-20}
N=${CHAOS_BENCH_PKGS:-250}
TARGET_RATIO=1.5

log() { printf 'noop-250: %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "must run as root (chroot)"; exit 1; }
[[ -x $CHAOS ]] || { log "$CHAOS missing: run make build"; exit 1; }

base=$(bash scripts/debian-root.sh | tail -n 1)
chobolo=$ROOT.yml

setup() {
    local start=$SECONDS work repo
    log "building $ROOT with $N packages (one-time; cached under key '$key')"
    rm -rf "$ROOT" "$chobolo"
    cp -a --reflink=auto "$base" "$ROOT"
    # No network: only the local repository below.
    rm -f "$ROOT/etc/apt/sources.list" "$ROOT"/etc/apt/sources.list.d/*
    repo=$ROOT/srv/bench-repo
    work=$(mktemp -d)
    mkdir -p "$repo"
    for i in $(seq -w 1 "$N"); do
        d=$work/p$i
        mkdir -p "$d/DEBIAN" "$d/usr/share/chaos-bench"
        printf 'Package: chaos-bench-%s\nVersion: 1.0\nArchitecture: all\nMaintainer: bench <bench@chaos.invalid>\nPriority: optional\nSection: misc\nDescription: chaos benchmark package %s\n' \
            "$i" "$i" > "$d/DEBIAN/control"
        echo "$i" > "$d/usr/share/chaos-bench/$i"
    done
    # dpkg-deb is the slow part: two at a time, gzip -1 (these are tiny).
    (cd "$work" && ls -d p* | xargs -P 2 -I{} dpkg-deb --root-owner-group -Zgzip -z1 --build {} "$repo/{}.deb" >/dev/null)
    rm -rf "$work"
    (cd "$repo" && dpkg-scanpackages . /dev/null 2>/dev/null > Packages)
    printf 'Types: deb\nURIs: file:/srv/bench-repo\nSuites: ./\nTrusted: yes\n' > "$ROOT/etc/apt/sources.list.d/chaos-bench.sources"
    prlimit --nofile=1024: chroot "$ROOT" apt-get update -q >/dev/null
    {
        echo "# $N packages for bench/noop-250.sh"
        echo "packages:"
        for i in $(seq -w 1 "$N"); do echo "  - chaos-bench-$i"; done
    } > "$chobolo"
    log "installing them with chaos apply -y"
    prlimit --nofile=1024: "$CHAOS" apply -c "$chobolo" --target "@chroot$ROOT" -y >/dev/null
    echo "$key" > "$ROOT/.chaos-bench-key"
    log "root ready in $((SECONDS - start)) s"
}

# The cache key: the base root (itself keyed by its recipe), the recipe below and the package count
# (not the whole script: changing how it measures keeps the root).
key="$(basename "$base") $(declare -f setup | sha256sum | cut -c1-12) n=$N"
if [[ -n ${CHAOS_BENCH_REBUILD:-} || ! -f $ROOT/.chaos-bench-key || $(cat "$ROOT/.chaos-bench-key") != "$key" || ! -f $chobolo ]]; then
    setup
fi

dry=("$CHAOS" apply -c "$chobolo" --target "@chroot$ROOT" --dry --no-color)
rc=0; out=$("${dry[@]}") || rc=$?
if [[ $rc != 0 ]]; then
    log "expected a no-change plan (exit 0), got exit $rc:"; echo "$out" >&2; exit 1
fi
echo "$out"
installed=$(chroot "$ROOT" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'chaos-bench-*' | grep -c '^ii ' || true)
[[ $installed == "$N" ]] || { log "only $installed of $N packages are installed"; exit 1; }

# The raw probe: exactly what chaos sends to the target for this Ch-obolo.
probe=$(mktemp --suffix=.sh)
trap 'rm -f "$probe"' EXIT
CHAOS_DEBUG_PROBE=$probe "${dry[@]}" >/dev/null
log "probe script: $(grep -c '' "$probe") lines, $(grep -c ' begin ' "$probe") sections; sections:" \
    "$(grep -o ' begin %s\\n'"'"' [^ ]* [^ ]*' "$probe" | awk '{print $NF}' | tr '\n' ' ')"
raw="chroot $ROOT /bin/sh -s < $probe > /dev/null"
# Each binary records in a logbook of its own, a copy of the default one (its size is the user's):
# a dry run leaves its WAL to the next run (logbook.Store.Leave), which another binary's close
# would checkpoint.
limanis=$(mktemp -d)
trap 'rm -f "$probe"; rm -rf "$limanis"' EXIT
limani() { # NAME: a logbook for one binary
    local src=${XDG_DATA_HOME:-$HOME/.local/share}/chaos/limani.db
    if [[ -f $src ]]; then cp "$src" "$limanis/$1.db"; fi
    echo "$limanis/$1.db"
}
chaos_cmd="CHAOS_LIMANI=$(limani chaos) ${dry[*]} > /dev/null"

# interleaved CMD...: the median wall time in seconds of RUNS runs of each command, the commands in
# turns (one run of each per round, each through bash -c, after 3 warm-up rounds), one per line.
interleaved() {
    local i j s e
    local -a ts
    for i in 1 2 3; do for c in "$@"; do bash -c "$c"; done; done
    for ((i = 0; i < RUNS; i++)); do
        for ((j = 1; j <= $#; j++)); do
            s=$(date +%s%N); bash -c "${!j}"; e=$(date +%s%N)
            ts[j]+="$((e - s)) "
        done
    done
    for ((j = 1; j <= $#; j++)); do
        tr ' ' '\n' <<< "${ts[j]}" | grep . | sort -n |
            awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.6f\n", m / 1e9}'
    done
}

cmds=("$chaos_cmd" "$raw")
if [[ -n ${CHAOS_BENCH_BASELINE:-} ]]; then # another chaos (e.g. main's), timed in the same rounds
    base=("$(readlink -f "$CHAOS_BENCH_BASELINE")" "${dry[@]:1}")
    cmds+=("CHAOS_LIMANI=$(limani baseline) ${base[*]} > /dev/null")
fi
mapfile -t med < <(interleaved "${cmds[@]}")
t_chaos=${med[0]} t_raw=${med[1]}
log "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${CHAOS_BENCH_BASELINE:-} ]]; then
    awk -v b="${med[2]}" -v r="$t_raw" 'BEGIN {printf "noop-250: baseline %s: median %.1f ms, ratio %.2fx (same rounds)\n", ENVIRON["CHAOS_BENCH_BASELINE"], b * 1000, b / r}'
fi
awk -v c="$t_chaos" -v r="$t_raw" -v n="$N" -v runs="$RUNS" -v goal="$TARGET_RATIO" 'BEGIN {
    ratio = c / r
    printf "noop-%d: chaos apply --dry median %.1f ms; raw probe median %.1f ms; ratio %.2fx (target <= %gx, %d runs) %s\n",
        n, c * 1000, r * 1000, ratio, goal, runs, (ratio <= goal ? "OK" : "TARGET MISSED")
    exit (ratio <= goal) ? 0 : 3
}' || { [[ -z ${CHAOS_BENCH_STRICT:-} ]] || exit 1; }
