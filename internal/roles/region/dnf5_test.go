package region

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// dnf5 is not packaged for Debian 12 (the real-dnf test, TestRegionFedora, runs dnf 4 in the
// Fedora-flavoured root), so the dnf5 flavour runs the role's real tool probe with sh against a host
// whose only dnf is a stand-in: /usr/bin/dnf a link to dnf5 as on Fedora 41, and a dnf5 that prints
// dnf5's recorded `--version` line and, like dnf5's argument parser, refuses --color and the "--" end
// of options with dnf5's message (doc/changes_from_dnf4.7.rst in rpm-software-management/dnf5; the
// message as reported in Nobara-Project/rpm-sources#3). The dnf 4 flavour gets a stand-in script
// (dnf 4's /usr/bin/dnf is a Python script) that accepts both. Each logs its argv; the test then runs
// the planned install and its undo through it.
const dnf5Stub = `#!/bin/sh
for a; do
  case $a in
    --color*|--) printf 'Unknown argument "%s" for command "dnf5". Add "--help" for more information about the arguments.\n' "$a" >&2; exit 2 ;;
  esac
done
printf '%s\n' "$*" >> "${0%/*}/argv.log"
case "$*" in *--version*) echo 'dnf5 version 5.2.8.1' ;; esac
`

const dnf4Stub = `#!/bin/sh
printf '%s\n' "$*" >> "${0%/*}/argv.log"
case "$*" in *--version*) echo '4.14.0' ;; esac
`

// dnfHost is a PATH holding readlink and the stand-in dnf of the given major version; log is where
// the stand-in writes its argv.
func dnfHost(t *testing.T, major int) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	// readlink for the probe; sh and the tools of the install's capture and undo scripts.
	for _, tool := range [][2]string{{"coreutils", "readlink"}, {"dash", "sh"}, {"coreutils", "date"}, {"coreutils", "mktemp"},
		{"coreutils", "cat"}, {"coreutils", "rm"}, {"sed", "sed"}, {"mawk", "awk"}} {
		p := testenv.RequireTool(t, tool[0], tool[1])
		if err := os.Symlink(p, filepath.Join(dir, tool[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rpm"), []byte(rpmStub), 0o755); err != nil {
		t.Fatal(err)
	}
	name, body := "dnf-3", dnf4Stub
	if major == 5 {
		name, body = "dnf5", dnf5Stub
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(name, filepath.Join(dir, "dnf")); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "argv.log")
}

// rpmStub is the stand-in rpm of the undo: `-qa` lists the packages in the file "installed" next
// to it, and `-q` says every named package is installed.
const rpmStub = `#!/bin/sh
case $1 in
  -qa) [ ! -e "${0%/*}/installed" ] || cat "${0%/*}/installed" ;;
  -q) exit 0 ;;
  *) exit 1 ;;
esac
`

// runWith is runIn with stdin.
func runWith(t *testing.T, dir string, stdin []byte, argv ...string) (string, error) {
	t.Helper()
	name := argv[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	cmd := exec.Command(name, argv[1:]...)
	cmd.Env = []string{"PATH=" + dir, "LC_ALL=C"}
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		out = append(out, ee.Stderr...)
	}
	return string(out), err
}

func runIn(t *testing.T, dir string, argv ...string) (string, error) {
	t.Helper()
	name := argv[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	cmd := exec.Command(name, argv[1:]...)
	cmd.Env = []string{"PATH=" + dir, "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestLangpacksPerDnf probes each dnf flavour, plans the langpacks of pt_BR and en_US for it, and
// runs the install and its undo through the stand-in, which refuses what that dnf refuses.
func TestLangpacksPerDnf(t *testing.T) {
	for _, tc := range []struct {
		major         int
		install, undo string
	}{
		{4, "-y --color=never install -- glibc-langpack-pt glibc-langpack-en",
			"-y --color=never remove --setopt=clean_requirements_on_remove=False -- glibc-langpack-pt-1-1.noarch glibc-langpack-en-1-1.noarch"},
		{5, "-y install glibc-langpack-pt glibc-langpack-en",
			"-y remove --setopt=clean_requirements_on_remove=False glibc-langpack-pt-1-1.noarch glibc-langpack-en-1-1.noarch"},
	} {
		dir, log := dnfHost(t, tc.major)
		out, err := runIn(t, dir, "/bin/sh", "-c", fedora.ToolProbe)
		if err != nil {
			t.Fatalf("dnf %d: probe: %v\n%s", tc.major, err, out)
		}
		f := ParseFacts("@gen C\n", "@missing\n", "LANG=pt_BR.UTF-8\n", "@missing\n")
		f.Dnf = ParseDnf(out)
		if f.Dnf != (fedora.Tool{Cmd: "dnf", Major: tc.major}) {
			t.Fatalf("dnf %d: probe said %q: %+v", tc.major, out, f.Dnf)
		}
		lay := FedoraLayout
		r := chobolo.Region{Locales: []string{"pt_BR.UTF-8", "en_US.UTF-8", "C.UTF-8"}}
		rp, err := BuildPlan(r, &f, Target{Chroot: true, Layout: &lay}, pos)
		if err != nil {
			t.Fatal(err)
		}
		var op *engine.Op
		for _, s := range rp.Steps {
			for i, o := range s.Ops {
				if o.Kind == engine.OpExec && o.Argv[0] == "dnf" {
					op = &s.Ops[i]
				}
			}
		}
		if op == nil || op.Undo == nil {
			t.Fatalf("dnf %d: no langpack install with undo in\n%s", tc.major, enginetest.RenderRole(rp))
		}
		if err := os.Remove(log); err != nil && !os.IsNotExist(err) { // the probe's own calls
			t.Fatal(err)
		}
		// The capture before the install (no package yet), the install, then its undo with the
		// captured state, which removes what the install added (the stand-in rpm's package list).
		capt, err := runWith(t, dir, nil, op.Capture...)
		if err != nil {
			t.Fatalf("dnf %d: capture: %v\n%s", tc.major, err, capt)
		}
		if out, err := runIn(t, dir, op.Argv...); err != nil {
			t.Errorf("dnf %d refused %q: %v\n%s", tc.major, op.Argv, err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, "installed"), []byte("glibc-langpack-pt-1-1.noarch\nglibc-langpack-en-1-1.noarch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runWith(t, dir, []byte(capt), op.Undo.Argv...); err != nil {
			t.Errorf("dnf %d: the undo %q failed: %v\n%s", tc.major, op.Undo.Argv[:2], err, out)
		}
		got, _ := os.ReadFile(log)
		if want := []string{tc.install, tc.undo}; !slices.Equal(strings.Split(strings.TrimSpace(string(got)), "\n"), want) {
			t.Errorf("dnf %d was run as\n%s\nwant\n%s", tc.major, got, strings.Join(want, "\n"))
		}
	}
}

// The stand-in dnf5 refuses the dnf 4 command line the role used to issue (the test above cannot
// pass by a stand-in that accepts everything).
func TestDnf5StandInRefusesDnf4Syntax(t *testing.T) {
	dir, _ := dnfHost(t, 5)
	out, err := runIn(t, dir, "dnf", "-y", "--color=never", "install", "--", "glibc-langpack-pt")
	if err == nil || !strings.Contains(out, `Unknown argument "--color=never"`) {
		t.Errorf("accepted: %v %s", err, out)
	}
}
