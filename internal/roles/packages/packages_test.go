package packages

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/golden"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/hostfacts"
)

// P describes one package of a synthetic dpkg database.
type P struct {
	name, deps, prov, prio string
	auto, ess, held, rc    bool
}

func mkFacts(ps ...P) *Facts {
	f := &Facts{Pkgs: map[string]*Pkg{}, Lists: true, Facts: hostfacts.Facts{ShellPkgs: map[string][]string{}}, NewDeps: map[string][][]string{}}
	for _, p := range ps {
		prio := p.prio
		prio = cmp.Or(prio, "optional")
		pk := &Pkg{Name: p.name, Arches: []string{"amd64"}, Status: "ii ", Priority: prio, Essential: p.ess,
			Version: "1.0", Installed: !p.rc, Auto: p.auto && !p.rc, Held: p.held, Deps: ParseDepends(p.deps)}
		if p.held {
			pk.Status = "hi "
		}
		if p.rc {
			pk.Status = "rc "
		}
		for _, g := range ParseDepends(p.prov) {
			pk.Provides = append(pk.Provides, g...)
		}
		f.Pkgs[p.name] = pk
	}
	return f
}

func want(names ...string) []desired {
	var out []desired
	for i, n := range names {
		out = append(out, desired{Name: n, Why: fmt.Sprintf("packages[%d]", i), Pos: chobolo.Pos{File: "m.yml", Line: 3 + i, Col: 5}})
	}
	return out
}

func names[T any](xs []T, f func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func TestParseDepends(t *testing.T) {
	got := ParseDepends("libc6 (>= 2.34), gpgv | gpgv2:any [amd64] | gpgv1, debconf (>= 0.5) | debconf-2.0,  ")
	exp := [][]string{{"libc6"}, {"gpgv", "gpgv2", "gpgv1"}, {"debconf", "debconf-2.0"}}
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("got %v, want %v", got, exp)
	}
}

func TestParseAptCacheDepends(t *testing.T) {
	out := "@missing newpkg\nnewpkg\n  Depends: libx (>= 1)\n |Depends: a\n  Depends: <virt>\n    prov1\n    prov2\n  PreDepends: dpkg\nlibx\n  Depends: libc6\n<virt>\nprov1\n"
	f := mkFacts(P{name: "libc6"}, P{name: "dpkg"}, P{name: "libx"})
	parseAptCacheDepends(out, f)
	if _, ok := f.NewDeps["libx"]; ok {
		t.Errorf("installed libx must not be a new package: %v", f.NewDeps)
	}
	exp := [][]string{{"libx"}, {"a", "virt", "prov1", "prov2"}, {"dpkg"}}
	if fmt.Sprint(f.NewDeps["newpkg"]) != fmt.Sprint(exp) {
		t.Errorf("newpkg deps = %v, want %v", f.NewDeps["newpkg"], exp)
	}
	if d, ok := f.NewDeps["prov1"]; !ok || len(d) != 0 {
		t.Errorf("prov1 should be a new package without deps: %v %v", d, ok)
	}
}

func TestParseFactsBookworm(t *testing.T) {
	f := bookworm(t)
	if p := f.Pkgs["apt"]; p == nil || !p.Installed || p.Auto || p.Priority != "important" {
		t.Fatalf("apt: %+v", p)
	}
	if p := f.Pkgs["libwrap0"]; p == nil || !p.Auto {
		t.Fatalf("libwrap0 should be auto: %+v", p)
	}
	if p := f.Pkgs["bash"]; !p.Essential {
		t.Fatal("bash is Essential")
	}
	if f.Lists || f.PolicyRC != debian.PolicyRCAbsent || f.Kernel != "6.1.0" {
		t.Fatalf("host facts: %+v", f)
	}
	if got := f.ShellPkgs["zsh"]; !slices.Equal(got, []string{"/usr/bin/zsh"}) {
		t.Fatalf("shells: %v", f.ShellPkgs)
	}
	// A fresh minbase root is exactly what its base set keeps: capturing it declares nothing extra.
	if got := CaptureNames(f, true); len(got) != 0 {
		t.Errorf("capture of a minbase root: %v", got)
	}
}

