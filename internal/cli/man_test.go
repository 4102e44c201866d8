package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
)

// TestManPages: `chaos man -o DIR` writes one page per command (every subcommand, nested ones
// too) that groff parses without a warning and man renders with the command's summary.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"man", "-o", dir}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("chaos man: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	a := &app{stdout: &stdout, stderr: &stderr, registry: builtin.Registry()}
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() || !c.HasParent() {
			cmds = append(cmds, c)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	root := a.rootCmd()
	root.InitDefaultCompletionCmd() // cobra adds it at Execute
	walk(root)
	if len(cmds) < 20 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	groff, _ := exec.LookPath("groff")
	man, _ := exec.LookPath("man")
	for _, c := range cmds {
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		page := filepath.Join(dir, name+".1")
		data, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("%s: %v", c.CommandPath(), err)
			continue
		}
		if th := `.TH "` + strings.ToUpper(name) + `" "1" `; !strings.Contains(string(data), th) {
			t.Errorf("%s: no %s header:\n%.300s", page, th, data)
		}
		if groff != "" {
			out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", page).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("groff on %s: %v\n%s", page, err, out)
			}
		}
		if man != "" {
			cmd := exec.Command(man, "-l", page)
			cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=200", "MAN_KEEP_FORMATTING=0")
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), c.Short) {
				t.Errorf("man -l %s: %v; the summary %q is missing:\n%s", page, err, c.Short, out)
			}
		}
	}
	if groff == "" && man == "" {
		t.Log("neither groff nor man is installed: only the .TH headers were checked")
	}
}
