package dnf

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// recorded is probe output in the format of rpmProbe, reasonProbe, groupsProbe and hostProbe (as
// recorded on the Fedora-flavoured root, plus a few Fedora-style entries).
var recorded = map[string]string{
	secRpm: strings.Join([]string{
		"bash\tx86_64\t0:5.2.26-1.fc39\tlibc.so.6()(64bit)\vrpmlib(PayloadIsZstd)\v\tbash\v/bin/sh\v/bin/bash\vconfig(bash)\v",
		"glibc\tx86_64\t0:2.38-18.fc39\t\tglibc\vlibc.so.6()(64bit)\v",
		"zsh\tx86_64\t0:5.9-7.fc39\tlibc.so.6()(64bit)\v/bin/sh\v\tzsh\v",
		"kernel-core\tx86_64\t0:6.8.9-100.fc39\t\tkernel-core\v",
		"kernel-core\tx86_64\t0:6.8.10-100.fc39\t\tkernel-core\v",
		"chaos-a\tnoarch\t0:1.0-1\t\tchaos-a\v",
		"chaos-lib\tnoarch\t0:1.0-1\t\tchaos-lib\v",
		"chaos-b\tnoarch\t0:1.0-1\tchaos-lib\v\tchaos-b\v",
		"chaos-junk\tnoarch\t0:1.0-1\t\tchaos-junk\v",
		"chaos-helper\tnoarch\t0:1.0-1\t\tchaos-helper\v",
		"chaos-app\tnoarch\t0:1.0-1\tchaos-helper\v/usr/bin/chaos-tool\v\tchaos-app\v",
		"chaos-tool\tnoarch\t0:1.0-1\t\tchaos-tool\v",
		"chaos-rich\tnoarch\t0:1.0-1\t(chaos-x or chaos-helper2)\v(chaos-y if chaos-a)\v(chaos-z if chaos-nope)\v\tchaos-rich\v",
		"chaos-helper2\tnoarch\t0:1.0-1\t\tchaos-helper2\v",
		"chaos-y\tnoarch\t0:1.0-1\t\tchaos-y\v",
		"chaos-z\tnoarch\t0:1.0-1\t\tchaos-z\v",
		"chaos-g1\tnoarch\t0:1.0-1\tchaos-junk2\v\tchaos-g1\v",
		"chaos-junk2\tnoarch\t0:1.0-1\t\tchaos-junk2\v",
		"openssh-server\tx86_64\t0:9.3p1-10.fc39\t\topenssh-server\v",
		"sudo\tx86_64\t0:1.9.15-1.fc39\t\tsudo\v",
		"@file /usr/bin/chaos-tool\tchaos-tool ",
	}, "\n") + "\n",
	secReason: "bash\tuser\nglibc\tdependency\nzsh\tuser\nkernel-core\tuser\nchaos-a\tuser\nchaos-lib\tdependency\nchaos-b\tuser\n" +
		"chaos-junk\tunknown\nchaos-helper\tuser\nchaos-app\tuser\nchaos-tool\tuser\nchaos-rich\tuser\nchaos-helper2\tuser\n" +
		"chaos-y\tuser\nchaos-z\tuser\nchaos-g1\tgroup\nchaos-junk2\tuser\nopenssh-server\tuser\nsudo\tdependency\n",
	secGroups: "@group chaos-tools\n@group old-tools\n",
	secHost:   "cache=1\nshell=zsh /usr/bin/zsh\nsshd=enabled\nsudo=alice\nkernel=6.8.10-100.fc39.x86_64\n",
	secNew:    "@missing chaos-new nothere ssh openssh-clients\n@avail chaos-new\n@dep chaos-helper\n@dep chaos-newlib\n",
}

func chob(names ...string) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "m.yml"}
	for i, n := range names {
		c.Packages = append(c.Packages, chobolo.Package{Name: n})
		c.SetPos(fmt.Sprintf("packages[%d]", i), chobolo.Pos{File: "m.yml", Line: 2 + i, Col: 5})
	}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	return c
}

