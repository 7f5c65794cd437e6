// Package systemd holds wsd's unit files; its tests check them with
// systemd-analyze and exercise `make install`.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxExposure is the highest `systemd-analyze security` exposure accepted
// for wsd.service, ×10 as --threshold takes it (2.0).
const maxExposure = "20"

// install runs `make install` into a temporary DESTDIR and returns it with
// the prefix used.
func install(t *testing.T) (destdir, prefix string) {
	t.Helper()
	destdir = t.TempDir()
	prefix = "/usr"
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+destdir, "PREFIX="+prefix, "BIN="+filepath.Join(t.TempDir(), "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	return destdir, prefix
}

func TestInstallAndUninstall(t *testing.T) {
	destdir, prefix := install(t)
	want := []string{
		prefix + "/bin/wsd", prefix + "/bin/wsctl",
		prefix + "/lib/systemd/system/wsd.service", prefix + "/lib/systemd/system/wsd.socket", prefix + "/lib/systemd/system/wsd-admin.socket",
		"/etc/wsd/wsd.env",
	}
	for _, f := range want {
		if _, err := os.Stat(filepath.Join(destdir, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(destdir, prefix, "lib/systemd/system/wsd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart="+prefix+"/bin/wsd\n") {
		t.Fatalf("ExecStart not rewritten for the prefix:\n%s", unit)
	}
	// A second install keeps an edited settings file.
	env := filepath.Join(destdir, "etc/wsd/wsd.env")
	if err := os.WriteFile(env, []byte("WSD_LISTEN=:9000\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+destdir, "PREFIX="+prefix, "BIN="+filepath.Join(t.TempDir(), "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second make install: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(env); string(b) != "WSD_LISTEN=:9000\n" {
		t.Fatalf("install overwrote the settings: %q", b)
	}
	cmd = exec.Command("make", "-C", "..", "uninstall", "DESTDIR="+destdir, "PREFIX="+prefix)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	for _, f := range want[:5] {
		if _, err := os.Stat(filepath.Join(destdir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind by uninstall", f)
		}
	}
	if _, err := os.Stat(env); err != nil {
		t.Errorf("uninstall removed the settings: %v", err)
	}
}

// unitsForAnalyze writes the units with ExecStart pointing at a really
// built wsd binary, as systemd-analyze verify checks that it exists.
func unitsForAnalyze(t *testing.T) []string {
	t.Helper()
	destdir, prefix := install(t)
	bin := filepath.Join(destdir, prefix, "bin")
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"wsd.service", "wsd.socket", "wsd-admin.socket"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "@BINDIR@", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func analyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is needed (Debian package systemd): %v", err)
	}
	return p
}

// TestUnitsVerify runs systemd-analyze verify, which exits 0 even on
// unknown keys, so any output at all is a failure.
func TestUnitsVerify(t *testing.T) {
	tool := analyze(t)
	units := unitsForAnalyze(t)
	out, err := exec.Command(tool, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestServiceExposure(t *testing.T) {
	tool := analyze(t)
	units := unitsForAnalyze(t)
	out, err := exec.Command(tool, "security", "--offline=yes", "--threshold="+maxExposure, units[0]).CombinedOutput()
	last := string(out)
	if i := strings.LastIndex(last, "Overall exposure level"); i >= 0 {
		last = last[i:]
	}
	if err != nil {
		t.Fatalf("exposure above %s/10: %v\n%s", maxExposure, err, out)
	}
	t.Log(strings.TrimSpace(last))
}
