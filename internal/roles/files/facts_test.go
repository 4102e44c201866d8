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