func bookworm(t testing.TB) *Facts {
	t.Helper()
	read := func(n string) string {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	f, err := ParseFacts(map[string]string{
		secStatus: read("bookworm-status.txt"),
		secAuto:   read("bookworm-auto.txt"),
		secHost:   "policy-rc.d=absent\nshell=zsh /usr/bin/zsh\nkernel=6.1.0\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCompute(t *testing.T) {
	base := []P{
		{name: "bash", ess: true, prio: "required"},
		{name: "apt", prio: "important", deps: "libapt"},
		{name: "libapt", auto: true},
		{name: "openssh-server", deps: "libssl"},
		{name: "libssl", auto: true},
	}
	with := func(ps ...P) *Facts { return mkFacts(append(slices.Clone(base), ps...)...) }
	tests := []struct {
		name                  string
		f                     *Facts
		in                    Input
		install, mark, remove []string
		notes                 []string // substrings, one per expected note
		auto                  []string // "NAME: substring of why", one per manual -> automatic mark
		update                bool
	}{
		{name: "install missing, keep installed",
			f: with(P{name: "git"}), in: Input{Want: want("git", "htop"), Prune: true},
			install: []string{"htop"}},
		{name: "no lists: update first",
			f: func() *Facts { f := with(); f.Lists = false; return f }(), in: Input{Want: want("htop")},
			install: []string{"htop"}, update: true},
		{name: "auto becomes manual",
			f: with(P{name: "libfoo", auto: true}), in: Input{Want: want("libfoo"), Prune: true},
			mark: []string{"libfoo"}},
		{name: "prune undeclared manual, not auto, not base, not important",
			f: with(P{name: "nano"}, P{name: "vim"}, P{name: "libz", auto: true}), in: Input{Want: want("vim"), Prune: true, Base: debian.BaseSet},
			remove: []string{"nano"}},
		{name: "no prune when packages is not declared",
			f: with(P{name: "nano"}), in: Input{Want: want("zsh"), Prune: false},
			install: []string{"zsh"}},
		{name: "declared package depends on an undeclared manual one",
			f:      with(P{name: "app", deps: "libhelper"}, P{name: "libhelper"}, P{name: "junk"}),
			in:     Input{Want: want("app"), Prune: true},
			remove: []string{"junk"}, auto: []string{"libhelper: declared package app depends on it"}},
		{name: "dependency through an automatic package",
			f:    with(P{name: "app", deps: "libmid (>= 2)"}, P{name: "libmid", auto: true, deps: "tool"}, P{name: "tool"}),
			in:   Input{Want: want("app"), Prune: true},
			auto: []string{"tool: declared package app depends on it (app -> libmid -> tool)"}},
		{name: "alternatives: a kept one satisfies the group",
			f:      with(P{name: "app", deps: "mta-a | mta-b"}, P{name: "mta-a"}, P{name: "mta-b"}),
			in:     Input{Want: want("app", "mta-b"), Prune: true},
			remove: []string{"mta-a"}},
		{name: "alternatives: all candidates, the first is kept",
			f:      with(P{name: "app", deps: "mta-a | mta-b"}, P{name: "mta-a"}, P{name: "mta-b"}),
			in:     Input{Want: want("app"), Prune: true},
			remove: []string{"mta-b"}, auto: []string{"mta-a: declared package app depends on it"}},
		{name: "virtual package satisfied by an installed provider",
			f:    with(P{name: "postfix", prov: "mail-transport-agent", auto: true}),
			in:   Input{Want: want("mail-transport-agent"), Prune: true},
			mark: []string{"postfix"}},
		{name: "a package about to be installed needs a candidate",
			f: func() *Facts {
				f := with(P{name: "libold"})
				f.NewDeps["newapp"] = [][]string{{"libnew"}}
				f.NewDeps["libnew"] = [][]string{{"libold"}}
				return f
			}(),
			in:      Input{Want: want("newapp"), Prune: true},
			install: []string{"newapp"}, auto: []string{"libold: declared package newapp depends on it (newapp -> libnew -> libold)"}},
		{name: "protected: login shell, sudo, sshd, kernel, held",
			f: func() *Facts {
				f := with(P{name: "zsh"}, P{name: "sudo"}, P{name: "linux-image-6.1.0-1-amd64"}, P{name: "pinned", held: true})
				f.ShellPkgs["zsh"] = []string{"/usr/bin/zsh"}
				f.SSHDRunning = true
				f.Kernel = "6.1.0-1-amd64"
				return f
			}(),
			in: Input{Prune: true, Base: []string{"apt"}, BaseOverridden: true, SudoUsed: true},
			notes: []string{"package linux-image-6.1.0-1-amd64 is kept: it is the running kernel", "package openssh-server is kept: sshd",
				"package pinned is kept: it is on hold", "package sudo is kept", "package zsh is kept: it provides the login shell /usr/bin/zsh"}},
		{name: "in a chroot a running sshd or kernel protects nothing",
			f: func() *Facts {
				f := with(P{name: "linux-image-6.1.0-1-amd64"})
				f.SSHDRunning = true
				f.Kernel = "6.1.0-1-amd64"
				return f
			}(),
			in:     Input{Prune: true, Base: []string{"apt"}, BaseOverridden: true, Chroot: true},
			remove: []string{"linux-image-6.1.0-1-amd64", "openssh-server"}},
		{name: "base set patterns",
			f:      with(P{name: "linux-image-amd64"}, P{name: "grub-efi-amd64"}, P{name: "intel-microcode"}, P{name: "cowsay"}),
			in:     Input{Prune: true, Base: debian.BaseSet},
			remove: []string{"cowsay"}},
		{name: "rc packages are not installed",
			f: with(P{name: "old", rc: true}), in: Input{Want: want("old"), Prune: true, Base: debian.BaseSet},
			install: []string{"old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Base == nil {
				tt.in.Base = debian.BaseSet
			}
			d := ComputeDelta(tt.f, tt.in)
			if got := names(d.Install, func(w desired) string { return w.Name }); !slices.Equal(got, orEmpty(tt.install)) {
				t.Errorf("install = %v, want %v", got, tt.install)
			}
			if got := names(d.Mark, func(m Mark) string { return m.Pkg }); !slices.Equal(got, orEmpty(tt.mark)) {
				t.Errorf("mark = %v, want %v", got, tt.mark)
			}
			if !slices.Equal(orEmpty(d.Remove), orEmpty(tt.remove)) {
				t.Errorf("remove = %v, want %v", d.Remove, tt.remove)
			}
			if d.Update != tt.update {
				t.Errorf("update = %v", d.Update)
			}
			var auto []string
			for _, a := range d.Auto {
				auto = append(auto, a.Name+": "+a.Why)
			}
			if len(auto) != len(tt.auto) {
				t.Errorf("auto = %q, want %q", auto, tt.auto)
			}
			for i, a := range tt.auto {
				if i < len(auto) && !strings.HasPrefix(auto[i], strings.SplitN(a, ":", 2)[0]+": ") || i < len(auto) && !strings.Contains(auto[i], strings.SplitN(a, ": ", 2)[1]) {
					t.Errorf("auto %d = %q, want %q", i, auto[i], a)
				}
			}
			if len(d.Notes) != len(tt.notes) {
				t.Errorf("notes = %q, want %d", d.Notes, len(tt.notes))
			}
			for i, n := range tt.notes {
				if i < len(d.Notes) && !strings.Contains(d.Notes[i], n) {
					t.Errorf("note %d = %q, want it to contain %q", i, d.Notes[i], n)
				}
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestDesired(t *testing.T) {
	c := &chobolo.Chobolo{
		Packages: []chobolo.Package{{Name: "git"}, {Name: "ssh", Overrides: map[string][]string{"debian": {"openssh-server", "openssh-client"}}},
			{Name: "nothing-here", Overrides: map[string][]string{"debian": {}}}, {Name: "git"}},
		Users: []chobolo.User{{Name: "a", Shell: "/usr/bin/zsh"}, {Name: "b", Shell: "bash"}, {Name: "c", Shell: "fish", State: "absent"},
			{Name: "d", Shell: "/opt/weird/sh2"}},
	}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1})
	got, notes, err := Desired(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := []string{"git", "openssh-server", "openssh-client", "zsh", "bash"}
	if n := names(got, func(d desired) string { return d.Name }); !slices.Equal(n, exp) {
		t.Fatalf("desired = %v, want %v", n, exp)
	}
	if got[3].Why != "login shell of user a" || len(notes) != 1 || !strings.Contains(notes[0], "/opt/weird/sh2") {
		t.Fatalf("why %q, notes %q", got[3].Why, notes)
	}
	for _, bad := range []string{"-oAPT::Get=1", "foo bar", "$(reboot)", "a;b", "Foo", "x\ny", "../x"} {
		c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "ok"}, {Name: bad}}}
		c.SetPos("packages[1]", chobolo.Pos{File: "m.yml", Line: 9, Col: 5})
		_, _, err := Desired(c, nil)
		if err == nil || !strings.Contains(err.Error(), "m.yml:9:5") {
			t.Errorf("%q: err = %v, want a refusal at m.yml:9:5", bad, err)
		}
	}
	c = &chobolo.Chobolo{BaseOverride: []chobolo.Package{{Name: "-rf"}}}
	c.SetPos("baseOverride[0]", chobolo.Pos{File: "m.yml", Line: 2, Col: 3})
	if _, _, err := BasePatterns(c, nil); err == nil || !strings.Contains(err.Error(), "m.yml:2:3") {
		t.Errorf("baseOverride: err = %v", err)
	}
}

func TestPolicyRCWrapping(t *testing.T) {
	d := &Delta{Install: want("a"), Remove: []string{"b"}, Mark: []Mark{{desired: want("c")[0], Pkg: "c"}}}
	rp := BuildPlan(d, PlanInput{Chroot: true, PolicyRC: debian.PolicyRCAbsent})
	if rp.Steps[0].Ops[0].Argv[0] != "apt-mark" {
		t.Fatalf("apt-mark comes first: %s", rp.Steps[0].Ops[0])
	}
	first := rp.Steps[1].Ops[0]
	last := rp.Steps[len(rp.Steps)-1].Ops[len(rp.Steps[len(rp.Steps)-1].Ops)-1]
	if first.Kind != engine.OpWrite || first.Path != debian.PolicyRC || last.Kind != engine.OpRemove || last.Path != debian.PolicyRC {
		t.Fatalf("policy-rc.d must wrap the transactions: first %s, last %s", first, last)
	}
	for _, in := range []PlanInput{{Chroot: false, PolicyRC: debian.PolicyRCAbsent}, {Chroot: true, PolicyRC: debian.PolicyRCOther}} {
		for _, s := range BuildPlan(d, in).Steps {
			for _, op := range s.Ops {
				if op.Path == debian.PolicyRC {
					t.Errorf("%+v: unexpected %s", in, op)
				}
			}
		}
	}
	// Removal only, in a chroot: the removal step is wrapped.
	rp = BuildPlan(&Delta{Remove: []string{"b"}, Mark: []Mark{{desired: want("c")[0], Pkg: "c"}}}, PlanInput{Chroot: true, PolicyRC: debian.PolicyRCAbsent})
	if rp.Steps[0].Ops[0].Argv[0] != "apt-mark" || rp.Steps[1].Ops[0].Kind != engine.OpWrite {
		t.Errorf("removal-only plan: %s / %s", rp.Steps[0].Ops[0], rp.Steps[1].Ops[0])
	}
	// A helper left behind by an interrupted run goes away on a live host, even with nothing to do.
	rp = BuildPlan(&Delta{}, PlanInput{Chroot: false, PolicyRC: debian.PolicyRCChaos})
	if len(rp.Steps) != 1 || rp.Steps[0].Ops[0].Kind != engine.OpRemove {
		t.Errorf("leftover: %+v", rp.Steps)
	}
	rp = BuildPlan(&Delta{Install: want("a")}, PlanInput{Chroot: true, PolicyRC: debian.PolicyRCChaos})
	if len(rp.Steps) != 1 || rp.Steps[0].Ops[0].Kind != engine.OpWrite {
		t.Errorf("leftover in a chroot with work: %+v", rp.Steps)
	}
}

func TestGuardLarge(t *testing.T) {
	if g := guardLarge(&Delta{Remove: []string{"a", "b", "c", "d"}, Manual: 6}); g == "" {
		t.Error("4 of 6 should be guarded")
	}
	if g := guardLarge(&Delta{Remove: []string{"a", "b", "c"}, Manual: 3}); g != "" {
		t.Error("3 removals are never guarded")
	}
}

// TestGoldenPlan plans a realistic change on the recorded bookworm facts and compares the plan (as
// --dry --json shows it, plus notes) with testdata/plan.golden.
func TestGoldenPlan(t *testing.T) {
	f := bookworm(t)
	f.Pkgs["nano"] = &Pkg{Name: "nano", Arches: []string{"amd64"}, Status: "ii ", Priority: "optional", Installed: true, Version: "7.2-1"}
	f.Pkgs["less"] = &Pkg{Name: "less", Arches: []string{"amd64"}, Status: "ii ", Priority: "optional", Installed: true, Auto: true, Version: "590-2"}
	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "git"}, {Name: "less"}}, Users: []chobolo.User{{Name: "alice", Shell: "zsh", Sudo: true}}}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	c.SetPos("packages[0]", chobolo.Pos{File: "m.yml", Line: 2, Col: 5})
	c.SetPos("packages[1]", chobolo.Pos{File: "m.yml", Line: 3, Col: 5})
	c.SetPos("users[0].shell", chobolo.Pos{File: "m.yml", Line: 6, Col: 12})
	rp, err := planFrom(f, c, &engine.Env{Chroot: true})
	if err != nil {
		t.Fatal(err)
	}
	rp.Role = "packages"
	got, err := json.MarshalIndent(rp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "plan", string(got)+"\n")
}

