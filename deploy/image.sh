#!/bin/bash
# image.sh: build Capitain's container image (deploy/Dockerfile) with buildah, offline.
#
#   deploy/image.sh [TAG]          default TAG localhost/capitain:$VERSION
#   VERSION=1.2.3 deploy/image.sh  version of the binary (-X internal/cli.Version) and of the labels
#   CHAOS_BIN=FILE                 put this chaos binary in the image instead of building one (make
#                                  release passes its own amd64 binary, stamped with VERSION and REVISION)
#   REVISION=COMMIT                the revision label (default: git rev-parse HEAD)
#   SOURCE_DATE_EPOCH=SECONDS      the created label, and buildah's --timestamp: every file and the
#                                  image's creation time (default: the commit's time)
#
# Why the build context is prepared here and not in a Go builder stage: there is no container
# registry on the machines this project builds on, so `FROM golang` cannot be pulled. The static
# binary is built with the host's Go (the same command as `make build`, CGO_ENABLED=0, the native
# SSH worker embedded), and the image's few files come from Debian packages (`apt-get download`,
# unpacked with `dpkg-deb -x`): busybox-static (the build stage's shell and the health check's
# wget) and ca-certificates (the CA bundle for https:// repositories). The Dockerfile's first stage
# assembles the root file system from them; its last stage is FROM scratch.
#
# Needs: go (unless CHAOS_BIN), buildah, apt-get, dpkg-deb. Prints the image's tag, id and size.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
TAG=${1:-localhost/capitain:$VERSION}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

if [[ -n ${CHAOS_BIN:-} ]]; then
    cp "$CHAOS_BIN" "$ctx/chaos"
else
    go generate ./internal/transport/workerbin
    CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/ch-aos-ch/chaos/internal/cli.Version=$VERSION" \
        -o "$ctx/chaos" ./cmd/chaos
fi

mkdir -p "$ctx/debs" "$ctx/dl"
# APT::Sandbox::User: the _apt user cannot write into a mktemp directory (a warning otherwise)
(cd "$ctx/dl" && apt-get download -q -o APT::Sandbox::User=root busybox-static ca-certificates >/dev/null)
for deb in "$ctx"/dl/*.deb; do
    dpkg-deb -x "$deb" "$ctx/debs"
done
rm -rf "$ctx/dl"
cp deploy/Dockerfile deploy/capitain.yml "$ctx/"

buildah bud --quiet --format docker --layers=false --timestamp "$EPOCH" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED" \
    -t "$TAG" "$ctx" >/dev/null
buildah images --format "{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}" "$TAG"
