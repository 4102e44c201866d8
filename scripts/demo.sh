#!/bin/bash
# make demo: apply examples/workstation.yml to a throwaway Debian root and show the plan, the apply,
# and the no-change rerun. Run as root on Debian 12 (make demo installs what it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${CHAOS_DEMO_ROOT:-/var/tmp/chaos-demo}
CHOBOLO=${CHAOS_DEMO_CHOBOLO:-examples/workstation.yml}
CHAOS=${CHAOS_BIN:-bin/chaos}

step() { printf '\n\033[1;35m==> %s\033[0m\n' "$*"; }

# A fresh root each time, so the demo always shows a real diff. The base is the cached bookworm
# root the tests use; its apt sources point at the host's Debian mirror.
step "Preparing a throwaway Debian bookworm root at $ROOT"
base=$(bash scripts/debian-root.sh | tail -n 1)
rm -rf "$ROOT"
cp -a "$base" "$ROOT"
echo "root ready (copied from $base)"

step "chaos check chobolo -c $CHOBOLO"
"$CHAOS" check chobolo -c "$CHOBOLO"

step "chaos apply --dry: the exact plan (exit code 2 = changes pending)"
rc=0; "$CHAOS" apply -c "$CHOBOLO" --target "@chroot$ROOT" --dry || rc=$?
[ "$rc" -eq 2 ] || { echo "expected exit code 2 from --dry, got $rc" >&2; exit 1; }

step "chaos apply -y: make it so"
"$CHAOS" apply -c "$CHOBOLO" --target "@chroot$ROOT" -y

step "chaos apply again: nothing left to do"
"$CHAOS" apply -c "$CHOBOLO" --target "@chroot$ROOT" --dry

step "What changed, seen from inside the root"
chroot "$ROOT" sh -c 'echo "hostname: $(cat /etc/hostname)"; getent passwd alice build; ls -l /etc/sudoers.d/;
  readlink /etc/localtime; hello; cat /etc/motd'

V2=${CHAOS_DEMO_CHOBOLO_V2:-examples/workstation-v2.yml}
step "chaos apply -c $V2 -y: version 2 changes hostname, users, packages, timezone, files"
"$CHAOS" apply -c "$V2" --target "@chroot$ROOT" -y

step "chaos generations: every apply recorded a generation on the host"
"$CHAOS" generations --target "@chroot$ROOT"
"$CHAOS" generations diff 1 2 --target "@chroot$ROOT"

step "chaos rollback: back to generation 1 (file backups + its Ch-obolo, re-applied), recorded as generation 3"
"$CHAOS" rollback --target "@chroot$ROOT" -y
"$CHAOS" generations --target "@chroot$ROOT"

step "chaos logbook: every run so far, and the report of the rollback"
"$CHAOS" logbook list --limit 6
"$CHAOS" logbook show last

step "chaos apply -c $CHOBOLO --dry after the rollback: zero diff against the first Ch-obolo"
rc=0; "$CHAOS" apply -c "$CHOBOLO" --target "@chroot$ROOT" --dry || rc=$?
[ "$rc" -eq 0 ] || { echo "expected no changes after the rollback (exit 0), got exit $rc" >&2; exit 1; }

printf '\nDemo done. The root stays at %s; remove it with: rm -rf %s\n' "$ROOT" "$ROOT"
