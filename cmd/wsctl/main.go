// Command wsctl is the operator's CLI of wsd (PRODUCT.md §11): it lists,
// inspects, sends to, broadcasts to and kills live connections, queries
// session history and the audit log, and watches connects and closes,
// all through the admin API (package admin/client). It links no part of
// the server and builds with CGO_ENABLED=0.
//
// Exit codes: 0 ok, 1 error (daemon unreachable, refused call), 2 usage
// (bad flag, argument or selector), 3 not found, 4 token refused or
// lacking a scope.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	wsdversion "github.com/wsd-dev/wsd/internal/version"
)

// stampedVersion may be set at build time with
// -ldflags "-X main.stampedVersion=v1.2.3"; see version.
var stampedVersion = "dev"

// version is wsctl's version: the stamped one, or what the toolchain
// recorded in the binary (module version or VCS revision).
var version = sync.OnceValue(func() string { return wsdversion.String(stampedVersion) })

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
