#!/bin/bash
# arch-root.sh [CACHE_DIR] — build (once) the "Arch-flavoured" root used by the Arch core's integration
# tests: a Debian bookworm root with Debian's pacman (pacman-package-manager), makepkg and bsdtar
# (libarchive-tools), presenting itself as Arch (/etc/os-release ID=arch). It is a real pacman/libalpm
# on a real root, which is what the Arch roles drive; it is not an Arch system (no glibc/filesystem
# packages in pacman's database, Debian's systemd). See ../shared/reference/test-targets.md §3.
#
# Produces, under CACHE_DIR (default /var/cache/chaos-test, or $CHAOS_TEST_CACHE):
#   archish-<sha12>.tar.zst   the root as a tarball
#   archish-<sha12>/          the same root unpacked; READ-ONLY (overlay lowerdir)
# and prints the path of the unpacked directory on stdout (nothing else goes to stdout).
# <sha12> is the first 12 hex digits of the sha256 of THIS FILE (internal/testenv computes the same key).
set -euo pipefail

CACHE_DIR=${1:-${CHAOS_TEST_CACHE:-/var/cache/chaos-test}}
SUITE=bookworm
SOURCES=/etc/apt/sources.list.d/debian.sources
# The Debian fixture's recipe (scripts/debian-root.sh) plus pacman, makepkg (pulls fakeroot, perl),
# bsdtar (makepkg and repo-add need it; the makepkg package does not depend on it) and git (AUR clones).
INCLUDE=sudo,locales,tzdata,systemd,systemd-sysv,systemd-timesyncd,dbus,procps,iproute2,openssh-server,passwd,adduser,apt-utils
INCLUDE=$INCLUDE,pacman-package-manager,makepkg,libarchive-tools,git

log() { echo "arch-root: $*" >&2; }

SELF=$(readlink -f "${BASH_SOURCE[0]}")
KEY=$(sha256sum "$SELF" | cut -c1-12)
NAME=archish-$KEY
BASE=$CACHE_DIR/$NAME
TARBALL=$CACHE_DIR/$NAME.tar.zst

if [[ -d $BASE ]]; then
    echo "$BASE"
    exit 0
fi
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock-arch"
flock 9
if [[ -d $BASE ]]; then
    echo "$BASE"
    exit 0
fi
for tool in mmdebstrap zstd; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run scripts/deps.sh first"; exit 1; }
done
[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }
if [[ -r $SOURCES ]]; then MIRROR=$SOURCES; else MIRROR=http://deb.debian.org/debian; fi

TMP=$(mktemp -d "$CACHE_DIR/.build-arch-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS
log "building $NAME (one-time, ~60 s) from $MIRROR"

# pacman.conf: no repositories (tests add their own), no signatures (test packages are unsigned).
# /etc/mtab is a plain file: pacman's CheckSpace reads it, and /proc is not mounted in test roots.
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
    --customize-hook='printf "127.0.0.1\tlocalhost\n::1\t\tlocalhost\n" > "$1/etc/hosts"' \
    --customize-hook='rm -f "$1/etc/mtab"; printf "rootfs / rootfs rw 0 0\n" > "$1/etc/mtab"' \
    --customize-hook='rm -f "$1/etc/os-release"; printf "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux (chaos test root on Debian pacman)\"\nID=arch\nBUILD_ID=rolling\n" > "$1/etc/os-release"' \
    --customize-hook='printf "[options]\nHoldPkg = pacman glibc\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n" > "$1/etc/pacman.conf"' \
    --customize-hook='mkdir -p "$1/var/lib/pacman/sync" "$1/var/lib/pacman/local" "$1/var/cache/pacman/pkg" "$1/etc/pacman.d"; printf "9\n" > "$1/var/lib/pacman/local/ALPM_DB_VERSION"' \
    --customize-hook='printf "Server = file:///srv/chaos-pacman-mirror/\$repo\n" > "$1/etc/pacman.d/mirrorlist"' \
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
    --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*' \
    --customize-hook='rm -f "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old' \
    "$SUITE" "$TMP/root.tar.zst" "$MIRROR" >&2

mkdir "$TMP/root"
tar --zstd -xpf "$TMP/root.tar.zst" -C "$TMP/root" --numeric-owner
chmod 0755 "$TMP/root"
mv -T "$TMP/root.tar.zst" "$TARBALL"
mv -T "$TMP/root" "$BASE"
ls -1dt "$CACHE_DIR"/archish-*/ 2>/dev/null | tail -n +4 | while read -r old; do
    old=${old%/}
    log "removing old root $old"
    rm -rf "$old" "$old.tar.zst"
done
log "built $BASE in $((SECONDS - start)) s ($(du -sh "$TARBALL" | cut -f1) tarball, $(du -sh "$BASE" | cut -f1) unpacked)"
echo "$BASE"
