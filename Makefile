# farmwatch — every target here is what CI runs (.ci/run); run them locally the same way.
#
#   make demo    a local collector, an enrolled agent's real check of this machine, and a simulated farm
#   make demo-stop  stop the collector make demo left running
#   make test    the whole test suite: go tests with the race detector, and the Windows code under Wine
#   make cross   the agent for all six targets (CGO_ENABLED=0), plus vet and test compilation per OS
#   make lint    gofmt, go vet and staticcheck
#   make bench   the benchmarks quoted in BENCHMARKS.md
#   make fuzz    every fuzz target for FUZZTIME each
#   make golden  rewrite golden files after a deliberate change (review the diff)

GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS    := -s -w -X github.com/farmwatch/farmwatch/agent.Version=$(VERSION) -X github.com/farmwatch/farmwatch/agent.Commit=$(COMMIT) -X github.com/farmwatch/farmwatch/collector/server.Version=$(VERSION)
TARGETS    := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
FUZZTIME   ?= 10s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN        := bin/farmwatch
COLLECTOR  := bin/farmwatch-collector
SERVER_TARGETS := linux/amd64 linux/arm64

.PHONY: all build demo demo-stop test test-go test-wine test-netns services cross lint bench fuzz golden clean

all: lint test cross

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./agent/cmd/farmwatch
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(COLLECTOR) ./collector/cmd/farmwatch-collector

demo: build
	@bash .ci/demo.sh

demo-stop:
	@if [ -f .demo/collector.pid ]; then kill $$(cat .demo/collector.pid) 2>/dev/null && echo "collector stopped" || echo "collector was not running"; rm -f .demo/collector.pid; fi

test: services test-go test-wine

# PostgreSQL (store conformance, two-node test) and rsyslog (syslog sink
# test) are real services; this starts or installs what is missing.
services:
	@bash .ci/services.sh

test-go:
	CGO_ENABLED=1 $(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

test-wine:
	bash .ci/wine-run.sh

# The colocation detector end to end in network namespaces (root).
test-netns:
	bash .ci/netns-test.sh

cross:
	@set -e; for t in $(TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/farmwatch-$$os-$$arch$$ext ./agent/cmd/farmwatch; \
	done
	@set -e; for t in $(SERVER_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; echo "build collector $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/farmwatch-collector-$$os-$$arch ./collector/cmd/farmwatch-collector; \
	done
	@set -e; for os in windows darwin linux; do \
		echo "vet and compile tests for $$os"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=amd64 $(GO) vet ./...; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=amd64 $(GO) test -count=1 -exec=true ./... > /dev/null; \
	done
	@ls -l dist/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for os in linux windows darwin; do echo "vet $$os"; GOOS=$$os $(GO) vet ./...; done
	GOBIN=$(CURDIR)/bin $(GO) install $(STATICCHECK)
	@set -e; for os in linux windows darwin; do echo "staticcheck $$os"; GOOS=$$os bin/staticcheck ./...; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./detectors/... ./transport/... ./collector/...
	bash .ci/scan-cost.sh

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

golden:
	$(GO) test ./detectors/remoteaccess/ ./detectors/kvm/ ./detectors/colocation/ ./detectors/geodrift/ ./detectors/netinfo/ ./agent/ ./agent/svc/ ./agent/cmd/farmwatch/ -update

clean:
	rm -rf bin dist .demo
