// Command wsd is the WebSocket daemon: it terminates WebSocket connections,
// routes them to handlers, records every session in SQLite and drains on
// SIGTERM. See PRODUCT.md for the contract; `wsd -h` lists the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the daemon failed (start-up or shutdown)
	exitUsage = 2 // a bad flag, variable, route or config file
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, "wsd", version)
			return exitOK
		case "token":
			return tokenCommand(args[1:], getenv, stdout, stderr)
		case "help":
			args = []string{"-h"}
		}
	}
	cfg, err := loadConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsd: %v (see wsd -h)\n", err)
		return exitUsage
	}
	if err := serve(ctx, cfg, args, getenv, stderr); err != nil {
		fmt.Fprintf(stderr, "wsd: %v\n", err)
		return exitError
	}
	return exitOK
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: wsd [flags]\n       wsd token create --subject NAME --scope SCOPES [--ttl 24h] [--client --label K=V]\n       wsd version\n\nEvery flag can also be set with its WSD_* environment variable (--max-connections: WSD_MAX_CONNECTIONS)\nor in the --config file; flags win over the environment, which wins over the file.\n\nFlags:\n")
	var c config
	fs, _ := c.flagSet(func(string) string { return "" })
	fs.SetOutput(w)
	fs.PrintDefaults()
}
