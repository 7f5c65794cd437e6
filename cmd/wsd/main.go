// Command wsd is the WebSocket daemon. Only `wsd version` exists so far; the
// daemon itself is the next piece of work.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("wsd", version)
		return
	}
	fmt.Fprintln(os.Stderr, "wsd: the daemon is not built yet; only `wsd version` works")
	os.Exit(2)
}
