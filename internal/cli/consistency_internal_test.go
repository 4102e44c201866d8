package cli

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

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
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
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