// planFrom is Plan without the engine's fact framing, and without the package map.
func planFrom(f *Facts, c *chobolo.Chobolo, env *engine.Env) (*engine.RolePlan, error) {
	return (&Role{}).PlanFacts(env, c, f)
}

// BenchmarkPlan250 is the pure delta and plan for a 250-package Ch-obolo against a 1,000-package
// dpkg database where everything is installed (the no-change case) and, in the sub-benchmark, where
// 50 are missing and 50 undeclared manual packages are pruned.
func BenchmarkPlan250(b *testing.B) {
	var ps []P
	for i := range 1000 {
		p := P{name: fmt.Sprintf("pkg%04d", i), auto: i >= 250}
		if i > 0 {
			p.deps = fmt.Sprintf("pkg%04d (>= 1.0), lib%d | pkg%04d", (i*7)%1000, i, (i*13)%1000)
		}
		ps = append(ps, p)
	}
	f := mkFacts(ps...)
	c := &chobolo.Chobolo{}
	for i := range 250 {
		c.Packages = append(c.Packages, chobolo.Package{Name: fmt.Sprintf("pkg%04d", i)})
	}
	c.SetKey("packages", chobolo.Pos{})
	bench := func(b *testing.B, c *chobolo.Chobolo) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := planFrom(f, c, &engine.Env{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("nochange", func(b *testing.B) { bench(b, c) })
	c2 := &chobolo.Chobolo{}
	for i := 50; i < 300; i++ {
		name := fmt.Sprintf("pkg%04d", i)
		if i >= 250 {
			name = fmt.Sprintf("new%04d", i)
		}
		c2.Packages = append(c2.Packages, chobolo.Package{Name: name})
	}
	c2.SetKey("packages", chobolo.Pos{})
	b.Run("changes", func(b *testing.B) { bench(b, c2) })
}

func TestDesiredThroughPackageMap(t *testing.T) {
	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "openssh"}, {Name: "some-debian-only-name"}}}
	got, _, err := Desired(c, defaultResolver)
	if err != nil {
		t.Fatal(err)
	}
	exp := []string{"openssh-server", "openssh-client", "some-debian-only-name"}
	if n := names(got, func(d desired) string { return d.Name }); !slices.Equal(n, exp) {
		t.Fatalf("got %v, want %v", n, exp)
	}
}

