# p1001: see README.md. Every target is a thin wrapper over go or hack/.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# make chaos LABELS='smoke' passes a Ginkgo label filter; PROCS=N runs N
# Ginkgo processes, each with its own stack; SHARD=i/n plays shard i of n.
LABELS ?=
export LABELS FORCE GINKGO_FLAGS PROCS SHARD
# make p1001 FAULT=black-hole ARGS=-i KEEP=1 SHOW_SECRETS=1
export FAULT ARGS KEEP SHOW_SECRETS

# make doctor URL='postgresql://...' DOCTOR_FLAGS='-json' (URL defaults to $DATABASE_URL)
export URL DOCTOR_FLAGS

.PHONY: help test integration chaos p1001 doctor images clean lint fmt

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# make test compiles every package once, race-instrumented: go test runs the
# tests, then go vet -tags chaos ./... vets every package, tests and the
# chaos-tagged suites/chaos included, on the packages go test compiled. Vet
# runs once, there: go test -vet=all vetted everything too, and go vet cannot
# reuse that (Go 1.26's go vet passes -json, and -tags, to the analyzers,
# which are part of its cache key), so it was done twice. GOFLAGS, not flags,
# so that tests which run go themselves (suites/report's red suite) build in
# the same mode; make lint uses the same vet, so CI compiles once.
# -ldflags=-w: test binaries without DWARF link faster; stack traces do not
# need it.
RACE_GOFLAGS = GOFLAGS="-race -ldflags=-w $(GOFLAGS)"

test: ## go test -race ./..., then the full go vet -tags chaos ./... (tests and suites/chaos included); every package compiled once, with -race; needs Go only (no Docker, no database)
	$(RACE_GOFLAGS) go test -count=1 -vet=off ./...
	$(RACE_GOFLAGS) go vet -tags chaos ./...

integration: ## integration-tagged tests (bot/store, bot/cmd/bot, bot/app) against a throwaway local PostgreSQL, or P1001_TEST_DATABASE_URL (no Docker)
	hack/integration.sh

chaos: ## build missing images, run the Ginkgo chaos suites, write reports/<run>/ (TARGET=targets/<bot>.yaml, LABELS=, PROCS=N stacks side by side, SHARD=i/n of the catalog) (needs Docker)
	hack/chaos.sh

p1001: ## reproduce P1001 with narration (FAULT=outage|black-hole|reset_peer|latency|client-limit|password-rotation|missing-pgbouncer, ARGS=-i console, KEEP=1) (needs Docker)
	hack/p1001.sh

doctor: ## check URL (default: the DATABASE_URL variable) step by step and name the cause of a P1001 (DOCTOR_FLAGS=-json)
	@go build -o bin/bot ./bot/cmd/bot
	@DATABASE_URL="$${URL:-$${DATABASE_URL:-}}" bin/bot doctor $(DOCTOR_FLAGS)

images: ## build the offline images (FORCE=1 rebuilds present ones)
	hack/images/build.sh

clean: ## remove leftover containers and networks by label (IMAGES=1, REPORTS=1: those too)
	hack/clean.sh

# make report RUN=reports/<run> rebuilds that run's report from its histories;
# make report MERGE='reports/a reports/b' OUT=reports/merged merges runs (shards).
RUN ?= reports/latest
MERGE ?=
OUT ?= reports/merged
.PHONY: report report-screenshot

report: ## rebuild report.json, report.md, index.html of RUN (default reports/latest) from its histories; MERGE='dirs' OUT=dir merges runs into one report; no containers
	@if [ -n "$(MERGE)" ]; then go run ./hack/report -out "$(OUT)" $(MERGE); else go run ./hack/report "$(RUN)"; fi

report-screenshot: ## render RUN's index.html in headless Chromium to index.png (installs chromium when root)
	RUN="$(RUN)" hack/report/screenshot.sh

# make bench BENCH_FLAGS='-cycles 8' passes flags to suites/cmd/bench (-h lists them).
.PHONY: bench

bench: ## time to fallback (runbook config vs p1001), recovery, overhead, throughput: reports/bench/<time>.md (needs Docker, ~6 min)
	hack/bench.sh

lint: ## gofmt, go vet -tags chaos ./... (with -race, as make test), actionlint on .github/workflows (with shellcheck on their run: scripts when installed)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(RACE_GOFLAGS) go vet -tags chaos ./...
	go tool actionlint
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck .github/scripts/*.sh; \
	else echo "lint: shellcheck is not installed: actionlint skipped the workflow's run: scripts (apt-get install shellcheck)"; fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')
