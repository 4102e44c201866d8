#!/bin/bash
# debian-root.sh [CACHE_DIR] — build (once) the Debian bookworm root used by the integration tests.
#
# Produces, under CACHE_DIR (default /var/cache/chaos-test, or $CHAOS_TEST_CACHE):
#   bookworm-<sha12>.tar.zst   the root as a tarball (device nodes included), for copies elsewhere
#   bookworm-<sha12>/          the same root unpacked; treat it as READ-ONLY (overlay lowerdir)
# and prints the path of the unpacked directory on stdout (nothing else goes to stdout).
#
# <sha12> is the first 12 hex digits of the sha256 of THIS FILE, so any change to the recipe below
# makes a new root; internal/testenv computes the same key to find the cache without running us.
# Safe to run concurrently: the build is serialized with flock and published with an atomic rename.
# Mirror: the host's /etc/apt/sources.list.d/debian.sources (deb822), which mmdebstrap copies into the
# root (tests remove it again: they must never depend on the network).
set -euo pipefail

CACHE_DIR=${1:-${CHAOS_TEST_CACHE:-/var/cache/chaos-test}}
SUITE=bookworm
SOURCES=/etc/apt/sources.list.d/debian.sources
# The recipe. Minbase (priority required + apt) plus what the roles touch:
#   sudo (visudo), locales (locale-gen), tzdata (zoneinfo), systemd/systemd-sysv (systemctl --root, booted
#   hosts), systemd-timesyncd (ntp), dbus, procps (ps), iproute2 (ip), openssh-server (protected service,
#   SSH hosts), passwd/adduser (users), apt-utils (quiet debconf, apt-ftparchive).
INCLUDE=sudo,locales,tzdata,systemd,systemd-sysv,systemd-timesyncd,dbus,procps,iproute2,openssh-server,passwd,adduser,apt-utils

log() { echo "debian-root: $*" >&2; }

SELF=$(readlink -f "${BASH_SOURCE[0]}")
KEY=$(sha256sum "$SELF" | cut -c1-12)
NAME=$SUITE-$KEY
BASE=$CACHE_DIR/$NAME
TARBALL=$CACHE_DIR/$NAME.tar.zst

# Fast path: published directories are complete (they appear by rename only).
if [[ -d $BASE ]]; then
    echo "$BASE"
    exit 0
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock 9
if [[ -d $BASE ]]; then # someone else built it while we waited
    echo "$BASE"
    exit 0
fi

for tool in mmdebstrap zstd; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run scripts/deps.sh first"; exit 1; }
done
[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }

if [[ -r $SOURCES ]]; then
    MIRROR=$SOURCES
else
    MIRROR=http://deb.debian.org/debian
    log "no $SOURCES, using $MIRROR"
fi

TMP=$(mktemp -d "$CACHE_DIR/.build-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS
log "building $NAME (one-time, ~30 s) from $MIRROR"

# Docs, man pages, info and translations are dropped (smaller, faster to build and copy), but
# locale.alias and /usr/share/i18n stay: locale-gen needs them. The dpkg path filters are written to
# /etc/dpkg/dpkg.cfg.d/99mmdebstrap by mmdebstrap; we delete that file at the end so the root behaves like a
# stock Debian for packages installed later by tests.
mmdebstrap --variant=minbase --mode=root --format=tar \
    --include="$INCLUDE" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
    --customize-hook='echo localhost > "$1/etc/hostname"' \
    --customize-hook='printf "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n" > "$1/etc/hosts"' \
    --customize-hook='ln -sf ../proc/self/mounts "$1/etc/mtab"' \
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
    --customize-hook='rm -f "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old' \
    "$SUITE" "$TMP/root.tar.zst" "$MIRROR" >&2

mkdir "$TMP/root"
tar --zstd -xpf "$TMP/root.tar.zst" -C "$TMP/root" --numeric-owner
chmod 0755 "$TMP/root"
mv -T "$TMP/root.tar.zst" "$TARBALL"
mv -T "$TMP/root" "$BASE" # publish last: the directory's existence means "complete"
# Old recipes' roots (190 MB each): keep the 3 newest, in case an older checkout still uses one.
ls -1dt "$CACHE_DIR/$SUITE"-*/ 2>/dev/null | tail -n +4 | while read -r old; do
    old=${old%/}
    log "removing old root $old"
    rm -rf "$old" "$old.tar.zst"
done
log "built $BASE in $((SECONDS - start)) s ($(du -sh "$TARBALL" | cut -f1) tarball, $(du -sh "$BASE" | cut -f1) unpacked)"
echo "$BASE"
