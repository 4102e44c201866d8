package cli

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
)

// TestXVerboseEverywhere: -v means --verbose on every command, the root included (it was --version
// at the top and --verbose on apply); --version keeps working.
func TestXVerboseEverywhere(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, stdin: strings.NewReader(""), registry: builtin.Registry()}
	root := a.rootCmd()
	root.InitDefaultVersionFlag() // what Execute does: --version, with -v when -v is still free
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		f := c.Flags().ShorthandLookup("v")
		if f == nil {
			f = c.InheritedFlags().ShorthandLookup("v")
		}
		if f == nil || f.Name != "verbose" {
			t.Errorf("%q: -v is %v, want --verbose", c.CommandPath(), f)
		}
		n++
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 10 {
		t.Fatalf("walked only %d commands", n)
	}
	if root.Flags().Lookup("version") == nil {
		t.Fatal("--version is gone")
	}
}

// openPTY returns the terminal side of a fresh pseudo-terminal, so color() sees a real terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	ioctl := func(req uintptr, arg *int32) syscall.Errno {
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), req, uintptr(unsafe.Pointer(arg)))
		return e
	}
	var unlock, n int32
	if e := ioctl(syscall.TIOCSPTLCK, &unlock); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	if e := ioctl(syscall.TIOCGPTN, &n); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

// TestXTermDumbNoColor: a terminal whose TERM is dumb gets no color; any other still does.
func TestXTermDumbNoColor(t *testing.T) {
	pts := openPTY(t)
	a := &app{}
	t.Setenv("NO_COLOR", "")
	os.Unsetenv("NO_COLOR")
	t.Setenv("TERM", "xterm-256color")
	if !a.color(pts) {
		t.Fatal("no color on a pseudo-terminal with TERM=xterm-256color: the test cannot tell")
	}
	t.Setenv("TERM", "dumb")
	if a.color(pts) {
		t.Error("color with TERM=dumb")
	}
}

// TestXFormatVersion: the version line from recorded build info (the binary test, TestXVersion, sees
// only what this machine's go build records: here GOFLAGS=-buildvcs=false, so no commit).
func TestXFormatVersion(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206222946-62e9b92e0a98"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "62e9b92e0a9830b432f611658794f6c79e2b4e78"},
		{Key: "vcs.time", Value: "2026-12-06T22:29:46Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	stamped := "chaos 1.2.0 (commit 0123456789abcdef0123456789abcdef01234567, 2026-12-07T05:00:00Z)"
	for _, tc := range []struct {
		override string
		stamp    [3]string // the -ldflags Commit, CommitTime, Modified of a release build
		bi       *debug.BuildInfo
		want     string
	}{
		{"", [3]string{}, vcs, "chaos v0.0.0-20261206222946-62e9b92e0a98 (commit 62e9b92e0a9830b432f611658794f6c79e2b4e78, modified, 2026-12-06T22:29:46Z)"},
		{"1.2.0", [3]string{}, vcs, "chaos 1.2.0 (commit 62e9b92e0a9830b432f611658794f6c79e2b4e78, modified, 2026-12-06T22:29:46Z)"},
		{"", [3]string{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "chaos (devel) (no commit recorded: built outside a git checkout or with -buildvcs=false)"},
		{"", [3]string{}, nil, "chaos (devel) (no commit recorded: built outside a git checkout or with -buildvcs=false)"},
		// a release's stamps win over whatever the toolchain recorded, "modified" included
		{"1.2.0", [3]string{"0123456789abcdef0123456789abcdef01234567", "2026-12-07T05:00:00Z", ""}, vcs, stamped},
		{"1.2.0", [3]string{"0123456789abcdef0123456789abcdef01234567", "2026-12-07T05:00:00Z", ""}, nil, stamped},
	} {
		v := readVersion(tc.override, tc.stamp[0], tc.stamp[1], tc.stamp[2], tc.bi)
		if got := formatVersion(v); got != tc.want {
			t.Errorf("formatVersion(%q, %q, %+v) = %q, want %q", tc.override, tc.stamp, tc.bi, got, tc.want)
		}
	}
}
