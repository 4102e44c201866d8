package dnf

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// dnf5 is not packaged for Debian 12 and cannot be built here, so the dnf5 paths run the role's real
// probe fragments with sh against a host whose only dnf is a stand-in dnf5 printing recorded dnf5
// output (testdata/dnf5), and check both the command lines the probes issue and what the role makes
// of the output. Sources of the recorded output (rpm-software-management/dnf5 and its test suite
// rpm-software-management/ci-dnf-stack):
//   - group-list-installed.txt: dnf-behave-tests/dnf/comps-group-list.feature, scenario "I can list
//     only installed groups" (the table of libdnf5-cli/output/grouplist.cpp: ID, Name, Installed
//     yes/no), plus a second group.
//   - repoquery-installed-reason.txt: `--queryformat '%{name} %{reason}\n'` as
//     libdnf5-cli/output/repoqueryformat.cpp formats it (one line a package, sorted, deduplicated)
//     with the reason strings of libdnf5/transaction/transaction_item_reason.cpp
//     (transaction_item_reason_to_string: User, Dependency, Weak Dependency, Group, External User,
//     None, Clean). No recorded sample of this query exists in dnf5's tests.
//   - repoquery-whatprovides-provides.txt: `--queryformat '%{provides}'` (a reldep a line, "NAME = EVR",
//     repoqueryformat.cpp's ReldepListGetter).
//   - repoquery-providers-of-requires.txt: `--providers-of=requires --recursive --queryformat
//     '%{name}\n'` (doc/commands/repoquery.8.rst).
//
// The command lines follow doc/changes_from_dnf4.7.rst (no --color, `mark user`/`mark dependency`,
// --providers-of instead of --resolve) and doc/commands/mark.8.rst.

// dnf5Host is a PATH with the tools the probes use, a stand-in dnf5 that logs its argv and prints the
// recorded output matching the query, and an rpm that knows the installed packages.
func dnf5Host(t *testing.T, installed ...string) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"awk", "sed", "sort", "readlink", "cat", "head"} {
		p := testenv.RequireTool(t, "the essential coreutils, sed and mawk", tool)
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := filepath.Abs("testdata/dnf5")
	if err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "argv.log")
	stub := `#!/bin/sh
printf '%s\n' "$*" >> ` + log + `
case "$*" in
  *"--version"*) echo 'dnf5 version 5.2.8.1' ;;
  *"group list --installed"*) cat ` + rec + `/group-list-installed.txt ;;
  *"repoquery --installed --queryformat"*) cat ` + rec + `/repoquery-installed-reason.txt ;;
  *"--whatprovides="*) cat ` + rec + `/repoquery-whatprovides-provides.txt ;;
  *"--providers-of=requires"*) cat ` + rec + `/repoquery-providers-of-requires.txt ;;
  *) echo "unexpected dnf5 call: $*" >&2; exit 2 ;;
esac
`
	rpm := "#!/bin/sh\n[ \"$1 $2 $3\" = '-q --whatprovides --' ] || exit 2\ncase \" " + strings.Join(installed, " ") + " \" in *\" $4 \"*) exit 0 ;; esac\nexit 1\n"
	for name, body := range map[string]string{"dnf5": stub, "rpm": rpm} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

func runProbe(t *testing.T, path, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + path, "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	return string(out)
}

