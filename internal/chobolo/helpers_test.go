package chobolo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memFS serves imports, templates and key files from memory.
type memFS map[string]string

func (m memFS) read(name string) ([]byte, error) {
	if s, ok := m[filepath.ToSlash(filepath.Clean(name))]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// loadString loads src as c.yml (plus the files of fsys) and returns the Ch-obolo and the error
// lines, one diagnostic each.
func loadString(t *testing.T, src string, fsys memFS) (*Chobolo, []string) {
	t.Helper()
	c, err := LoadBytes("c.yml", []byte(dedent(src)), LoadOptions{ReadFile: fsys.read})
	return c, errLines(t, err)
}

func errLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want chobolo.Errors: %v", err, err)
	}
	return strings.Split(errs.Error(), "\n")
}

// mustLoad loads src and fails the test on any error.
func mustLoad(t *testing.T, src string, fsys memFS) *Chobolo {
	t.Helper()
	c, errs := loadString(t, src, fsys)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%s", strings.Join(errs, "\n"))
	}
	return c
}

// dedent removes the common leading tabs of a raw-string test document, so that documents can be
// indented with the test code. YAML itself is indented with spaces after the tabs.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	lines := strings.Split(s, "\n")
	prefix := ""
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		p := l[:len(l)-len(strings.TrimLeft(l, "\t"))]
		if prefix == "" || len(p) < len(prefix) {
			prefix = p
		}
	}
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(lines, "\n")
}

// writeTree writes files under dir and returns dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(dedent(content)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n got:\n  %s\n want:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
