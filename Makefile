# wsd — build and test entry points. `make test` is what CI runs (through .ci/run).
GO         ?= go
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DESTDIR    ?=
BIN        := bin
PKGS       := ./...
# The version both binaries report (wsd --version, wsctl --version): the
# checkout's tag or commit, else what the Go toolchain records.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.stampedVersion=$(VERSION)

.PHONY: all build run test lint unit clean install uninstall

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/wsd ./cmd/wsd
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/wsctl ./cmd/wsctl

run: build
	./$(BIN)/wsd

# The whole suite: formatting, vet, staticcheck, then every test under the race detector.
test: lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

clean:
	rm -rf $(BIN)

# install puts the binaries, the systemd units and the example settings in
# place (PREFIX and DESTDIR respected). An existing /etc/wsd/wsd.env is kept.
# Then: systemctl daemon-reload && systemctl enable --now wsd.socket wsd-admin.socket wsd.service
install: build
	install -D -m 0755 $(BIN)/wsd $(DESTDIR)$(BINDIR)/wsd
	install -D -m 0755 $(BIN)/wsctl $(DESTDIR)$(BINDIR)/wsctl
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/wsd.service > $(DESTDIR)$(UNITDIR)/wsd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/wsd.service
	install -m 0644 systemd/wsd.socket systemd/wsd-admin.socket $(DESTDIR)$(UNITDIR)/
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/wsd
	test -e $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.env || install -m 0640 systemd/wsd.env $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.env

# uninstall removes what install put in place except the settings in
# $(SYSCONFDIR)/wsd and the state in /var/lib/wsd (history, keys).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/wsd $(DESTDIR)$(BINDIR)/wsctl
	rm -f $(DESTDIR)$(UNITDIR)/wsd.service $(DESTDIR)$(UNITDIR)/wsd.socket $(DESTDIR)$(UNITDIR)/wsd-admin.socket
