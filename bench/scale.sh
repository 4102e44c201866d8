#!/bin/bash
# bench/scale.sh — DESIGN §7 "cost flat in resources": 1,000 managed files or users cost <= 2x of 10
# (no change), here on a chroot target.
#
# For each count N (CHAOS_BENCH_SCALE, default "10 100 1000") and each domain (files, users), a
# fresh overlay over the cached Debian base root gets a Ch-obolo declaring N files (a few bytes of
# content each, under /srv/scale) or N users (locked password, home created). Then, side by side:
#   first     one `chaos apply -y` from the bare root (one run: it changes the root);
#   no-change `chaos apply --dry` (exit 0), all counts interleaved, CHAOS_BENCH_RUNS runs, median;
#   probe     the raw probe script that --dry sends (CHAOS_DEBUG_PROBE), `chroot ROOT sh -s`, median.
#             On a chroot the files role's paths are answered in-process, not by the script
#             (docs/roles/files.md): for files this column is the rest of the probe.
# Prints a markdown table per domain, the ratio of each count to the smallest, the slope (ms per
# extra resource between the smallest and the largest count) and the load average, and ends with
# "scale: ... OK" or "TARGET MISSED" for the 1,000-vs-10 ratio (target <= 2x; CHAOS_BENCH_STRICT=1
# exits 1 when missed).
#
# CHAOS_BENCH_BASELINE=OTHER_CHAOS also times OTHER_CHAOS's no-change run in the same rounds
# (interleaved with CHAOS_BIN's, on the same roots), for a before/after under the same load. Each
# binary's no-change runs are recorded in its own copy of the default logbook.
#
# Run as root from the repository (make bench builds bin/chaos and the base root first). The
# overlays live under CHAOS_BENCH_DIR (default /var/tmp/chaos-bench-scale) and are unmounted and
# removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

CHAOS=$(readlink -f "${CHAOS_BIN:-bin/chaos}")
BASELINE=${CHAOS_BENCH_BASELINE:+$(readlink -f "$CHAOS_BENCH_BASELINE")}
COUNTS=(${CHAOS_BENCH_SCALE:-10 100 1000})
DOMAINS=(${CHAOS_BENCH_DOMAINS:-files users})
RUNS=${CHAOS_BENCH_RUNS:-11}
DIR=${CHAOS_BENCH_DIR:-/var/tmp/chaos-bench-scale}
TARGET_RATIO=2

log() { printf 'scale: %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "must run as root (overlay mounts, chroot)"; exit 1; }
[[ -x $CHAOS ]] || { log "$CHAOS missing: run make build"; exit 1; }
[[ -z $BASELINE || -x $BASELINE ]] || { log "baseline $BASELINE missing"; exit 1; }
base=$(bash scripts/debian-root.sh | tail -n 1)

mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT
rm -rf "$DIR"
mkdir -p "$DIR"
# Each binary records in a logbook of its own, a copy of the default one: a dry run leaves its WAL
# to the next run (logbook.Store.Leave), which another binary's close would checkpoint.
limani_src=${XDG_DATA_HOME:-$HOME/.local/share}/chaos/limani.db
for b in chaos baseline; do
    if [[ -f $limani_src ]]; then cp "$limani_src" "$DIR/limani-$b.db"; fi
done

chobolo() { # DOMAIN N: a Ch-obolo declaring N resources of DOMAIN
    local i
    echo "# bench/scale.sh: $2 $1"
    case $1 in
    files)
        echo "files:"
        for ((i = 0; i < $2; i++)); do
            printf '  - path: /srv/scale/f%05d\n    content: "file %d\\n"\n' "$i" "$i"
        done ;;
    users)
        echo "users:"
        for ((i = 0; i < $2; i++)); do
            printf '  - name: u%05d\n    password: locked\n' "$i"
        done ;;
    esac
}

now() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A first nochange probe root
for d in "${DOMAINS[@]}"; do
    for n in "${COUNTS[@]}"; do
        r=$DIR/$d-$n
        mkdir -p "$r.upper" "$r.work" "$r"
        mount -t overlay overlay -o "lowerdir=$base,upperdir=$r.upper,workdir=$r.work" "$r"
        mounts+=("$r")
        mkdir -p "$r/srv/scale"
        chobolo "$d" "$n" > "$r.yml"
        s=$(now)
        prlimit --nofile=1024: "$CHAOS" apply -c "$r.yml" --target "@chroot$r" -y --no-color > "$r.first.log" 2>&1 ||
            { log "first apply of $n $d failed:"; tail -n 20 "$r.first.log" >&2; exit 1; }
        first[$d-$n]=$(( $(now) - s ))
        rc=0; "$CHAOS" apply -c "$r.yml" --target "@chroot$r" --dry --no-color > "$r.dry.log" 2>&1 || rc=$?
        [[ $rc == 0 ]] || { log "$n $d: the second run is not a no-change run (exit $rc):"; tail -n 20 "$r.dry.log" >&2; exit 1; }
        CHAOS_DEBUG_PROBE=$r.probe.sh "$CHAOS" apply -c "$r.yml" --target "@chroot$r" --dry --no-color > /dev/null
        root[$d-$n]=$r
        log "$d $n: first run $(ms "${first[$d-$n]}") ms, probe $(grep -c '' "$r.probe.sh") lines"
    done
