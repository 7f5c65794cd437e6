// Command wsctl is the operator CLI of wsd. Only `wsctl version` exists so
// far; the admin API it drives is not built yet.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("wsctl", version)
		return
	}
	fmt.Fprintln(os.Stderr, "wsctl: the admin API is not built yet; only `wsctl version` works")
	os.Exit(2)
}
