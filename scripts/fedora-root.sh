#!/bin/bash
# fedora-root.sh [CACHE_DIR] — build (once) the "Fedora-flavoured" root used by the Fedora core's
# integration tests: a Debian bookworm root with Debian's dnf (4.14), rpm (4.18, with rpmbuild) and
# createrepo_c, presenting itself as Fedora 39 (/etc/os-release ID=fedora). It is a real dnf/libdnf and
# rpm on a real root, which is what the Fedora roles drive; it is not a Fedora system: rpm's database
# starts empty (bash, coreutils, glibc ... are dpkg's), and tests build their rpms with rpmbuild inside
# the root (AutoReqProv: no, so nothing needs /bin/sh from rpm). See ../shared/reference/test-targets.md §4.
#
# Pitfalls handled here: Debian's rpm keeps its database in ~/.rpmdb; /etc/rpm/macros.dbpath moves it to
# Fedora's /usr/lib/sysimage/rpm. An empty root has no system-release package: /etc/dnf/vars/releasever.
#
# Produces, under CACHE_DIR (default /var/cache/chaos-test, or $CHAOS_TEST_CACHE):
#   fedoraish-<sha12>.tar.zst   the root as a tarball
#   fedoraish-<sha12>/          the same root unpacked; READ-ONLY (overlay lowerdir)
# and prints the path of the unpacked directory on stdout (nothing else goes to stdout).
# <sha12> is the first 12 hex digits of the sha256 of THIS FILE (internal/testenv computes the same key).
set -euo pipefail

CACHE_DIR=${1:-${CHAOS_TEST_CACHE:-/var/cache/chaos-test}}
SUITE=bookworm
SOURCES=/etc/apt/sources.list.d/debian.sources
# The Debian fixture's recipe (scripts/debian-root.sh) plus dnf, rpm (rpmbuild) and createrepo_c.
INCLUDE=sudo,locales,tzdata,systemd,systemd-sysv,systemd-timesyncd,dbus,procps,iproute2,openssh-server,passwd,adduser,apt-utils
INCLUDE=$INCLUDE,dnf,rpm,createrepo-c

log() { echo "fedora-root: $*" >&2; }

SELF=$(readlink -f "${BASH_SOURCE[0]}")
KEY=$(sha256sum "$SELF" | cut -c1-12)
NAME=fedoraish-$KEY
BASE=$CACHE_DIR/$NAME
TARBALL=$CACHE_DIR/$NAME.tar.zst

if [[ -d $BASE ]]; then
    echo "$BASE"
    exit 0
fi
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock-fedora"
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

TMP=$(mktemp -d "$CACHE_DIR/.build-fedora-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS
log "building $NAME (one-time, ~90 s) from $MIRROR"

# dnf.conf is Fedora's default. /etc/mtab is a plain file (rpm's disk-space check reads it; /proc is not
# mounted in test roots). The rpm database is created empty at Fedora's path.
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
    --customize-hook='rm -f "$1/etc/os-release" "$1/usr/lib/os-release"; printf "NAME=\"Fedora Linux\"\nVERSION=\"39 (chaos test root on Debian dnf)\"\nID=fedora\nVERSION_ID=39\nPLATFORM_ID=\"platform:f39\"\nPRETTY_NAME=\"Fedora Linux 39 (chaos test root on Debian dnf)\"\n" > "$1/usr/lib/os-release"; ln -s ../usr/lib/os-release "$1/etc/os-release"' \
    --customize-hook='mkdir -p "$1/etc/rpm" "$1/etc/dnf/vars" "$1/etc/yum.repos.d" "$1/usr/lib/sysimage/rpm"; printf "%%_dbpath /usr/lib/sysimage/rpm\n" > "$1/etc/rpm/macros.dbpath"; echo 39 > "$1/etc/dnf/vars/releasever"' \
    --customize-hook='rm -f "$1"/etc/yum.repos.d/*; printf "[main]\ngpgcheck=True\ninstallonly_limit=3\nclean_requirements_on_remove=True\nbest=False\nskip_if_unavailable=True\n" > "$1/etc/dnf/dnf.conf"' \
    --customize-hook='chroot "$1" rpm --initdb' \
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
    --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*' \
    --customize-hook='rm -f "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old' \
    "$SUITE" "$TMP/root.tar.zst" "$MIRROR" >&2

mkdir "$TMP/root"
tar --zstd -xpf "$TMP/root.tar.zst" -C "$TMP/root" --numeric-owner
chmod 0755 "$TMP/root"
mv -T "$TMP/root.tar.zst" "$TARBALL"
mv -T "$TMP/root" "$BASE"
ls -1dt "$CACHE_DIR"/fedoraish-*/ 2>/dev/null | tail -n +4 | while read -r old; do
    old=${old%/}
    log "removing old root $old"
    rm -rf "$old" "$old.tar.zst"
done
log "built $BASE in $((SECONDS - start)) s ($(du -sh "$TARBALL" | cut -f1) tarball, $(du -sh "$BASE" | cut -f1) unpacked)"
echo "$BASE"