// TestNeeds: what another role needs (region: locales) is installed in the same apt transaction as
// the declared packages, shown as needed by that role, and never pruned while the need stands; when
// the packages role runs only for the needs (tags did not select it), nothing else is installed or
// pruned.
func TestNeeds(t *testing.T) {
	need := engine.Need{Package: "locales", Role: "region", Why: "locale-gen for region.locale", Pos: chobolo.Pos{File: "m.yml", Line: 9, Col: 3}}
	// reflector stands for any needed package outside the base set (which locales is in).
	tool := engine.Need{Package: "reflector", Role: "mirrors", Why: "ranks the mirrors"}
	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "git"}}}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	c.SetPos("packages[0]", chobolo.Pos{File: "m.yml", Line: 2, Col: 5})
	changes := func(rp *engine.RolePlan) string {
		var out []string
		for _, s := range rp.Steps {
			for _, ch := range s.Changes {
				out = append(out, string(ch.Kind)+" "+ch.Subject+" ["+ch.Detail+"] @"+ch.Pos.String())
			}
		}
		return strings.Join(out, "\n")
	}
	for _, tc := range []struct {
		name      string
		installed []P
		env       engine.Env
		want      string
	}{
		{"installed with the declared packages", []P{{name: "nano"}},
			engine.Env{Chroot: true, Needs: []engine.Need{need}, NeedsServed: true},
			"+ package git [] @m.yml:2:5\n+ package locales [needed by region: locale-gen for region.locale] @m.yml:9:3\n- package nano [manually installed, not declared] @<unknown>"},
		{"only the needs", []P{{name: "nano"}},
			engine.Env{Chroot: true, Needs: []engine.Need{need}, NeedsServed: true, NeedsOnly: true},
			"+ package locales [needed by region: locale-gen for region.locale] @m.yml:9:3"},
		{"kept while needed", []P{{name: "nano"}, {name: "reflector"}},
			engine.Env{Chroot: true, Needs: []engine.Need{tool}, NeedsServed: true},
			"+ package git [] @m.yml:2:5\n- package nano [manually installed, not declared] @<unknown>"},
		{"pruned when the need goes", []P{{name: "nano"}, {name: "reflector"}},
			engine.Env{Chroot: true},
			"+ package git [] @m.yml:2:5\n- package nano [manually installed, not declared] @<unknown>\n- package reflector [manually installed, not declared] @<unknown>"},
		{"installed as a dependency: marked manual", []P{{name: "locales", auto: true}, {name: "git"}},
			engine.Env{Chroot: true, Needs: []engine.Need{need}, NeedsServed: true},
			"~ package locales [installed as a dependency; mark it manually installed] @m.yml:9:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := planFrom(mkFacts(tc.installed...), c, &tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := changes(rp); got != tc.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