done

baseline() { # one timed no-change run of the baseline on root $r ($d, $n)
    [[ -n $BASELINE ]] || return 0
    local s e
    s=$(now); CHAOS_LIMANI=$DIR/limani-baseline.db "$BASELINE" apply -c "$r.yml" --target "@chroot$r" --dry --no-color > /dev/null; e=$(now)
    tb[$d-$n]+="$((e - s)) "
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A tn tp tb
for ((k = 0; k < RUNS; k++)); do
    for d in "${DOMAINS[@]}"; do
        for n in "${COUNTS[@]}"; do
            r=${root[$d-$n]}
            # The baseline goes first in every other round, so that neither binary always follows
            # the other.
            ((k % 2 == 0)) || baseline
            s=$(now); CHAOS_LIMANI=$DIR/limani-chaos.db "$CHAOS" apply -c "$r.yml" --target "@chroot$r" --dry --no-color > /dev/null; e=$(now)
            tn[$d-$n]+="$((e - s)) "
            ((k % 2 == 1)) || baseline
            s=$(now); chroot "$r" /bin/sh -s < "$r.probe.sh" > /dev/null 2>&1; e=$(now)
            tp[$d-$n]+="$((e - s)) "
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

missed=0
lo=${COUNTS[0]} hi=${COUNTS[-1]}
for d in "${DOMAINS[@]}"; do
    echo
    echo "### $d on a chroot (median of $RUNS no-change runs, interleaved; load $load_before -> $load_after)"
    echo
    echo "| $d | first run | no-change | / $lo $d | raw probe | / $lo $d |"
    echo "|---|---|---|---|---|---|"
    for n in "${COUNTS[@]}"; do
        nochange[$d-$n]=$(median ${tn[$d-$n]})
        probe[$d-$n]=$(median ${tp[$d-$n]})
        printf '| %s | %s ms | %s ms | %.2fx | %s ms | %.2fx |\n' "$n" "$(ms "${first[$d-$n]}")" \
            "$(ms "${nochange[$d-$n]}")" "$(awk -v a="${nochange[$d-$n]}" -v b="${nochange[$d-$lo]}" 'BEGIN { print a / b }')" \
            "$(ms "${probe[$d-$n]}")" "$(awk -v a="${probe[$d-$n]}" -v b="${probe[$d-$lo]}" 'BEGIN { print a / b }')"
    done
    if [[ -n $BASELINE ]]; then
        b_lo=$(median ${tb[$d-$lo]})
        for n in "${COUNTS[@]}"; do
            b_n=$(median ${tb[$d-$n]})
            printf '\nbaseline %s, same rounds: %s %s no change %s ms, %.2fx of %s' "$BASELINE" "$n" "$d" "$(ms "$b_n")" \
                "$(awk -v a="$b_n" -v b="$b_lo" 'BEGIN { print a / b }')" "$lo"
        done
        echo
    fi
    awk -v a="${nochange[$d-$hi]}" -v b="${nochange[$d-$lo]}" -v fa="${first[$d-$hi]}" -v fb="${first[$d-$lo]}" -v hi="$hi" -v lo="$lo" -v d="$d" 'BEGIN {
        printf "\nslope: %.3f ms per extra %s with no change, %.2f ms on a first run (%d -> %d)\n", (a - b) / 1e6 / (hi - lo), d, (fa - fb) / 1e6 / (hi - lo), lo, hi }'
    if [[ " ${COUNTS[*]} " == *" 10 "* && " ${COUNTS[*]} " == *" 1000 "* ]]; then
        awk -v a="${nochange[$d-1000]}" -v b="${nochange[$d-10]}" -v goal="$TARGET_RATIO" -v d="$d" 'BEGIN {
            r = a / b; printf "scale: 1,000 %s vs 10, no change, chroot: %.2fx (target <= %gx) %s\n", d, r, goal, (r <= goal ? "OK" : "TARGET MISSED")
            exit (r <= goal) ? 0 : 3 }' || missed=1
    fi
done
[[ $missed == 0 || -z ${CHAOS_BENCH_STRICT:-} ]] || exit 1
