package souls_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// `chaos soul new` writes a Soul that passes `chaos soul test` as written, in each language (the
// Go one once built, against this checkout of chaos), with its probes on a read-only overlay of a
// real Debian root.
func TestScaffoldPassesSoulTest(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	base := testenv.BaseRoot(t)
	for _, lang := range []string{"go", "python", "sh"} {
		t.Run(lang, func(t *testing.T) {
			if lang == "python" {
				testenv.RequireTool(t, "python3", "python3")
			}
			name := "demo-" + lang
			dir := filepath.Join(t.TempDir(), name)
			if out, code := chaosRun(t, "soul", "new", name, "--lang", lang, "-o", dir); code != 0 {
				t.Fatalf("soul new (exit %d):\n%s", code, out)
			}
			if lang == "go" {
				buildScaffold(t, dir, name)
			}
			out, code := chaosRun(t, "soul", "test", dir, "--root", base)
			if code != 0 || !strings.Contains(out, dir+" passes") || !strings.Contains(out, "ok   read-only probe") {
				t.Fatalf("soul test (exit %d):\n%s", code, out)
			}
		})
	}
}

// `chaos soul test` fails, naming what broke, for a probe that writes to the host and for a bad
// manifest.
func TestSoulTestFailures(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	base := testenv.BaseRoot(t)
	dir := filepath.Join(t.TempDir(), "writer")
	if out, code := chaosRun(t, "soul", "new", "writer", "--lang", "sh", "-o", dir); code != 0 {
		t.Fatalf("soul new (exit %d):\n%s", code, out)
	}
	sh := readText(t, filepath.Join(dir, "soul.sh"))
	writeFile(t, dir, "soul.sh", strings.Replace(sh, "cat /etc/writer.conf 2>/dev/null; true", "touch /etc/writer.written", 1))
	out, code := chaosRun(t, "soul", "test", dir, "--root", base)
	if code != 1 || !strings.Contains(out, "FAIL read-only probe: the probe wrote to the host: /etc, /etc/writer.written") {
		t.Fatalf("a probe that writes (exit %d):\n%s", code, out)
	}
	if testenv.Exists(t, base, "/etc/writer.written") {
		t.Fatal("the probe wrote to the root itself")
	}
	writeFile(t, dir, "soul.yaml", "name: writer\nversion: 1\nprotocol: 2\nexec: [sh, soul.sh]\n")
	if out, code := chaosRun(t, "soul", "test", dir, "--root", base); code != 1 || !strings.Contains(out, "FAIL manifest: "+dir+"/soul.yaml:3:1: protocol 2: this chaos speaks protocol 1") {
		t.Fatalf("a bad manifest (exit %d):\n%s", code, out)
	}
}

// buildScaffold builds a `soul new --lang go` Soul against this checkout, offline.
func buildScaffold(t *testing.T, dir, name string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	for _, args := range [][]string{
		{"mod", "edit", "-replace", "github.com/ch-aos-ch/chaos=" + testenv.RepoRoot(t)},
		{"mod", "tidy"},
		{"build", "-o", name, "."},
	} {
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// A Soul in python3 (the scaffold's, standard library only) is a role like any other: installed
// by copying its directory, it plans, applies, and its rerun is empty.
func TestPythonSoulApplies(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "python3", "python3")
	isolate(t)
	src := filepath.Join(t.TempDir(), "motd-py")
	if out, code := chaosRun(t, "soul", "new", "motd-py", "--lang", "python", "-o", src); code != 0 {
		t.Fatalf("soul new (exit %d):\n%s", code, out)
	}
	installSoul(t, src, "", "")
	root := testenv.DebianRoot(t)
	file := writeFile(t, t.TempDir(), "m.yml", "motd-py:\n  text: hello from python\n")
	target := "@chroot" + root
	if out, code := chaosRun(t, "apply", "-c", file, "--target", target, "--dry"); code != 2 || !strings.Contains(out, "write /etc/motd-py.conf (18 bytes, mode 0644, owner root:root)") {
		t.Fatalf("--dry (exit %d):\n%s", code, out)
	}
	if out, code := chaosRun(t, "apply", "-c", file, "--target", target, "-y"); code != 0 {
		t.Fatalf("apply (exit %d):\n%s", code, out)
	}
	if got := testenv.ReadFile(t, root, "/etc/motd-py.conf"); got != "hello from python\n" {
		t.Fatalf("/etc/motd-py.conf: %q", got)
	}
	if out, code := chaosRun(t, "apply", "-c", file, "--target", target, "--dry"); code != 0 {
		t.Fatalf("rerun not empty (exit %d):\n%s", code, out)
	}
	if out, code := chaosRun(t, "explain", "motd-py"); code != 0 || !strings.Contains(out, "/etc/motd-py.conf") {
		t.Fatalf("explain (exit %d):\n%s", code, out)
	}
}

// `chaos soul test` asks a Soul for every kind its manifest declares: the allkinds Soul (a role, a
// boat, a connector and a logbook sink in one python3 process) passes, each kind answered by the
// one process; a Ch-imera back end its process does not serve fails the test, naming it.
func TestSoulTestEveryKind(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	base := testenv.BaseRoot(t)
	_, dir := testenv.AllKindsSoul(t, t.TempDir())
	out, code := chaosRun(t, "soul", "test", dir, "--root", base)
	for _, want := range []string{"ok   boat here: answered boat.hosts", "ok   connector here: answered connector.open",
		"ok   logbook sink tape: took a logbook.event and still answers", "ok   role stamp: ", "ok   one process: ", dir + " passes"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("soul test (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	if n, pids := testenv.SoulStarts(t, dir); n != 1 {
		t.Fatalf("soul test started the Soul %d times (pids %s)", n, pids)
	}
	manifest := testenv.ReadFile(t, dir, "soul.yaml")
	if err := os.WriteFile(filepath.Join(dir, "soul.yaml"), []byte(manifest+"chimera:\n  - name: ghost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := chaosRun(t, "soul", "test", dir, "--root", base); code != 1 ||
		!strings.Contains(out, "FAIL Ch-imera back end ghost: soul allkinds: chimera.compile: unknown method chimera.compile") {
		t.Fatalf("a back end the process does not serve: exit %d\n%s", code, out)
	}
}
