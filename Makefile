# chartroom
#
#   make test     everything CI runs, stopping at the first failure: go vet, gofmt, staticcheck,
#                 unit tests, the black-box e2e tests (real helm v3/v4, oras, crane, cosign) and the OCI
#                 conformance suite
#   make build    bin/chartroom
#   make tools    build the pinned peer tools once (cached outside the repo by scripts/tools.sh)
#
# The first `make test` on a machine builds the peer tools from source (12 minutes on a shared
# 2-core machine from empty Go caches); later runs reuse them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

BIN       := $(CURDIR)/bin/chartroom
TOOLS_ENV := $(CURDIR)/bin/tools.env
# The peer tools the tests need (scripts/tools.sh names); add one here when a test starts using it.
TEST_TOOLS := helm3 helm4 oras crane conformance staticcheck cmpush cosign versitygw
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X github.com/chartroom/chartroom/internal/cli.Version=$(VERSION) -X github.com/chartroom/chartroom/internal/cli.Commit=$(COMMIT)
E2E_TIMEOUT ?= 20m

# fail prints which step failed and stops make.
fail = { echo >&2; echo "make test: FAILED at $(1)" >&2; exit 1; }
step = echo "==> $(1)"

.PHONY: test build tools vet fmt staticcheck unit unit-s3 e2e conformance clean

# The tests built on registrytest, which run again with the blob store in S3 (a real versitygw).
S3_SUITES := ./internal/registry/... ./internal/server/oci/ ./internal/server/repo/

test: vet fmt staticcheck unit unit-s3 e2e conformance
	@echo "make test: everything passed"

build:
	@$(call step,build $(BIN))
	@go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/chartroom || $(call fail,build)

tools:
	@$(call step,peer tools: $(TEST_TOOLS))
	@mkdir -p $(dir $(TOOLS_ENV))
	@scripts/tools.sh $(TEST_TOOLS) > $(TOOLS_ENV).tmp || $(call fail,building the peer tools (scripts/tools.sh))
	@mv $(TOOLS_ENV).tmp $(TOOLS_ENV)

vet:
	@$(call step,go vet)
	@go vet ./... || $(call fail,go vet)
	@(cd e2e && go vet ./...) || $(call fail,go vet in e2e/)

fmt:
	@$(call step,gofmt)
	@files="$$(gofmt -l . )"; if [ -n "$$files" ]; then echo "not gofmt-formatted (run gofmt -w on them):" >&2; echo "$$files" >&2; $(call fail,gofmt); fi

staticcheck: tools
	@$(call step,staticcheck)
	@set -a; . $(TOOLS_ENV); set +a; \
	  "$$CHARTROOM_STATICCHECK" ./... || $(call fail,staticcheck); \
	  (cd e2e && "$$CHARTROOM_STATICCHECK" ./...) || $(call fail,staticcheck in e2e/)

# The packages whose tests run on the metadata database, run again on PostgreSQL (pgtest).
PG_PACKAGES := ./internal/meta/... ./internal/registry/... ./internal/server/oci ./internal/server/repo ./internal/webhook

unit:
	@$(call step,unit tests: go test ./...)
	@go test ./... || $(call fail,unit tests)
	@$(call step,unit tests on PostgreSQL: CHARTROOM_TEST_DATABASE=postgres go test $(PG_PACKAGES))
	@CHARTROOM_TEST_DATABASE=postgres go test $(PG_PACKAGES) || $(call fail,unit tests on PostgreSQL)

# The registry suites on the scale-out pair, PostgreSQL + S3 (versitygw), beside SQLite +
# filesystem (unit) and PostgreSQL + filesystem (unit, again).
unit-s3: tools
	@$(call step,unit tests on PostgreSQL + S3: CHARTROOM_TEST_DATABASE=postgres CHARTROOM_TEST_STORAGE=s3 go test $(S3_SUITES))
	@set -a; . $(TOOLS_ENV); set +a; \
	  CHARTROOM_TEST_DATABASE=postgres CHARTROOM_TEST_STORAGE=s3 go test -count=1 $(S3_SUITES) || $(call fail,unit tests on PostgreSQL + S3)

e2e: build tools
	@$(call step,e2e tests against $(BIN))
	@set -a; . $(TOOLS_ENV); set +a; \
	  cd e2e && CHARTROOM_BIN=$(BIN) go test -count=1 -timeout $(E2E_TIMEOUT) ./... || $(call fail,e2e tests)

conformance: build tools
	@if [ -x scripts/conformance.sh ]; then \
	  $(call step,OCI conformance: scripts/conformance.sh); \
	  set -a; . $(TOOLS_ENV); set +a; \
	  CHARTROOM_BIN=$(BIN) scripts/conformance.sh || $(call fail,OCI conformance (scripts/conformance.sh)); \
	else echo "==> OCI conformance: scripts/conformance.sh not present, skipped"; fi

clean:
	rm -rf bin
