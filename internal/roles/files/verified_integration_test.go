package files_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const verifiedFile = "/var/lib/chaos/cache/files-verified.tsv"

// TestVerifiedChecksums: a plan alone never writes the record of verified checksums; an apply
// writes one entry per managed file, with its current stat; a file changed afterwards is seen
// even with its size and mtime put back (its ctime moved); a record the controller did not sign is
// ignored; and the signed record is what spares the probe reading an unchanged file (a forged,
// signed entry shows it), so removing it brings the read back.
func TestVerifiedChecksums(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data) // where the controller keeps the record's key
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	c := &chobolo.Chobolo{Files: []chobolo.File{
		{Path: "/srv/v", State: "directory"},
		{Path: "/srv/v/a", Content: "alpha\n"},
		{Path: "/srv/v/b", Content: "beta\n", Mode: "0600"},
		{Path: "/srv/v/big", Content: strings.Repeat("big\n", 10000)},
		{Path: "/srv/v/empty"}, // its content is not managed: no entry
	}}
	c.SetKey("files", chobolo.Pos{})
	if enginetest.Plan(t, tr, c, files.New()); testenv.Exists(t, root, verifiedFile) {
		t.Fatal("a plan alone wrote the record")
	}
	enginetest.Apply(t, tr, c, files.New())
	record := testenv.ReadFile(t, root, verifiedFile)
	for _, p := range []string{"/srv/v/a", "/srv/v/b", "/srv/v/big"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !strings.Contains(record, "\t"+p+"\n") || !strings.Contains(record, itoa(st.Ino)+"\t"+itoa(uint64(fi.Size()))+"\t") {
			t.Errorf("%s: no entry with its inode %d and size %d in:\n%s", p, st.Ino, fi.Size(), record)
		}
	}
	if strings.Contains(record, "/srv/v/empty") || strings.Count(record, "\n") != 4 {
		t.Errorf("record:\n%s", record)
	}
	if hp := enginetest.Plan(t, tr, c, files.New()); !hp.Empty() {
		t.Fatalf("no-change plan with the record:\n%s", enginetest.Render(hp))
	}

	// Same size, same mtime, other content: the ctime moved, the entry no longer matches.
	a := filepath.Join(root, "srv/v/a")
	before, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a, []byte("ALPHA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(a, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	hp := enginetest.Plan(t, tr, c, files.New())
	if got := enginetest.Render(hp); !strings.Contains(got, "/srv/v/a") {
		t.Fatalf("a changed file with its size and mtime put back is not seen:\n%s", got)
	}

	// A forged entry for the changed file, with its stat now and the checksum the Ch-obolo wants:
	// unsigned (the target's word alone), it is ignored; signed with the controller's key, the
	// probe takes it and does not read the file.
	fi, err := os.Lstat(a)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	_, body, _ := strings.Cut(record, "\n")
	var forged []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasSuffix(l, "\t/srv/v/a") {
			f := strings.Split(l, "\t")
			l = strings.Join([]string{itoa(st.Dev), itoa(st.Ino), itoa(uint64(st.Size)), itoa(uint64(st.Mtim.Nano())),
				itoa(uint64(st.Ctim.Nano())), f[5], f[6]}, "\t")
		}
		forged = append(forged, l)
	}
	body = strings.Join(forged, "\n")
	head, _, _ := strings.Cut(record, "\n")
	testenv.WriteFile(t, root, verifiedFile, head+"\n"+body) // the old signature
	if hp := enginetest.Plan(t, tr, c, files.New()); !strings.Contains(enginetest.Render(hp), "/srv/v/a") {
		t.Fatalf("a record whose signature does not match was trusted:\n%s", enginetest.Render(hp))
	}
	key, err := os.ReadFile(filepath.Join(data, "chaos", "verified.key"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	testenv.WriteFile(t, root, verifiedFile, "# chaos verified checksums v2 "+hex.EncodeToString(m.Sum(nil))+"\n"+body)
	if hp := enginetest.Plan(t, tr, c, files.New()); !hp.Empty() {
		t.Fatalf("the probe read a file whose stat the signed record names:\n%s", enginetest.Render(hp))
	}
	if err := os.Remove(filepath.Join(root, verifiedFile)); err != nil {
		t.Fatal(err)
	}
	if hp := enginetest.Plan(t, tr, c, files.New()); !strings.Contains(enginetest.Render(hp), "/srv/v/a") {
		t.Fatalf("without the record, the change is not seen:\n%s", enginetest.Render(hp))
	}
	// The next apply puts the content back and records it again.
	enginetest.Apply(t, tr, c, files.New())
	if got := testenv.ReadFile(t, root, "/srv/v/a"); got != "alpha\n" {
		t.Errorf("/srv/v/a = %q", got)
	}
	if !strings.Contains(testenv.ReadFile(t, root, verifiedFile), "\t/srv/v/a\n") {
		t.Error("the apply did not record /srv/v/a again")
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
