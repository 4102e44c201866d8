# Ch-aOS — build, test, demo, bench. `make test` and `make demo` work on a fresh Debian 12 machine as
# root: they install the Debian packages they need (scripts/deps.sh) and build the cached test root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED ?= 0

GO        ?= go
BIN       := bin/chaos
PKG       := ./cmd/chaos
TEST_TIMEOUT ?= 20m
TEST_FLAGS   ?=
TEST_PKGS    ?= ./...
LDFLAGS   := -s -w

.PHONY: all build man workers release deps fixture test demo bench bench-fleet fmt vet clean

all: build

# The native SSH worker (cmd/chaos-worker) for each architecture, embedded into chaos.
workers:
	$(GO) generate ./internal/transport/workerbin

build: workers
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)
	@echo "built $(BIN)"

# The man pages, generated from the commands (`chaos man`).
man: build
	rm -rf bin/man
	$(BIN) man -o bin/man

# A release into dist/VERSION (docs/release.md): static amd64 and arm64 binaries stamped with VERSION
# and the commit, tarballs, .deb, .rpm and Arch packages, the PKGBUILD, and SHA256SUMS signed with
# KEY (an unencrypted minisign secret key file; default: $CHAOS_SIGNING_KEY's content).
# UNSIGNED=1: a trial build without the signature.
release:
	@[[ -n "$(VERSION)" ]] || { echo "usage: make release VERSION=x.y.z [KEY=FILE | UNSIGNED=1]" >&2; exit 2; }
	$(GO) run ./internal/release/cmd/chaos-release -version '$(VERSION)' -out 'dist/$(VERSION)' \
	  $(if $(KEY),-key '$(KEY)') $(if $(UNSIGNED),-unsigned)

deps:
	@bash scripts/deps.sh

# The cached Debian, Arch-flavoured and Fedora-flavoured roots (scripts/*-root.sh), built once up front
# so that parallel test packages do not all wait on (or race to) the one-time builds. The three builds
# are independent (each has its own lock) and mostly wait on the mirror, so they run side by side,
# with the outside tools the secrets tests run (the upstream sops CLIs and local-kms, built from the
# Go module proxy by internal/secrets/secretstest's TestToolsBuild, cached beside the roots).
fixture: deps
	@start=$$SECONDS; pids=(); \
	for s in debian arch fedora; do \
	  ( bash scripts/$$s-root.sh >/tmp/chaos-fixture-$$s.log 2>&1 || { echo "fixture $$s failed:"; tail -n 40 /tmp/chaos-fixture-$$s.log; exit 1; } ) & pids+=($$!); \
	done; \
	( $(GO) test -count=1 -run '^TestToolsBuild$$' ./internal/secrets/secretstest/ >/tmp/chaos-fixture-tools.log 2>&1 || { echo "fixture tools failed:"; tail -n 40 /tmp/chaos-fixture-tools.log; exit 1; } ) & pids+=($$!); \
	rc=0; for p in "$${pids[@]}"; do wait $$p || rc=1; done; \
	[ $$rc -eq 0 ] && echo "fixture: Debian, Arch and Fedora roots and the secrets tests' tools ready ($$((SECONDS - start)) s)"; exit $$rc

test: deps fixture workers
	@TEST_TIMEOUT=$(TEST_TIMEOUT) TEST_PKGS='$(TEST_PKGS)' bash scripts/test.sh $(TEST_FLAGS)

demo: deps build
	@if [[ ! -f scripts/demo.sh ]]; then echo "scripts/demo.sh is not written yet" >&2; exit 1; fi
	bash scripts/demo.sh

# Every Go benchmark, then every bench/*.sh; each measure against its target (binary size, start-up,
# noop-250 and the 1,000-vs-10 ratios) is printed again at the end, one line each.
bench: build fixture
	@shopt -s nullglob; sum=$$(mktemp); trap 'rm -f "$$sum"' EXIT; \
	CHAOS_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchmem ./... 2>&1 | tee -a "$$sum"; \
	for s in bench/*.sh; do echo "== $$s"; bash "$$s" 2>&1 | tee -a "$$sum"; done; \
	echo "== measures against their targets (DESIGN §7)"; \
	grep -E 'target <= [0-9.]+ ?(x|MiB|ms)' "$$sum" | sed -E 's/^ *[a-z_]+\.go:[0-9]+: //' || true

# chaos against Ansible on 1, 10, 30 and 50 real SSH hosts (docs/performance.md); takes an hour or more
# on a 2-core machine, so it is not part of `make bench`.
bench-fleet: build fixture
	CHAOS_BIN=$(BIN) bash bench/fleet/run.sh

fmt:
	find . -name '*.go' -not -path './bin/*' -not -path './.git/*' -print0 | xargs -0 -r gofmt -s -w

vet:
	$(GO) vet ./...

clean:
	rm -rf bin internal/transport/workerbin/bin/chaos-worker-linux-*
	$(GO) clean -testcache
