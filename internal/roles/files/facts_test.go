package files

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// TestProbeFactsMatchLstat runs the real probe over every kind of path and checks each fact against
// what Go's Lstat, Readlink and ReadDir say: the batched stat, sha256sum and awk join must report
// the same as a per-path look would.
func TestProbeFactsMatchLstat(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	type tc struct {
		name    string
		want    string // the checksum the role would want ("" for none)
		content string // expected content sent back ("" for none)
	}
	must(os.WriteFile(filepath.Join(dir, "same"), []byte("same\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "edit"), []byte("old\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "secret"), []byte("old secret\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "grp"), []byte("group-readable\n"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
	must(os.WriteFile(filepath.Join(dir, "with space"), []byte("s\n"), 0o4755))
	must(os.Mkdir(filepath.Join(dir, "dir"), 0o750))
	for _, n := range []string{"a", ".hidden", "..dots"} {
		must(os.WriteFile(filepath.Join(dir, "dir", n), nil, 0o644))
	}
	must(os.Symlink("gone", filepath.Join(dir, "dir", "dangling")))
	must(os.Mkdir(filepath.Join(dir, "emptydir"), 0o755))
	must(os.Symlink("same", filepath.Join(dir, "link")))
	must(os.Symlink("/no/such -> target", filepath.Join(dir, "odd link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(dir, "grp"), 4242, 4343)) // ids without a name: UNKNOWN
	}
	cases := []tc{
		{name: "same", want: sum("same\n")},
		{name: "edit", want: sum("new\n"), content: "old\n"},
		{name: "secret", want: sum("new secret\n")}, // others cannot read it: no content
		{name: "grp", want: sum("x"), content: "group-readable\n"},
		{name: "empty"},
		{name: "with space", want: sum("s\n")},
		{name: "dir"},
		{name: "emptydir"},
		{name: "link"},
		{name: "odd link"},
		{name: "fifo"},
		{name: "missing"},
		{name: "dir/missing"},
		{name: "nodir/missing"},
		{name: "same/below"}, // the parent is a file
		{name: "link/below"},
	}
	paths, want := make([]string, len(cases)), make([]string, len(cases))
	for i, c := range cases {
		paths[i], want[i] = filepath.Join(dir, c.name), c.want
	}
	out, err := exec.CommandContext(context.Background(), "/bin/sh", "-c", probeScript(paths, want, nil)).Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	f, err := ParseFacts(string(out))
	if err != nil {
		t.Fatal(err)
	}
	name := func(id uint32, look func(string) (string, error)) string {
		if n, err := look(strconv.Itoa(int(id))); err == nil {
			return n
		}
		return "UNKNOWN"
	}
	userName := func(s string) (string, error) { u, err := user.LookupId(s); return userField(u, err) }
	groupName := func(s string) (string, error) { g, err := user.LookupGroupId(s); return groupField(g, err) }
	for i, c := range cases {
		got := f.Declared[i]
		p := paths[i]
		exp := Stat{Known: true, Entries: -1}
		fi, err := os.Lstat(p)
		if err != nil {
			exp.Type = "none"
			pi, perr := os.Stat(filepath.Dir(p))
			exp.Parent = perr == nil && pi.IsDir()
			exp.Entries = 0
		} else {
			st := fi.Sys().(*syscall.Stat_t)
			exp.Parent = true
			exp.Mode = uint32(st.Mode & 0o7777)
			exp.UID, exp.GID = int(st.Uid), int(st.Gid)
			exp.User, exp.Group = name(st.Uid, userName), name(st.Gid, groupName)
			exp.Size = fi.Size()
			switch {
			case fi.Mode().IsRegular():
				exp.Type = "file"
				data, err := os.ReadFile(p)
				must(err)
				exp.SHA256 = sum(string(data))
			case fi.IsDir():
				exp.Type = "dir"
				ents, err := os.ReadDir(p)
				must(err)
				exp.Entries = len(ents)
			case fi.Mode()&os.ModeSymlink != 0:
				exp.Type = "link"
				exp.Target, err = os.Readlink(p)
				must(err)
			default:
				exp.Type = "other"
			}
		}
		if exp.Type == "none" {
			// A missing path reports only its type and whether its parent is a directory.
			if got.Type != "none" || got.Parent != exp.Parent || !got.Known {
				t.Errorf("%s: got %+v, want none with parent=%v", c.name, got, exp.Parent)
			}
			continue
		}
		if c.content != "" {
			exp.Content, exp.HasContent = []byte(c.content), true
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", exp) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, exp)
		}
	}
}

func userField(u *user.User, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

func groupField(g *user.Group, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

// TestPathLessComparesComponents: the byte-wise order is the order of the lists of components.
func TestPathLessComparesComponents(t *testing.T) {
	parts := []string{"", "a", "b", "ab", "a b", "a-b", "a.b", "a!", "-", "é", "a/b", "~"}
	var paths []string
	for _, x := range parts {
		for _, y := range parts {
			paths = append(paths, "/"+x, "/"+x+"/"+y, "/"+x+y+"/"+y)
		}
	}
	for _, a := range paths {
		for _, b := range paths {
			want := slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
			if got := pathLess(a, b); got != want {
				t.Errorf("pathLess(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// probeWithLedger runs the real probe fragment with its ledger read from ledgerFile instead of the
// host's (which a test must not write).
func probeWithLedger(t *testing.T, ledgerFile string, paths, want []string) (string, *Facts) {
	t.Helper()
	script := probeScript(paths, want, nil)
	q := shell.Quote(engine.LedgerPath)
	if !strings.Contains(script, q) {
		t.Fatalf("the probe no longer reads %s", q)
	}
	script = strings.ReplaceAll(script, q, shell.Quote(ledgerFile))
	out, err := exec.CommandContext(context.Background(), "/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	f, err := ParseFacts(string(out))
	if err != nil {
		t.Fatal(err)
	}
	return string(out), f
}

// TestProbeLedgerReusesDeclaredFacts: a ledger path that is also declared is reported once (an S
// line, not a second R line), and its ledger facts are exactly what the probe reports for it when
// it is not declared (content aside: only declared paths bring content back).
func TestProbeLedgerReusesDeclaredFacts(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "edit"), []byte("old\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "kept"), []byte("kept\n"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d", "x"), nil, 0o600))
	must(os.Symlink("edit", filepath.Join(dir, "link")))
	must(os.WriteFile(filepath.Join(dir, "gone"), nil, 0o644)) // in the ledger only
	p := func(n string) string { return filepath.Join(dir, n) }
	ledgerFile := filepath.Join(dir, "ledger.tsv")
	var lb strings.Builder
	lb.WriteString("# chaos ledger v1\n")
	for _, n := range []string{"d", "edit", "edit", "gone", "kept", "link", "missing"} {
		fmt.Fprintf(&lb, "%s\t%s\n", DomainCreated, p(n))
	}
	fmt.Fprintf(&lb, "%s\t%s\n", DomainAdopted, p("kept")) // another domain: not read
	must(os.WriteFile(ledgerFile, []byte(lb.String()), 0o644))

	declared := []string{p("edit"), p("d"), p("link"), p("missing"), p("edit")}
	want := []string{fmt.Sprintf("%x", sha256.Sum256([]byte("new\n"))), "", "", "", ""}
	out, got := probeWithLedger(t, ledgerFile, declared, want)
	_, alone := probeWithLedger(t, ledgerFile, nil, nil) // the same ledger, nothing declared

	for _, n := range []string{"d", "edit", "link", "missing"} {
		if strings.Contains(out, "R\tL"+p(n)+"\t") {
			t.Errorf("%s is declared but reported twice:\n%s", n, out)
		}
	}
	if c := strings.Count(out, "S\t"); c != 4 {
		t.Errorf("%d S lines, want 4 (one per declared ledger path):\n%s", c, out)
	}
	if !strings.Contains(out, "R\tL"+p("gone")+"\t") || !strings.Contains(out, "R\tL"+p("kept")+"\t") {
		t.Errorf("ledger paths not declared must be probed:\n%s", out)
	}
	if !got.Declared[0].HasContent || got.Ledger[p("edit")].HasContent {
		t.Errorf("content: declared %v, ledger %v (want only the declared one)", got.Declared[0].HasContent, got.Ledger[p("edit")].HasContent)
	}
	if len(got.Ledger) != len(alone.Ledger) {
		t.Errorf("ledger facts: %d paths, %d when nothing is declared", len(got.Ledger), len(alone.Ledger))
	}
	for path, s := range alone.Ledger {
		if !s.Known {
			t.Errorf("%s: not reported when nothing is declared", path)
		}
		if fmt.Sprintf("%+v", got.Ledger[path]) != fmt.Sprintf("%+v", s) {
			t.Errorf("%s:\n with declared paths %+v\n alone              %+v", path, got.Ledger[path], s)
		}
	}
}

// TestParseFactsSameLines: an S line gives the ledger path the declared index's facts, including
// its symlink target (a T line may come after), without its content; a malformed one is an error.
func TestParseFactsSameLines(t *testing.T) {
	out := "R\t0\tlink\t1\t777\t0\t0\troot\troot\t4\t-\t-\n" +
		"R\t1\tfile\t1\t644\t0\t0\troot\troot\t4\tabc\t-\n" +
		"S\t0\t/a/link\n" +
		"S\t1\t/a/file\n" +
		"S\t7\t/a/unreported\n" +
		"T\t0\tthere\n" +
		"C\t1\nb2xkCg==\nE\n"
	f, err := ParseFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Ledger["/a/link"]; !s.Known || s.Type != "link" || s.Target != "there" {
		t.Errorf("/a/link: %+v", s)
	}
	if s := f.Ledger["/a/file"]; !s.Known || s.SHA256 != "abc" || s.HasContent || s.Content != nil {
		t.Errorf("/a/file: %+v", s)
	}
	if !f.Declared[1].HasContent {
		t.Errorf("declared content lost: %+v", f.Declared[1])
	}
	if s := f.Ledger["/a/unreported"]; s.Known {
		t.Errorf("an index with no R line must stay unknown: %+v", s)
	}
	for _, bad := range []string{"S\t0\n", "S\tx\t/a\n"} {
		if _, err := ParseFacts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
