# qxfer — run `make help` for the targets.
GO       ?= go
BIN      ?= bin/qxfer
PKGS     := ./...
FUZZTIME ?= 20s
# Tools the tests run (versitygw, the S3 store of the S3 root tests) go
# into .tools/, which the tests find on PATH.
TOOLS    := $(CURDIR)/.tools
VERSITYGW_VERSION := v1.8.0
export PATH := $(TOOLS):$(PATH)

.PHONY: help build tools demo-s3 test vet race soak cross lint vulncheck fuzz fuzz-short bench microbench demo clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/qxfer
	$(GO) build -o $(BIN) ./cmd/qxfer

tools: $(TOOLS)/versitygw ## install the tools the tests need into .tools/ (versitygw, an S3 store)

$(TOOLS)/versitygw:
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

vet: ## go vet
	$(GO) vet $(PKGS)

# -p 1: one package at a time. The session tests measure a live link (the
# Auto pool's RTT rise, pipelining round trips) and fail when cmd/qxfer's
# tests load the same 2 cores at once; one at a time costs about 3 minutes.
race: tools ## go test -race -shuffle=on, one package at a time (the seed is printed; rerun one order with -shuffle=SEED)
	$(GO) test -race -shuffle=on -p 1 -timeout 25m $(PKGS)

soak: ## long soak: hundreds of transfers under loss, reordering, outages and client kills
	$(GO) test -race -run '^TestSoak$$' -timeout 30m ./session/ -soak.transfers=400

# cross also vets for darwin and windows, test files included (bench is
# Linux only): a test using a Unix-only call belongs in a _unix or _linux
# file.
cross: ## build for darwin and windows (laptop users), and vet there, tests included
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=darwin GOARCH=amd64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./certs/... ./cmd/... ./internal/... ./quicx/... ./session/...
	GOOS=windows GOARCH=amd64 $(GO) vet ./certs/... ./cmd/... ./internal/... ./quicx/... ./session/...

# fuzz-short turns minimization off: a new input found in the last moments
# of a 3 s run was being minimized when -fuzztime ended, and go test
# reported "context deadline exceeded" as a failure (internal/fuzz: both
# minimize limits zero disable it). A crasher is then kept unminimized.
fuzz-short: ## run every fuzz target briefly (CI)
	$(MAKE) fuzz FUZZTIME=3s FUZZFLAGS=-fuzzminimizetime=0

test: vet lint vulncheck race cross fuzz-short ## vet, staticcheck, govulncheck, shuffled race tests (import arrows included), cross-builds, short fuzzing

lint: ## staticcheck (pinned by the tool directive in go.mod)
	$(GO) tool staticcheck $(PKGS)

vulncheck: ## govulncheck (pinned in go.mod); where vuln.go.dev is unreachable it prints a loud SKIPPED and does not fail
	GO=$(GO) ./scripts/vulncheck.sh

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS); \
	  done; \
	done

bench: ## as root: qxfer vs scp, rsync and raw quic-go on emulated links, plus microbench; rewrites BENCHMARKS.md (BENCH_QUICK=1: smoke test)
	$(GO) run ./bench/benchrun

microbench: ## Go micro-benchmarks only (codec, data path, pipelining through the delay proxy), with -benchmem
	$(GO) test -run '^$$' -bench . -benchmem ./session/internal/wire/
	$(GO) test -run '^$$' -bench '^Benchmark(PushLoopback64MiB|PushManySmallRTT|PullManySmallRTT)$$' -benchmem -benchtime 3x ./session/

demo: build ## build, start a server on loopback, push and pull real files
	./scripts/demo.sh $(BIN)

demo-s3: build tools ## the demo against an S3 root: versitygw on loopback, qxfer serve --root s3://..., push, pull, and the store's own view
	./scripts/demo-s3.sh $(BIN)

clean: ## remove build output
	rm -rf bin
