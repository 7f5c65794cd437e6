# wsd — build and test entry points. `make test` is what CI runs (through .ci/run).
GO      ?= go
PREFIX  ?= /usr/local
BIN     := bin
PKGS    := ./...

.PHONY: all build run test lint unit fuzz-smoke clean

all: build

build:
	$(GO) build -o $(BIN)/wsd ./cmd/wsd
	CGO_ENABLED=0 $(GO) build -o $(BIN)/wsctl ./cmd/wsctl

run: build
	./$(BIN)/wsd

# The whole suite: formatting, vet, staticcheck, then every test under the race detector.
test: lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

clean:
	rm -rf $(BIN)
