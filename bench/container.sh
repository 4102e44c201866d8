#!/bin/bash
# bench/container.sh — a no-change apply into a podman container vs into a chroot of the same root.
#
# Imports the cached Debian base root into podman (once, the tag testenv.PodmanImage uses), runs a
# container of it, applies a small Ch-obolo (a user, two files) once, then times no-change applies of
# the same Ch-obolo to `@podman/NAME` and to `@chroot/$(podman mount NAME)` (the same root), and
# `podman exec -i NAME true` alone (the one exec a container run costs), printing min/median/max.
# The container is removed at the end, with the conmon processes its execs leave behind.
#
# Run as root from the repository after make build. Environment: CHAOS_BIN (default bin/chaos),
# CHAOS_BENCH_RUNS (default 11).
set -euo pipefail
cd "$(dirname "$0")/.."

CHAOS=$(readlink -f "${CHAOS_BIN:-bin/chaos}")
RUNS=${CHAOS_BENCH_RUNS:-11}
log() { printf 'container: %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "must run as root (podman, chroot)"; exit 1; }
[[ -x $CHAOS ]] || { log "$CHAOS missing: run make build"; exit 1; }

base=$(bash scripts/debian-root.sh | tail -n 1)
image=localhost/chaos-test-$(basename "$base"):1
if ! podman image exists "$image"; then
    log "importing $base as $image (one-time)"
    tar -C "$base" --numeric-owner -cf - . | podman import - "$image" >/dev/null
fi
name=chaos-bench-$$
work=$(mktemp -d)
cleanup() {
    local id
    id=$(podman inspect --format '{{.Id}}' "$name" 2>/dev/null || :)
    podman umount "$name" >/dev/null 2>&1 || :
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || :
    if [[ -n $id ]]; then # by pid: the conmon processes of this container's exec sessions
        for p in /proc/[0-9]*; do
            [[ $(readlink "$p/exe" 2>/dev/null) == */conmon ]] && grep -qa -- "$id" "$p/cmdline" 2>/dev/null &&
                kill -KILL "${p#/proc/}" 2>/dev/null || :
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
podman run -d --runtime runc --network none --name "$name" "$image" sleep infinity >/dev/null
mnt=$(podman mount "$name")
cat >"$work/bench.yml" <<'YML'
users:
  - name: alice
    shell: bash
files:
  - path: /etc/motd
    content: "managed by chaos\n"
  - path: /etc/chaos-bench
    content: "x\n"
YML
export CHAOS_CONFIG_DIR=$work CHAOS_LIMANI=$work/limani.db
"$CHAOS" apply -c "$work/bench.yml" --target "@podman/$name" -y >/dev/null

time_ms() { # label, then the command; prints min median max over RUNS runs
    local label=$1 i s e
    shift
    for ((i = 0; i < RUNS; i++)); do
        s=$(date +%s%N)
        "$@" >/dev/null
        e=$(date +%s%N)
        echo $(((e - s) / 1000000))
    done | sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%-28s min %4d ms  median %4d ms  max %4d ms\n", l, a[1], a[int((NR+1)/2)], a[NR]}'
}
time_ms "apply @podman (no change)" "$CHAOS" apply -c "$work/bench.yml" --target "@podman/$name" -y
time_ms "apply @chroot (same root)" "$CHAOS" apply -c "$work/bench.yml" --target "@chroot$mnt" -y
time_ms "podman exec -i true" podman exec -i "$name" true
log "load: $(cut -d' ' -f1-3 /proc/loadavg)"
