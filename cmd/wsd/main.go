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
	"strings"
	"sync"

	"github.com/wsd-dev/wsd/internal/version"
)

// stampedVersion may be set at build time with
// -ldflags "-X main.stampedVersion=v1.2.3"; see buildVersion.
var stampedVersion = "dev"

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
		case "version", "--version", "-version":
			fmt.Fprintln(stdout, "wsd", buildVersion())
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

// buildVersion is the version wsd reports: the stamped one, or what the
// toolchain recorded (module version or VCS revision).
var buildVersion = sync.OnceValue(func() string { return version.String(stampedVersion) })

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: wsd [flags]\n       wsd token create --subject NAME --scope SCOPES [--ttl 24h] [--client --label K=V]\n       wsd version\n\nEvery flag can also be set with its WSD_* environment variable (--max-connections: WSD_MAX_CONNECTIONS)\nor in the --config file; flags win over the environment, which wins over the file.\n\nFlags:\n")
	var c config
	fs, _ := c.flagSet(func(string) string { return "" })
	printFlags(w, fs)
}

// printFlags lists fs's flags as they are written everywhere else in wsd's
// help and documentation: --name VALUE, then the usage and the default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "[]" {
			line += fmt.Sprintf(" (default %s)", d)
		}
		fmt.Fprintln(w, line)
	})
}
