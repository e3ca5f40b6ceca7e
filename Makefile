# grantd — see README.md.
GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 30s

.PHONY: run build test lint fuzz bench reliability clean

## run: serve on the embedded default (bbolt + dev key in ./data) at http://127.0.0.1:8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/grantd serve --data-dir ./data

## build: the binary in bin/grantd
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/grantd ./cmd/grantd

## test: vet, then every test with the race detector (fuzz seed corpora included);
## Chromium (UI tests) and etcd (real etcd processes in the fault tests) are
## installed from Debian when missing. The etcd fault test runs alone
## afterwards: its bounds are in seconds, with 2 s lock leases, and beside
## Chromium and the other packages on two cores it measured their load too.
FAULTTESTS := ^TestReplicasSurviveEtcdFaults$$
test:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v etcd >/dev/null || missing="$$missing etcd-server"; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -skip '$(FAULTTESTS)' ./...
	$(GO) test -race -count=1 -run '$(FAULTTESTS)' ./cmd/grantd/

## lint: go vet and staticcheck (installed from the module proxy into bin/)
lint:
	$(GO) vet ./...
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...

## bench: micro benchmarks (-benchmem), then proxy, refresh-storm and scale
## benchmarks on loopback with wrk (installed from Debian when missing), then
## the SVG charts into BENCHCHARTS (default docs/bench)
bench: build
	$(GO) build -o $(BIN)/grantd-bench ./cmd/grantd-bench
	@command -v wrk >/dev/null || { echo "installing wrk"; (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null; }
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./crypto/ ./grants/ ./datasource/... ./api/
	$(BIN)/grantd-bench -grantd $(BIN)/grantd -out $(BIN)/bench.json $(BENCHFLAGS) all
	$(BIN)/grantd-bench charts -in $(BIN)/bench.json -out $(or $(BENCHCHARTS),docs/bench)

## reliability: the crash, outage and misbehaving-upstream tests with their
## figures printed (KILLS=200 for a longer crash run)
reliability:
	GRANTD_CRASH_KILLS=$(or $(KILLS),20) $(GO) test -count=1 -v -run 'TestCrashConsistency|TestProviderOutage|TestMisbehavingUpstreams|TestConcurrentCallersOneTokenRequest' ./cmd/grantd/ ./grants/ ./api/ 2>&1 | grep -E '^(=== RUN|--- |ok|FAIL)|(_test.go:[0-9]+: )'

## fuzz: run every fuzz target for FUZZTIME (default 30s) each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN)
