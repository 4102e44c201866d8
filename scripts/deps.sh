#!/bin/bash
# deps.sh — install what `make test` and `make demo` need on a Debian 12 machine, as root.
# Idempotent and quick when everything is already there (no apt-get update then).
#
# Every host package `make test` and `make demo` use, each installed explicitly with the reason (none
# is counted on to come with another). The test roots themselves come from scripts/*-root.sh. Under
# CHAOS_REQUIRE_ALL=1 (scripts/test.sh) a test whose tool is missing fails instead of skipping, so a
# package missing here fails CI. Not needed on the host: sudo, locales, fakeroot (dpkg-deb
# --root-owner-group builds as root).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
    make              # `make test` itself (.ci/run installs it first if missing)
    ca-certificates   # HTTPS to the Go module proxy
    mmdebstrap        # builds the cached Debian, Arch-flavoured and Fedora-flavoured roots and the demo root
    zstd              # compresses/unpacks the cached root tarballs
    git               # git daemon and a dotfiles repository for the dotfiles Soul's tests (internal/souls);
                      # git daemon and git-http-backend serve Capitain's repositories (internal/capitain/gitsync)
    dpkg-dev          # dpkg-scanpackages: indexes the tests' local apt repositories
    util-linux        # mount, flock, prlimit; unshare and nsenter (SSH test hosts, booted
                      # containers, the @pid transport), runuser (PostgreSQL), findmnt (btrfs tests)
    mount             # losetup: loop devices for the btrfs and boot-disk images
    e2fsprogs         # mkfs.ext4 -d: the boot-disk image's root (ArchBootDisk)
    iproute2          # ip: network namespaces, veths and the bridge of the SSH test hosts
    systemd-container # systemd-nspawn: booted containers (live services) and booted SSH hosts
    postgresql        # the logbook's PostgreSQL tests start a private server from it (initdb, pg_ctl)
    btrfs-progs       # mkfs.btrfs, btrfs: the --snapshot tests on a loop-mounted btrfs image
    openssl           # the webhook-verification recipe of docs/capitain.md, run by internal/capitain/notify's tests
    minisign          # verifies the release's signed SHA256SUMS (internal/minisign, internal/release: interop)
    gnupg             # gpg: a throwaway PGP key for the sops interop test (internal/secrets)
    openssh-client    # ssh-agent, ssh-add: the transport's agent and ProxyJump test (a real agent)
    python3           # crypt(3) check of the hashes chpasswd wrote (cli secrets tests); Ansible's runtime; the cmdb example Soul (a boat in Python)
    nix-bin           # nix-instantiate: Ch-imera's NixOS modules evaluated offline (--store dummy://)
    guile-3.0         # guile: Ch-imera's Guix configs read back by the real reader
    ansible           # bench/fleet runs the same work with Ansible on the same hosts (make bench-fleet)
    grub-pc-bin grub-efi-amd64-bin # the Arch bootloader tests' grub-install/grub-mkconfig (BIOS, UEFI)
    dosfstools        # mkfs.vfat: the boot-disk image's ESP
    fdisk             # sfdisk: the boot-disk image's partition table
    fusefat           # mounts the image's FAT ESP (this kernel may lack vfat)
    qemu-system-x86   # qemu-system-x86_64: the installer test boots the installed image (TCG, serial console)
    ovmf              # OVMF.fd: the UEFI firmware the installer's UEFI test boots its image with
    xfsprogs          # mkfs.xfs: the installer's UEFI test formats an xfs /srv
    podman            # @podman/NAME targets: the tests' containers (an image imported from the cached
                      # Debian root, no registry) and the Docker-compatible API the docker CLI talks to
    runc              # the OCI runtime the tests' containers run with (testenv.StartContainer)
    docker.io         # the docker CLI of @docker/NAME and @dockerssh/HOST/NAME (against podman's API)
    chromium          # headless, through chromedp: the Styx site's search (internal/styx) and the Capitain web UI (internal/capitain/web)
    fonts-dejavu-core # a font for headless Chromium
    buildah           # builds Capitain's image from deploy/Dockerfile (deploy/image.sh, deploy's TestImage)
)

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
(cd deploy/helmtest && go mod download) # the Helm chart's tests: a module of their own
