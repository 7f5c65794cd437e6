package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// TestEnvFileDocumentsEveryFlag keeps systemd/wsd.env in step with the
// flags: every flag's WSD_* variable must appear in it.
func TestEnvFileDocumentsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("../../systemd/wsd.env")
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	var c config
	fs, _ := c.flagSet(func(string) string { return "" })
	fs.VisitAll(func(f *flag.Flag) {
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if !strings.Contains(env, name+"=") {
			t.Errorf("systemd/wsd.env does not document %s (--%s)", name, f.Name)
		}
	})
}