func TestParseFacts(t *testing.T) {
	f := ParseFacts(recorded)
	if p := f.Pkgs["kernel-core"]; p == nil || len(p.EVRs) != 2 || !p.UserInstalled() {
		t.Fatalf("kernel-core: %+v", p)
	}
	if got := f.Prov["/bin/sh"]; !slices.Equal(got, []string{"bash"}) {
		t.Errorf("/bin/sh providers: %v", got)
	}
	if got := f.Prov["/usr/bin/chaos-tool"]; !slices.Equal(got, []string{"chaos-tool"}) {
		t.Errorf("file require resolution: %v", got)
	}
	if !f.Reasons || f.Pkgs["chaos-lib"].UserInstalled() || !f.Pkgs["chaos-junk"].UserInstalled() {
		t.Error("reasons")
	}
	if !f.Groups["chaos-tools"] || !f.Cache || !f.SSHDEnabled || f.Kernel == "" || !slices.Equal(f.SudoMembers, []string{"alice"}) {
		t.Errorf("host facts: %+v", f)
	}
	if !f.NewKnown || !f.Avail["chaos-new"] || f.Avail["nothere"] || !slices.Contains(f.NewDeps, "chaos-newlib") {
		t.Errorf("new: %+v", f)
	}
	if f := ParseFacts(map[string]string{secRpm: "@norpm\n"}); !f.NoRpm {
		t.Error("@norpm")
	}
	if f := ParseFacts(map[string]string{secRpm: recorded[secRpm], secReason: "@failed\n"}); f.Reasons {
		t.Error("@failed must disable reasons")
	}
}