// TestDnf5Probes runs the probe fragments on a dnf5 host and parses what they print.
func TestDnf5Probes(t *testing.T) {
	path, log := dnf5Host(t, "bash", "chaos-a")
	raw := map[string]string{
		secRpm:    recorded[secRpm],
		secReason: runProbe(t, path, reasonProbe),
		secGroups: runProbe(t, path, groupsProbe),
		secNew:    runProbe(t, path, newProbe([]string{"chaos-a", "chaos-new", "chaos-virt", "nothere"})),
	}
	argv, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	wantArgv := []string{
		"-q repoquery --installed --queryformat %{name} %{reason}\\n",
		"-q --disable-repo=* group list --installed",
		"-q -C repoquery --available --whatprovides=chaos-new,chaos-virt,nothere --queryformat %{provides}",
		"-q -C repoquery --available --installed --providers-of=requires --recursive --queryformat %{name}\\n chaos-new chaos-virt nothere",
	}
	if got := strings.Split(strings.TrimSpace(string(argv)), "\n"); !slices.Equal(got, wantArgv) {
		t.Errorf("dnf5 was run as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantArgv, "\n"))
	}

	f := ParseFacts(raw)
	if f.Tool != (fedora.Tool{Cmd: "dnf5", Major: 5}) {
		t.Errorf("tool: %+v", f.Tool)
	}
	for _, tc := range []struct{ pkg, reason string }{
		{"bash", "user"}, {"chaos-g1", "group"}, {"chaos-junk", "unknown"}, {"chaos-junk2", "unknown"},
		{"chaos-lib", "dependency"}, {"glibc", "dependency"},
	} {
		if p := f.Pkgs[tc.pkg]; p == nil || p.Reason != tc.reason {
			t.Errorf("%s: reason %+v, want %s", tc.pkg, p, tc.reason)
		}
	}
	if !f.Pkgs["chaos-junk"].UserInstalled() || !f.Pkgs["chaos-junk2"].UserInstalled() || f.Pkgs["chaos-lib"].UserInstalled() {
		t.Error("External User and None must be user-installed, Dependency not")
	}
	if !f.Groups["test-group"] || !f.Groups["chaos-tools"] || len(f.Groups) != 2 || f.GroupsFailed {
		t.Errorf("groups: %v (failed %v)", f.Groups, f.GroupsFailed)
	}
	if !f.NewKnown || !slices.Equal(f.Missing, []string{"chaos-new", "chaos-virt", "nothere"}) ||
		!f.Avail["chaos-new"] || !f.Avail["chaos-virt"] || f.Avail["nothere"] || !slices.Equal(f.NewDeps, []string{"chaos-helper", "chaos-newlib"}) {
		t.Errorf("new packages: missing %v avail %v deps %v", f.Missing, f.Avail, f.NewDeps)
	}
}

// TestDnf5GroupsFailed: a dnf5 that cannot list groups leaves them alone (nothing installed, nothing
// removed, the ledger kept) and says so.
func TestDnf5GroupsFailed(t *testing.T) {
	f := ParseFacts(map[string]string{secRpm: recorded[secRpm], secReason: recorded[secReason], secGroups: "@failed\n"})
	c := chob("@chaos-tools", "@new-tools")
	want, _, err := Desired(c, pkgmap.Resolve)
	if err != nil {
		t.Fatal(err)
	}
	d := ComputeDelta(f, Input{Want: want, Prune: true, Base: fedora.BaseSet, GroupLedger: []string{"chaos-tools", "old-tools"}})
	if len(d.Install) != 0 || len(d.RemoveGroups) != 0 || !slices.Equal(d.Groups, []string{"chaos-tools"}) ||
		!slices.ContainsFunc(d.Notes, func(n string) bool { return strings.Contains(n, "groups could not be read") }) {
		t.Errorf("install %v remove %v ledger %v notes %q", d.Install, d.RemoveGroups, d.Groups, d.Notes)
	}
}

// TestGoldenPlanDnf5 is TestGoldenPlan's host running dnf5: the same delta, dnf5's command lines.
func TestGoldenPlanDnf5(t *testing.T) {
	raw := map[string]string{}
	for k, v := range recorded {
		raw[k] = v
	}
	raw[secReason] = "@dnf 5 dnf\n" + recorded[secReason]
	f := ParseFacts(raw)
	if f.Tool != (fedora.Tool{Cmd: "dnf", Major: 5}) {
		t.Fatalf("tool: %+v", f.Tool)
	}
	goldenPlan(t, f, "plan-dnf5")
}
