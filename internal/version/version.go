// Package version says which build of wsd and wsctl is running: the
// version stamped at link time when there is one, otherwise what the Go
// toolchain recorded in the binary (the module version for `go install
// …@v1.2.3`, the VCS revision and whether the tree was modified for a build
// from a checkout).
package version

import (
	"runtime/debug"
	"strings"
)

// String returns the version of the running binary. stamped is the value
// set with -ldflags "-X main.version=…" ("dev" or "" when none was).
func String(stamped string) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	var b strings.Builder
	b.WriteString("dev-")
	b.WriteString(rev[:min(12, len(rev))])
	if modified == "true" {
		b.WriteString("-dirty")
	}
	if at != "" {
		b.WriteString(" (" + at + ")")
	}
	return b.String()
}
