package chobolo

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (go test -update rewrites it):\n got:\n%s\n want:\n%s", name, got, want)
	}
}

// The hostile corpus: names with $(), backticks, ;, newlines, a leading -, ../ in paths. Every one is
// refused, each at its own FILE:LINE:COL (golden file), and nothing else loads.
func TestHostileCorpus(t *testing.T) {
	src, err := os.ReadFile("testdata/hostile.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadBytes("testdata/hostile.yml", src, LoadOptions{ReadFile: memFS{}.read})
	if c != nil || err == nil {
		t.Fatal("hostile Ch-obolo loaded")
	}
	lines := errLines(t, err)
	golden(t, "hostile.golden", strings.Join(lines, "\n")+"\n")
	// Every hostile value in the corpus is quoted; each quoted value must have an error at its position.
	for i, line := range strings.Split(string(src), "\n") {
		for col := strings.IndexByte(line, '"'); col >= 0; {
			pos := "testdata/hostile.yml:" + strconv.Itoa(i+1) + ":" + strconv.Itoa(col+1) + ":"
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, pos)
			}
			if !found {
				t.Errorf("no error at %s (%s)", pos, strings.TrimSpace(line))
			}
			end := strings.IndexByte(line[col+1:], '"')
			next := strings.IndexByte(line[col+end+2:], '"')
			if next < 0 {
				break
			}
			col += end + 2 + next
		}
	}
}