func TestDepGroups(t *testing.T) {
	inst := func(s string) bool { return s == "b" || s == "perl(Foo::Bar)" }
	for _, tc := range []struct {
		req  string
		want string
	}{
		{"a", "[[a]]"},
		{"rpmlib(CompressedFileNames)", "[]"},
		{"config(a)", "[]"},
		{"(a or b)", "[[a b]]"},
		{"(a and b)", "[[a] [b]]"},
		{"(a >= 1.0 or b < 2)", "[[a b]]"},
		{"(a if b)", "[[a]]"},
		{"(a if c)", "[]"},
		{"(a unless b)", "[]"},
		{"(a unless c)", "[[a]]"},
		{"(perl(Foo::Bar) or a)", "[[perl(Foo::Bar) a]]"},
		{"(a if (b or c))", "[[a]]"},
		{"((a or b) and c)", "[[a b c]]"}, // mixed nesting is read as alternatives; the rpm -e --test guard has the last word
	} {
		if got := fmt.Sprint(DepGroups(tc.req, inst)); got != tc.want && !(got == "[]" && tc.want == "[]") {
			t.Errorf("DepGroups(%q) = %s, want %s", tc.req, got, tc.want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, n := range []string{"-rf", ".x", "a b", "perl(Foo)", "/usr/bin/x", "a;b", "", "@", "@Dev", "@-x", "@a b"} {
		if fedora.ValidName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
	for _, n := range []string{"gcc-c++", "NetworkManager", "python3.12", "@development-tools", "@c_dev"} {
		if err := fedora.ValidName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
}

// TestGoldenPlan: the whole delta and plan from recorded facts.
func TestGoldenPlan(t *testing.T) {
	f := ParseFacts(recorded)
	goldenPlan(t, f, "plan")

	// Installed: nothing to install, nothing to remove, nothing to mark.
	c := chob("chaos-a", "chaos-lib")
	want, _, _ := Desired(c, pkgmap.Resolve)
	d := ComputeDelta(f, Input{Want: want, Prune: false, Base: fedora.BaseSet})
	d.Mark = nil // chaos-lib is a dependency: marked only
	if rp := BuildPlan(d, fedora.Dnf4); len(rp.Steps) != 0 {
		t.Errorf("no prune, all installed: %s", enginetest.RenderRole(rp))
	}
}

// goldenPlan checks the delta and plan of a Ch-obolo with packages, groups, a virtual name and a
// user's shell on the host f against testdata/NAME.golden.
func goldenPlan(t *testing.T, f *Facts, name string) {
	t.Helper()
	c := chob("chaos-a", "chaos-lib", "chaos-app", "chaos-rich", "chaos-new", "nothere", "@chaos-tools", "@new-tools", "ssh", "openssh")
	c.Users = []chobolo.User{{Name: "alice", Shell: "zsh", Sudo: true}}
	want, notes, err := Desired(c, pkgmap.Resolve)
	if err != nil {
		t.Fatal(err)
	}
	d := ComputeDelta(f, Input{Want: want, Prune: true, Base: fedora.BaseSet, GroupLedger: []string{"chaos-tools", "old-tools"}})
	d.Notes = append(notes, d.Notes...)
	rp := BuildPlan(d, f.Tool)
	rp.Guard = guardLarge(d)
	golden.Check(t, name, enginetest.RenderRole(rp)+"groups ledger: "+strings.Join(d.Groups, " ")+"\n")
}

// TestInvalidNames: an invalid name is refused with its position before anything reaches argv.
func TestInvalidNames(t *testing.T) {
	c := chob("ok", "--oops")
	if _, _, err := Desired(c, nil); err == nil || !strings.Contains(err.Error(), "m.yml:3:5") {
		t.Errorf("err = %v", err)
	}
}

// TestPlan250 times the delta and plan for 250 declared packages on a host with 1500 installed.
func TestPlan250(t *testing.T) {
	f := &Facts{Pkgs: map[string]*Pkg{}, Prov: map[string][]string{}, Groups: map[string]bool{}, Reasons: true, Cache: true}
	for i := range 1500 {
		n := fmt.Sprintf("pkg%04d", i)
		p := &Pkg{Name: n, Reason: "dependency", Provides: []string{n, fmt.Sprintf("lib%04d.so()(64bit)", i)}}
		if i%6 == 0 {
			p.Reason = "user"
		}
		for j := 1; j <= 8 && i+j < 1500; j++ {
			p.Requires = append(p.Requires, fmt.Sprintf("lib%04d.so()(64bit)", (i*7+j*13)%1500))
		}
		f.Pkgs[n] = p
		for _, pr := range p.Provides {
			f.Prov[pr] = append(f.Prov[pr], n)
		}
	}
	var names []string
	for i := 0; i < 1500 && len(names) < 125; i += 6 {
		names = append(names, fmt.Sprintf("pkg%04d", i))
	}
	for i := len(names); i < 250; i++ {
		names = append(names, fmt.Sprintf("new%04d", i))
	}
	c := chob(names...)
	start := time.Now()
	want, _, err := Desired(c, pkgmap.Resolve)
	if err != nil {
		t.Fatal(err)
	}
	d := ComputeDelta(f, Input{Want: want, Prune: true, Base: fedora.BaseSet})
	rp := BuildPlan(d, f.Tool)
	el := time.Since(start)
	t.Logf("delta + plan, 250 declared of 1500 installed: %v (%d steps, %d removals)", el, len(rp.Steps), len(d.Remove))
	if el > 2*time.Second {
		t.Errorf("too slow: %v", el)
	}
}

// TestUnavailable: from recorded facts, each package to install that dnf's cached repositories do
// not offer is an error at its declaration; without a cache, or with a repository file this plan
// writes, it is a "cannot verify" warning instead.
func TestUnavailable(t *testing.T) {
	f := ParseFacts(recorded)
	c := chob("chaos-a", "chaos-new", "nothere", "@new-tools", "openssh")
	want, _, err := Desired(c, pkgmap.Resolve)
	if err != nil {
		t.Fatal(err)
	}
	d := ComputeDelta(f, Input{Want: want, Base: fedora.BaseSet})
	errs, warns := pkggraph.CheckAvailable(d.Install, Availability(f, d.Install), "repos.dnf")
	var got []string
	for _, e := range errs {
		got = append(got, e.String())
	}
	wantErrs := []string{
		"m.yml:4:5: error: packages[2]: no package nothere in the configured repositories; check the spelling, or add the repository that has it under repos.dnf (the package map has no entry for it: if this distribution calls it differently, declare an override)",
		"m.yml:6:5: error: packages[4]: no package openssh-clients in the configured repositories; check the spelling, or add the repository that has it under repos.dnf",
	}
	if strings.Join(got, "\n") != strings.Join(wantErrs, "\n") || len(warns) > 0 {
		t.Errorf("errors:\n%s\nwant:\n%s\nwarnings: %q", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"), warns)
	}

	f.RepoChanged = []string{"copr-x"}
	errs, warns = pkggraph.CheckAvailable(d.Install, Availability(f, d.Install), "repos.dnf")
	if len(errs) > 0 || len(warns) != 2 || !strings.Contains(warns[0], "m.yml:4:5: cannot verify package nothere: this plan adds or changes repositories (copr-x) first") {
		t.Errorf("repository added by the plan: errors %v, warnings %q", errs, warns)
	}
	f.RepoChanged, f.Cache, f.Avail = nil, false, nil // without a cache the probe finds nothing
	errs, warns = pkggraph.CheckAvailable(d.Install, Availability(f, d.Install), "repos.dnf")
	if len(errs) > 0 || len(warns) != 3 || !strings.Contains(strings.Join(warns, "\n"), "cannot verify package chaos-new: dnf has no cached repository metadata yet") {
		t.Errorf("no cache: errors %v, warnings %q", errs, warns)
	}
}
