#!/bin/bash
# deps.sh — install what `make test` and `make demo` need on a Debian 12 machine, as root.
# Idempotent and quick when everything is already there (no apt-get update then).
#
# Host packages (the test roots themselves come from scripts/debian-root.sh):
#   mmdebstrap         builds the cached Debian root (test fixture, demo root) and the Arch-flavoured
#                      root (scripts/arch-root.sh: pacman, makepkg, bsdtar are installed inside it)
#   dpkg-dev           dpkg-scanpackages: indexes the tests' local apt repositories
#   zstd               compresses/unpacks the cached root tarball
#   systemd-container  systemd-nspawn, for tests that boot a root with systemd
#   util-linux         mount, flock, prlimit, chroot (coreutils); essential, listed for clarity
#   ca-certificates    HTTPS to the Go module proxy
#   make               `make test` itself (.ci/run installs it first if missing)
#   postgresql         the logbook's PostgreSQL tests start a private server from it (initdb, pg_ctl)
#   btrfs-progs        mkfs.btrfs and btrfs, for the --snapshot tests on a loop-mounted btrfs image
#   nix-bin guile-3.0  Ch-imera: generated NixOS modules and Guix configs are parsed and evaluated
#                      offline (nix-instantiate --store dummy://, guile) against stub harnesses
#   ansible            bench/fleet runs the same work with Ansible on the same hosts, same run
#   grub-pc-bin grub-efi-amd64-bin dosfstools fdisk
#                      the Arch bootloader tests run real grub-install/grub-mkconfig/bootctl onto a
#                      loop-device disk image (BIOS and UEFI)
#   fusefat            mounts the image's FAT ESP (this kernel may lack vfat)
# Not needed on the host: sudo, locales, fakeroot (dpkg-deb --root-owner-group builds as root).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(mmdebstrap dpkg-dev zstd systemd-container util-linux ca-certificates make postgresql btrfs-progs)
PKGS+=(gnupg)  # secrets tests: a throwaway PGP key for the sops interop test (internal/secrets)
PKGS+=(nix-bin guile-3.0 ansible grub-pc-bin grub-efi-amd64-bin dosfstools fdisk fusefat)

if [[ $(id -u) != 0 ]]; then
    echo "deps.sh: must run as root (apt-get install)" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    # "install ok installed" only; half-installed or removed-with-config count as missing
    if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) != "ii " ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_get() { apt-get -o DPkg::Lock::Timeout=300 "$@"; }
    apt_get update -q
    apt_get install -y -q --no-install-recommends "${missing[@]}"
fi

export PATH=/usr/local/go/bin:$PATH
if ! command -v go >/dev/null; then
    echo "deps.sh: Go is not installed (expected at /usr/local/go/bin/go)" >&2
    exit 1
fi
go mod download
