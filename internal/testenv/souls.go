package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AllKindsSoul installs internal/souls/testdata/allkinds (python3: the role stamp, the boat here,
// the connector here and the logbook sink tape) into a fresh Soul path, with its connector
// entering BASE/NAME for BASE = base. It returns the Soul path (for $CHAOS_SOUL_PATH or
// chaos.LoadSouls) and the Soul's directory, where it appends its pid to the file starts at each
// start and the sink writes the file tape.
func AllKindsSoul(t testing.TB, base string) (path, dir string) {
	t.Helper()
	RequireTool(t, "python3", "python3")
	path = filepath.Join(t.TempDir(), "souls")
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(path, "allkinds")
	if out, err := exec.Command("cp", "-r", filepath.Join(RepoRoot(t), "internal", "souls", "testdata", "allkinds"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp allkinds: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "base"), []byte(base+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// SoulStarts is how many times the Soul in dir started (AllKindsSoul's file starts), with the pids.
func SoulStarts(t testing.TB, dir string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "starts"))
	if os.IsNotExist(err) {
		return 0, ""
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(data))
	return len(strings.Fields(s)), s
}
