package files

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestNativeProbeMatchesScript: on a chroot and on the local machine, the in-process answer of the
// paths section is byte for byte what the probe script prints there, for every kind of path the
// script handles (and the ledger's, read from the target), including paths that resolve through
// absolute and escaping symlinks, which a chroot resolves inside itself.
func TestNativeProbeMatchesScript(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr, err := transport.NewChroot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	paths, want, ledger := nativeFixture(t, root, "/srv/t")
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(engine.LedgerPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, engine.LedgerPath), []byte(ledger), 0o644); err != nil {
		t.Fatal(err)
	}
	compareNative(t, tr, paths, want, nil)

	// Paths under owners' homes read from the target's passwd: a system account, one whose home
	// is the fixture's directory (its paths alias declared ones and the ledger's), one without a
	// home, a name only its second passwd line gives a home, and names the target does not know.
	pw, err := os.OpenFile(filepath.Join(root, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.WriteString("svc:x:990:990::/srv/t:/usr/sbin/nologin\nnohome:x:991:991::\nnohome:x:992:992::/srv/t:/bin/sh\nshort:x:993\n"); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	hpaths := append(slices.Clone(paths), "", "", "", "", "", "", "")
	hwant := append(slices.Clone(want), "", "", "", "", "", "", "")
	n := len(paths)
	homes := []homeKey{{n, "www-data", ".pgpass"}, {n + 1, "svc", "edit"}, {n + 2, "svc", "dir/a"}, {n + 3, "nohome", "x"},
		{n + 4, "nosuch", ".netrc"}, {n + 5, "short", "x"}, {n + 6, "root", "missing/dir"}}
	got := compareNative(t, tr, hpaths, hwant, homes)
	var own []string // the declared keys' lines (ParseFacts does not read the fixture's ledger path with a tab)
	for l := range strings.SplitSeq(got, "\n") {
		if !strings.HasPrefix(l, "R\tL") && !strings.HasPrefix(l, "T\tL") {
			own = append(own, l)
		}
	}
	f, err := ParseFacts(strings.Join(own, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantHomes := map[int]string{n: "/var/www/.pgpass", n + 1: "/srv/t/edit", n + 2: "/srv/t/dir/a", n + 3: "", n + 4: "", n + 5: "", n + 6: "/root/missing/dir"}
	if !maps.Equal(f.Homes, wantHomes) {
		t.Errorf("homes %v, want %v", f.Homes, wantHomes)
	}
	if s := f.Declared[n+1]; s.Type != "file" || s.SHA256 != f.Declared[1].SHA256 {
		t.Errorf("svc's edit: %+v, want the facts of /srv/t/edit %+v", s, f.Declared[1])
	}
	if s := f.Declared[n]; !s.Known || s.Type != "none" || s.Parent {
		t.Errorf("www-data's .pgpass: %+v, want missing, /var/www too (a minbase root has none)", s)
	}

	// With verified checksums recorded for every file (as an apply leaves them), the same answer:
	// those whose checksum is the one wanted are not read, the others are.
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // the controller's key
	key, err := verifiedKey(true)
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := tr.Tree()
	entries := verify(context.Background(), tree, paths)
	var rec strings.Builder
	for p, e := range entries {
		if time.Unix(0, e.ctime).Add(margin(transport.TreeStat{MtimeNs: e.mtime, CtimeNs: e.ctime})).After(time.Now()) {
			t.Errorf("%s: recorded within the margin of its change", p)
		}
		fmt.Fprintf(&rec, "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", e.dev, e.ino, e.size, e.mtime, e.ctime, e.sum, p)
	}
	if len(entries) < 10 {
		t.Fatalf("%d entries recorded", len(entries))
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(verifiedPath)), 0o700); err != nil {
		t.Fatal(err)
	}
	// Signed with another key, the record is not read at all.
	if err := os.WriteFile(filepath.Join(root, verifiedPath), signRecord(make([]byte, 32), rec.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := len(readVerified(tree)); n != 0 {
		t.Fatalf("a record signed with another key gives %d entries", n)
	}
	if err := os.WriteFile(filepath.Join(root, verifiedPath), signRecord(key, rec.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(readVerified(tree)) != len(entries) {
		t.Fatalf("the record reads back %d entries of %d", len(readVerified(tree)), len(entries))
	}
	compareNative(t, tr, paths, want, nil)
	if err := os.Remove(filepath.Join(root, verifiedPath)); err != nil {
		t.Fatal(err)
	}

	// The local machine: a directory of its own, and the machine's own ledger, read by both.
	local := transport.NewLocal()
	dir := t.TempDir()
	paths, want, _ = nativeFixture(t, "/", dir)
	compareNative(t, local, paths, want, []homeKey{{len(paths), "root", "no/such/file"}, {len(paths) + 1, "no-such-user-chaos", "x"}})

	// Nothing declared and no ledger: the script's lone "0".
	if err := os.Remove(filepath.Join(root, engine.LedgerPath)); err != nil {
		t.Fatal(err)
	}
	compareNative(t, tr, nil, nil, nil)
	// Only located paths, one of them unknown.
	compareNative(t, tr, []string{"", ""}, []string{"", ""}, []homeKey{{0, "svc", "same"}, {1, "nosuch", "x"}})
}

// compareNative runs the probe script on t and the native answer, and fails on any difference.
func compareNative(t *testing.T, h *transport.Host, paths, want []string, homes []homeKey) string {
	t.Helper()
	ctx := context.Background()
	res, err := h.Run(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-s"}, Stdin: []byte(probeScript(paths, want, homes))})
	if err != nil || res.Code != 0 {
		t.Fatalf("%s: script: %v, exit %d: %s", h.Name(), err, res.Code, res.Stderr)
	}
	tree, ok := h.Tree()
	if !ok {
		t.Fatalf("%s: no tree", h.Name())
	}
	got, err := nativeAnswer(ctx, h, tree, paths, want, homes)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(res.Stdout) {
		sl, nl := strings.Split(string(res.Stdout), "\n"), strings.Split(got, "\n")
		for i := range max(len(sl), len(nl)) {
			a, b := "<none>", "<none>"
			if i < len(sl) {
				a = sl[i]
			}
			if i < len(nl) {
				b = nl[i]
			}
			if a != b {
				t.Errorf("%s: line %d:\n script %q\n native %q", h.Name(), i+1, a, b)
			}
		}
		t.FailNow()
	}
	if n := strings.Count("\n"+got, "\nR\t"); n < len(paths)-len(homes) {
		t.Errorf("%s: %d R lines for %d paths:\n%s", h.Name(), n, len(paths), got)
	}
	if n := strings.Count("\n"+got, "\nH\t"); n != len(homes) {
		t.Errorf("%s: %d H lines for %d homes:\n%s", h.Name(), n, len(homes), got)
	}
	return got
}

// nativeFixture makes every kind of path under dir inside root ("/" for the local machine) and
// returns the declared paths (as the target sees them), the checksums wanted, and a ledger naming
// some of them and others.
func nativeFixture(t *testing.T, root, dir string) (paths, want []string, ledger string) {
	t.Helper()
	at := func(n string) string { return filepath.Join(root, dir, n) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	must(os.MkdirAll(at(""), 0o755))
	must(os.WriteFile(at("same"), []byte("same\n"), 0o644))
	must(os.WriteFile(at("edit"), []byte("old\n"), 0o644))
	must(os.WriteFile(at("secret"), []byte("old secret\n"), 0o600))
	must(os.WriteFile(at("grp"), []byte("group-readable\n"), 0o640))
	must(os.WriteFile(at("empty"), nil, 0o644))
	must(os.WriteFile(at("with space"), []byte("s\n"), 0o755))
	must(os.Chmod(at("with space"), 0o4755))
	must(os.WriteFile(at("nomode"), []byte("x\n"), 0))
	must(os.WriteFile(at("big"), []byte(strings.Repeat("b", 40000)), 0o644))
	must(os.WriteFile(at("long"), []byte(strings.Repeat("0123456789\n", 400)), 0o644)) // several base64 lines
	must(os.Mkdir(at("dir"), 0o750))
	for _, n := range []string{"a", ".hidden", "..dots"} {
		must(os.WriteFile(filepath.Join(at("dir"), n), nil, 0o644))
	}
	must(os.Symlink("gone", filepath.Join(at("dir"), "dangling")))
	must(os.Mkdir(at("emptydir"), 0o755))
	must(os.Symlink("same", at("link")))
	must(os.Symlink("/no/such -> target", at("odd link")))
	must(os.Symlink("line\nbreak", at("nl link")))
	must(os.Symlink(strings.Repeat("x/", 300)+"end", at("long link")))
	must(os.Symlink(filepath.Join(dir, "dir"), at("abs dir"))) // absolute: inside the target
	must(os.Symlink("../../../../../../..", at("up")))         // climbs past the target's root
	must(syscall.Mkfifo(at("fifo"), 0o644))
	must(os.WriteFile(at("tab\tname"), []byte("t\n"), 0o644))
	must(os.WriteFile(at(`back\slash`), []byte("b\n"), 0o644))
	if os.Geteuid() == 0 {
		must(os.Chown(at("grp"), 4242, 4343)) // ids nobody names: getent, then UNKNOWN
	}
	cases := []struct{ name, want string }{
		{"same", sum("same\n")}, {"edit", sum("new\n")}, {"secret", sum("new\n")}, {"grp", sum("x")},
		{"empty", ""}, {"with space", sum("s\n")}, {"nomode", sum("y\n")}, {"big", sum("c")}, {"long", sum("l")},
		{"dir", ""}, {"emptydir", ""}, {"link", ""}, {"odd link", ""}, {"nl link", ""}, {"long link", ""},
		{"abs dir", ""}, {"abs dir/a", sum("a")}, {"abs dir/.hidden", ""}, {"up", ""},
		{"up" + dir + "/edit", sum("other\n")}, {"fifo", ""}, {"missing", ""}, {"dir/missing", ""},
		{"nodir/missing", ""}, {"same/below", ""}, {"link/below", ""}, {"abs dir/missing", ""},
		{"edit", sum("dup\n")}, // declared twice: Validate refuses it, but the probe reports both
	}
	for _, c := range cases {
		paths = append(paths, filepath.Join(dir, c.name))
		want = append(want, c.want)
	}
	var lb strings.Builder
	lb.WriteString("# chaos ledger v1\n")
	for _, n := range []string{"edit", "edit", "dir", "link", "missing", "tab\tname", `back\slash`, "gone", "gone", "dir/", "dir/.."} {
		fmt.Fprintf(&lb, "%s\t%s/%s\n", DomainCreated, dir, n)
	}
	fmt.Fprintf(&lb, "%s\trelative/path\n", DomainCreated)
	fmt.Fprintf(&lb, "%s\t%s\n", DomainAdopted, filepath.Join(dir, "same"))
	fmt.Fprintf(&lb, "%s\t%s", DomainCreated, filepath.Join(dir, "emptydir")) // no final newline
	return paths, want, lb.String()
}

// TestMargin: whole-second timestamps get the coarse margin, others the racy one.
func TestMargin(t *testing.T) {
	if m := margin(transport.TreeStat{MtimeNs: 5e9, CtimeNs: 7e9}); m != coarseMargin {
		t.Errorf("whole seconds: %v", m)
	}
	if m := margin(transport.TreeStat{MtimeNs: 5e9, CtimeNs: 7e9 + 1}); m != racyMargin {
		t.Errorf("nanoseconds: %v", m)
	}
}
