package filedump

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	out := "@file 6 644 0 0 /etc/apt/sources.list.d/chaos-a.sources\nab\ncd\n\n@file 0 600 1000 1000 /etc/apt/keyrings/chaos-a.asc\n\n"
	files, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	a := files["/etc/apt/sources.list.d/chaos-a.sources"]
	k := files["/etc/apt/keyrings/chaos-a.asc"]
	if a.Content != "ab\ncd\n" || a.Mode != 0o644 || k.Content != "" || k.Mode != 0o600 || k.UID != 1000 || len(files) != 2 {
		t.Fatalf("%+v", files)
	}
	for _, bad := range []string{"garbage\n", "@file 99 644 0 0 /x\nshort\n", "@file -1 644 0 0 /x\n"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The real fragment, run by sh, round-trips content byte for byte (no trailing newline, spaces).
func TestScriptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{"a b.repo": "x\ny", "c.repo": "", "d.repo": "line\n"}
	for n, c := range want {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("/bin/sh", "-c", Script(dir+"/*.repo")).Output()
	if err != nil {
		t.Fatal(err)
	}
	files, err := Parse(string(out))
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range want {
		if f := files[filepath.Join(dir, n)]; f.Content != c || f.Mode != 0o640 {
			t.Errorf("%s: %+v", n, f)
		}
	}
}
