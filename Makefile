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

.PHONY: all build deps fixture test demo bench fmt vet clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)
	@echo "built $(BIN)"

deps:
	@bash scripts/deps.sh

# The cached Debian root (scripts/debian-root.sh). Built once up front so that parallel test packages
# do not all wait on (or race to) the one-time build.
fixture: deps
	@start=$$SECONDS; bash scripts/debian-root.sh >/dev/null; \
	echo "fixture: Debian root ready ($$((SECONDS - start)) s)"
	@start=$$SECONDS; bash scripts/arch-root.sh >/dev/null; \
	echo "fixture: Arch-flavoured root ready ($$((SECONDS - start)) s)"
	@start=$$SECONDS; bash scripts/fedora-root.sh >/dev/null; \
	echo "fixture: Fedora-flavoured root ready ($$((SECONDS - start)) s)"

test: deps fixture
	@TEST_TIMEOUT=$(TEST_TIMEOUT) TEST_PKGS='$(TEST_PKGS)' bash scripts/test.sh $(TEST_FLAGS)

demo: deps build
	@if [[ ! -f scripts/demo.sh ]]; then echo "scripts/demo.sh is not written yet" >&2; exit 1; fi
	bash scripts/demo.sh

bench: build fixture
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@shopt -s nullglob; for s in bench/*.sh; do echo "== $$s"; bash "$$s"; done

fmt:
	find . -name '*.go' -not -path './bin/*' -not -path './.git/*' -print0 | xargs -0 -r gofmt -s -w

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
	$(GO) clean -testcache
