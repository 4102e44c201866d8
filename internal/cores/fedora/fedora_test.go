package fedora

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestDetectScript runs DetectScript with sh on the layouts dnf is installed in: dnf 4's Python
// script (Fedora <= 40, RHEL 8 with /usr/libexec/platform-python), dnf5 as /usr/bin/dnf -> dnf5
// (Fedora 41+), dnf5 alone, a dnf binary that only `dnf --version` identifies, and no dnf at all.
// The files stand in for the layouts; what runs is the real fragment.
func TestDetectScript(t *testing.T) {
	elf := "\x7fELF\x02\x01\x01\x00binary\n"
	for _, tc := range []struct {
		name  string
		files map[string]string // name -> content ("@target" makes a symlink)
		want  string
	}{
		{"dnf4", map[string]string{"dnf-3": "#!/usr/bin/python3\nimport dnf\n", "dnf": "@dnf-3"}, "dnf 4 /usr/bin/python3"},
		{"rhel8", map[string]string{"dnf-3": "#!/usr/libexec/platform-python -s\n", "dnf": "@dnf-3"}, "dnf 4 /usr/libexec/platform-python -s"},
		{"fedora41", map[string]string{"dnf5": elf, "dnf": "@dnf5"}, "dnf 5 "},
		{"dnf5 only", map[string]string{"dnf5": elf}, "dnf5 5 "},
		// Neither a script nor a link to dnf5: `dnf --version` decides. (A file without "#!" stands
		// in for a binary: sh runs it itself when the kernel refuses it.)
		{"dnf5 binary", map[string]string{"dnf": "echo 'dnf5 version 5.2.8.1'\n"}, "dnf 5 "},
		{"dnf4 binary", map[string]string{"dnf": "echo '4.14.0'\n"}, "dnf 4 python3"},
		{"none", map[string]string{}, "  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				var err error
				if target, ok := strings.CutPrefix(content, "@"); ok {
					err = os.Symlink(target, p)
				} else {
					err = os.WriteFile(p, []byte(content), 0o755)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, tool := range []string{"readlink"} {
				p := testenv.RequireTool(t, "coreutils", tool)
				if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("/bin/sh", "-c", DetectScript+`echo "$dnf $dnfv $dnfpy"`)
			cmd.Env = []string{"PATH=" + dir}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTool(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tool
		ok   bool
	}{
		{"4 dnf", Tool{"dnf", 4}, true},
		{"5 dnf", Tool{"dnf", 5}, true},
		{"5 dnf5", Tool{"dnf5", 5}, true},
		{"6 dnf", Tool{}, false},
		{"5 rm", Tool{}, false},
		{"", Tool{}, false},
	} {
		if got, ok := ParseTool(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseTool(%q) = %+v %v", tc.in, got, ok)
		}
	}
	d5 := Tool{"dnf", 5}
	for _, tc := range []struct{ got, want string }{
		{Dnf4.Op(Dnf4.Names([]string{"install"}, "x")...).String(), "dnf -y '--color=never' install -- x"},
		{Dnf4.Op(append(Dnf4.MarkUser(), "x")...).String(), "dnf -y '--color=never' mark install x"},
		{d5.Op(append(d5.MarkUser(), "x")...).String(), "dnf -y mark user x"},
		{d5.Op(append(d5.MarkDependency(), "x")...).String(), "dnf -y mark dependency x"},
		{d5.Op(d5.Names([]string{"install"}, "a", "b")...).String(), "dnf -y install a b"},
		{Tool{"dnf5", 5}.Op("makecache").String(), "dnf5 -y makecache"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

// TestReadOnlyScriptFails: a read-only probe section that cannot make its copies stops with a clear
// message instead of reading the host's databases in place (which would write to them), and one
// without the engine's scratch directory refuses to run.
func TestReadOnlyScriptFails(t *testing.T) {
	for _, tc := range []struct{ scratch, want string }{
		{"/nonexistent-chaos-scratch", "could not copy the rpm and dnf databases to /nonexistent-chaos-scratch/fedora for a read-only run"},
		{"", "no scratch directory"},
	} {
		cmd := exec.Command("/bin/sh", "-c", ReadOnlyScript+"echo read the host")
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", engine.ScratchEnv + "=" + tc.scratch}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "read the host") {
			t.Errorf("scratch %q: err %v, output %q; want a failure saying %q", tc.scratch, err, out, tc.want)
		}
	}
}
