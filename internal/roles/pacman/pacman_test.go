package pacman

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"go.yaml.in/yaml/v3"
)

func recorded(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for sec, file := range map[string]string{secLocal: "local.txt", secForeign: "foreign.txt", secHost: "host.txt"} {
		data, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		out[sec] = string(data)
	}
	// ripgrep is declared and missing: pacman -Sp / -Si said it needs gcc-libs and pcre2.
	out[secNew] = "@new ripgrep\n@dep ripgrep gcc-libs pcre2>=10\n"
	return out
}

func chob(pkgs ...string) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "m.yml"}
	for i, n := range pkgs {
		c.Packages = append(c.Packages, chobolo.Package{Name: n})
		c.SetPos("packages["+string(rune('0'+i))+"]", chobolo.Pos{File: "m.yml", Line: 2 + i, Col: 5})
	}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	return c
}

func names(rs []Removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func scenario(t *testing.T, orphans bool) (*Delta, *Facts) {
	t.Helper()
	f := ParseFacts(recorded(t))
	c := chob("firefox", "neovim", "python-foo", "ripgrep")
	c.BaseOverride = []chobolo.Package{{Name: "base"}, {Name: "git"}}
	c.SetKey("baseOverride", chobolo.Pos{File: "m.yml", Line: 9, Col: 1})
	want, _, err := Desired(c, nil, f.UEFI)
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := BasePackages(c, nil)
	return ComputeDelta(f, Input{Want: want, Prune: true, PruneOrphans: orphans, Base: base}), f
}

func TestParseFacts(t *testing.T) {
	f := ParseFacts(recorded(t))
	if len(f.Pkgs) != 28 {
		t.Fatalf("parsed %d packages, want 28", len(f.Pkgs))
	}
	b := f.Pkgs["bash"]
	if b.Explicit || !slices.Equal(b.Deps, []string{"readline", "glibc", "ncurses"}) || !slices.Equal(b.Provides, []string{"sh"}) {
		t.Errorf("bash = %+v", b)
	}
	if !f.Pkgs["yay"].Foreign || f.Pkgs["git"].Foreign || !f.Pkgs["zsh"].Explicit {
		t.Error("foreign/explicit flags wrong")
	}
	if !f.Synced || !f.UEFI || f.DBPath != "/var/lib/pacman/" || !slices.Equal(f.SudoMembers, []string{"alice"}) ||
		!slices.Equal(f.ShellPkgs["zsh"], []string{"/usr/bin/zsh"}) || !slices.Equal(f.Boot, []string{"grub"}) {
		t.Errorf("host facts = %+v", f)
	}
	if !slices.Equal(f.New, []string{"ripgrep"}) || !slices.Equal(f.NewDeps["ripgrep"], []string{"gcc-libs", "pcre2"}) {
		t.Errorf("new = %v %v", f.New, f.NewDeps)
	}
}

func TestDelta(t *testing.T) {
	d, _ := scenario(t, false)
	var inst []string
	for _, w := range d.Install {
		inst = append(inst, w.Name)
	}
	if !slices.Equal(inst, []string{"ripgrep"}) {
		t.Errorf("install = %v", inst)
	}
	if len(d.Mark) != 1 || d.Mark[0].Pkg != "neovim" {
		t.Errorf("mark = %+v", d.Mark)
	}
	// htop and oldtool are explicit and undeclared. python is needed by declared python-foo, zsh is a
	// login shell, yay is foreign, git and base are the base set: all kept.
	if got := names(d.Remove); !slices.Equal(got, []string{"htop", "oldtool"}) {
		t.Errorf("remove = %v", got)
	}
	if got := names(d.RemoveDeps); !slices.Equal(got, []string{"oldtool-helper"}) {
		t.Errorf("remove deps = %v", got)
	}
	if d.Orphans != nil {
		t.Errorf("orphans without prune_orphans: %v", d.Orphans)
	}
	if notes := strings.Join(d.Notes, "\n"); !strings.Contains(notes, "package zsh is kept: it provides the login shell /usr/bin/zsh") || strings.Contains(notes, "python") {
		t.Errorf("notes:\n%s", notes)
	}
	if got := asDeps(d); got != "python: declared package python-foo depends on it" {
		t.Errorf("asdeps = %q", got)
	}
	if d.Explicit != 8 {
		t.Errorf("explicit native = %d, want 8", d.Explicit)
	}
}

// asDeps lists the explicit -> dependency marks of d as "NAME: REASON" lines.
func asDeps(d *Delta) string {
	var out []string
	for _, a := range d.AsDeps {
		out = append(out, a.Name+": "+a.Reason)
	}
	return strings.Join(out, "\n")
}

func TestOrphans(t *testing.T) {
	d, _ := scenario(t, true)
	if got := names(d.Orphans); !slices.Equal(got, []string{"oldlib"}) {
		t.Errorf("orphans = %v", got)
	}
}

// pruneDelta is the delta of a synced host whose database lists local (probe format) and where
// installing the missing declared packages adds what newSec says, for a Ch-obolo declaring pkgs.
func pruneDelta(local, newSec string, orphans bool, pkgs ...string) *Delta {
	f := ParseFacts(map[string]string{secLocal: local, secHost: "synced=1\n", secNew: newSec})
	want, _, _ := Desired(chob(pkgs...), nil, false)
	return ComputeDelta(f, Input{Want: want, Prune: true, PruneOrphans: orphans})
}

// A dependency pacman -Rs would take along but that something protected needs, or that a package about
// to be installed needs, stays.
func TestRemoveKeepsWhatNewPackagesNeed(t *testing.T) {
	d := pruneDelta("tool\t1-1\t0\t lib\t\nlib\t1-1\t0\t\t\nother\t1-1\t0\t\t\n", "@new app\n@dep app lib>=1\n", false, "app")
	if got := names(d.Remove); !slices.Equal(got, []string{"other", "tool"}) {
		t.Errorf("remove = %v (lib is needed by app, about to be installed)", got)
	}
	if got := asDeps(d); got != "lib: declared package app depends on it" {
		t.Errorf("asdeps = %q", got)
	}
}

// The original cascaded (-Rc) into declared packages. Here a declared package depending on an
// undeclared explicit one keeps it, transitively through dependencies.
func TestDeclaredNeedsUndeclaredExplicitTransitively(t *testing.T) {
	d := pruneDelta("app\t1-1\t0\t mid\t\nmid\t1-1\t1\t virt\t\nimpl\t1-1\t0\t\t virt=1\njunk\t1-1\t0\t\t\n", "", false, "app")
	if got := names(d.Remove); !slices.Equal(got, []string{"junk"}) {
		t.Errorf("remove = %v", got)
	}
	if len(d.RemoveDeps) != 0 {
		t.Errorf("remove deps = %v", d.RemoveDeps)
	}
	if want := "impl: declared package app depends on it (app -> mid -> impl)"; asDeps(d) != want {
		t.Errorf("asdeps = %q, want the whole chain %q", asDeps(d), want)
	}
}

// A dependency of a package about to be installed that is itself new (pulled in, not declared) names
// the declared packages as the reason.
func TestNewDependencyChain(t *testing.T) {
	d := pruneDelta("lib\t1-1\t0\t\t\n", "@new app\n@new helper\n@dep app helper\n@dep helper lib\n", false, "app")
	if len(d.Remove) != 0 {
		t.Errorf("remove = %v", d.Remove)
	}
	if want := "lib: a declared package about to be installed depends on it"; asDeps(d) != want {
		t.Errorf("asdeps = %q", asDeps(d))
	}
}

// Every installed package satisfying a dependency of a staying package stays, as pacman counts each
// as required (-Qdtt does not list it): neither an orphan nor taken along by a removal.
func TestAlternativeProvidersStay(t *testing.T) {
	d := pruneDelta("app\t1-1\t0\t java-runtime\t\ntool\t1-1\t0\t java-runtime\t\n"+
		"jre-a\t1-1\t1\t\t java-runtime=21\njre-b\t1-1\t1\t\t java-runtime=17\n", "", true, "app")
	if got := names(d.Remove); !slices.Equal(got, []string{"tool"}) {
		t.Errorf("remove = %v", got)
	}
	if len(d.RemoveDeps)+len(d.Orphans) != 0 {
		t.Errorf("remove deps = %v, orphans = %v: app still depends on java-runtime", d.RemoveDeps, d.Orphans)
	}
}

// An orphan depending on an undeclared explicit package: without prune_orphans the orphan stays, so
// pacman would refuse the removal and the package is kept; with prune_orphans both go in one run, the
// orphan first.
func TestOrphanNeedsUndeclared(t *testing.T) {
	const local = "orph\t1-1\t1\t tool\t\ntool\t1-1\t0\t toollib\t\ntoollib\t1-1\t1\t\t\n"
	d := pruneDelta(local, "", false, "app")
	if len(d.Remove)+len(d.RemoveDeps)+len(d.Orphans) != 0 {
		t.Errorf("remove = %v, deps %v, orphans %v", d.Remove, d.RemoveDeps, d.Orphans)
	}
	if want := "tool: package orph depends on it"; asDeps(d) != want {
		t.Errorf("asdeps = %q", asDeps(d))
	}
	d = pruneDelta(local, "", true, "app")
	if !slices.Equal(names(d.Remove), []string{"tool"}) || !slices.Equal(names(d.RemoveDeps), []string{"toollib"}) || !slices.Equal(names(d.Orphans), []string{"orph"}) {
		t.Errorf("remove = %v, deps %v, orphans %v", d.Remove, d.RemoveDeps, d.Orphans)
	}
	rp := BuildPlan(d, "/var/lib/pacman/", false)
	var b strings.Builder
	engine.RenderPlan(&b, &engine.HostPlan{Roles: []*engine.RolePlan{rp}}, engine.Style{})
	if plan := b.String(); strings.Index(plan, "-Rn --noconfirm --noprogressbar -- orph") > strings.Index(plan, "-Rn --noconfirm --noprogressbar -- tool") {
		t.Errorf("the orphan is not removed first:\n%s", plan)
	}
}

// A protected dependency is never taken along by a removal.
func TestProtectedDepStays(t *testing.T) {
	f := ParseFacts(map[string]string{
		secLocal: "admintool\t1-1\t0\t sudo helper\t\nsudo\t1-1\t1\t\t\nhelper\t1-1\t1\t\t\n",
		secHost:  "synced=1\nsudo=alice\n",
	})
	d := ComputeDelta(f, Input{Prune: true})
	if got := names(d.Remove); !slices.Equal(got, []string{"admintool"}) {
		t.Errorf("remove = %v", got)
	}
	if got := names(d.RemoveDeps); !slices.Equal(got, []string{"helper"}) {
		t.Errorf("remove deps = %v (sudo is protected)", got)
	}
}

func TestHostileNamesRefused(t *testing.T) {
	for _, bad := range []string{"-Rcc", "--root=/", "a b", "foo;rm -rf /", "../x", ".hidden", "x\ny", "core/foo", "foo>=1", "$(id)", ""} {
		c := chob(bad)
		if _, _, err := Desired(c, nil, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
		c = chob("ok")
		c.Packages[0].Overrides = map[string][]string{"arch": {bad}}
		if _, _, err := Desired(c, nil, false); err == nil {
			t.Errorf("override %q accepted", bad)
		}
		c = &chobolo.Chobolo{BaseOverride: []chobolo.Package{{Name: bad}}}
		c.SetKey("baseOverride", chobolo.Pos{})
		if _, _, err := Desired(c, nil, false); err == nil {
			t.Errorf("baseOverride %q accepted", bad)
		}
	}
	for _, ok := range []string{"gtk3", "lib32-glibc", "python-pip", "c++utilities", "libc++", "xorg-server", "qt6-base", "ttf-font-awesome", "android-sdk@beta", "R"} {
		if _, _, err := Desired(chob(ok), nil, false); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

func TestImpliedPackages(t *testing.T) {
	c := &chobolo.Chobolo{Users: []chobolo.User{{Name: "alice", Shell: "zsh"}, {Name: "bob", Shell: "/usr/bin/fish"}, {Name: "carol", Shell: "/bin/sh"}}}
	c.SetKey("users", chobolo.Pos{})
	var boot, parts yaml.Node
	if err := yaml.Unmarshal([]byte("grub"), &boot); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte("partitions: [{important: boot, type: fat32}, {important: root, type: btrfs}]"), &parts); err != nil {
		t.Fatal(err)
	}
	c.Extra = map[string]*yaml.Node{"bootloader": boot.Content[0], "partitioning": parts.Content[0]}
	want, _, err := Desired(c, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range want {
		got = append(got, w.Name)
	}
	// No base set: neither packages nor baseOverride is declared.
	if exp := []string{"zsh", "fish", "grub", "efibootmgr", "dosfstools", "btrfs-progs"}; !slices.Equal(got, exp) {
		t.Errorf("desired = %v, want %v", got, exp)
	}
	// A declared firmware wins over the probe (inside a chroot the probe sees the installer's).
	if err := yaml.Unmarshal([]byte("{name: grub, firmware: bios}"), &boot); err != nil {
		t.Fatal(err)
	}
	c.Extra["bootloader"] = boot.Content[0]
	if want, _, err := Desired(c, nil, true); err != nil || slices.ContainsFunc(want, func(w desired) bool { return w.Name == "efibootmgr" }) {
		t.Errorf("firmware: bios: desired %v (%v)", want, err)
	}
	if err := yaml.Unmarshal([]byte("{name: grub, firmware: uefi}"), &boot); err != nil {
		t.Fatal(err)
	}
	c.Extra["bootloader"] = boot.Content[0]
	if want, _, err := Desired(c, nil, false); err != nil || !slices.ContainsFunc(want, func(w desired) bool { return w.Name == "efibootmgr" }) {
		t.Errorf("firmware: uefi: desired %v (%v)", want, err)
	}
	if err := yaml.Unmarshal([]byte("lilo"), &boot); err != nil {
		t.Fatal(err)
	}
	c.Extra["bootloader"] = boot.Content[0]
	if _, _, err := Desired(c, nil, true); err == nil {
		t.Error("bootloader lilo accepted")
	}
}

func TestBaseSetDesiredWithPackages(t *testing.T) {
	want, _, err := Desired(chob("vim"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 12 || want[1].Name != "linux" || want[1].Why != "base set" {
		t.Errorf("desired = %+v", want)
	}
}

func TestGoldenPlan(t *testing.T) {
	d, f := scenario(t, true)
	rp := BuildPlan(d, f.DBPath, true)
	rp.Role = "packages"
	hp := &engine.HostPlan{Target: "@test", Core: "arch", Roles: []*engine.RolePlan{rp}}
	var b strings.Builder
	engine.RenderPlan(&b, hp, engine.Style{})
	golden.Check(t, "plan", b.String())
}

func TestGuard(t *testing.T) {
	if g := guardLarge(&Delta{Remove: make([]Removal, 4), Explicit: 6}); g == "" {
		t.Error("4 of 6: no guard")
	}
	if g := guardLarge(&Delta{Remove: make([]Removal, 3), Explicit: 4}); g != "" {
		t.Error("3 removals: guard")
	}
}

// syntheticFacts is a host with n explicit packages, each depending on two of n/2 libraries.
func syntheticFacts(n int) (map[string]string, *chobolo.Chobolo) {
	var local strings.Builder
	c := &chobolo.Chobolo{}
	for i := range n / 2 {
		fmt.Fprintf(&local, "lib%04d\t1-1\t1\t glibc\t libv%04d.so=1-64\n", i, i)
	}
	for i := range n {
		fmt.Fprintf(&local, "app%04d\t1-1\t0\t lib%04d libv%04d.so\t\n", i, i%(n/2), (i*7)%(n/2))
		c.Packages = append(c.Packages, chobolo.Package{Name: fmt.Sprintf("app%04d", i)})
	}
	local.WriteString("glibc\t2.41-1\t1\t\t\n")
	c.BaseOverride = []chobolo.Package{{Name: "glibc"}}
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	return map[string]string{secLocal: local.String(), secHost: "synced=1\n"}, c
}

// BenchmarkPlan250 is parse + delta + plan of a no-change 250-package Ch-obolo (prune and orphans on).
func BenchmarkPlan250(b *testing.B) {
	raw, c := syntheticFacts(250)
	facts := engine.Facts{}
	for k, v := range raw {
		facts[k] = engine.Output{Stdout: v}
	}
	r := &Role{}
	for b.Loop() {
		f, _ := parseEngineFacts(facts)
		want, _, _ := Desired(c, nil, false)
		base, _, _ := BasePackages(c, nil)
		d := ComputeDelta(f, Input{Want: want, Prune: true, PruneOrphans: true, Base: base})
		if len(d.Remove)+len(d.Install)+len(d.Orphans) != 0 {
			b.Fatal("not a no-change plan")
		}
		_ = r
	}
}

// Capture then plan: the captured Ch-obolo removes nothing and installs nothing.
func TestCaptureRoundTrip(t *testing.T) {
	raw := recorded(t)
	delete(raw, secNew)
	facts := engine.Facts{}
	for k, v := range raw {
		facts[k] = engine.Output{Stdout: v}
	}
	r := &Role{}
	c := &chobolo.Chobolo{}
	if err := r.Capture(&engine.Env{}, facts, c); err != nil {
		t.Fatal(err)
	}
	rp, err := r.Plan(&engine.Env{}, c, facts)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Empty() {
		var b strings.Builder
		engine.RenderPlan(&b, &engine.HostPlan{Roles: []*engine.RolePlan{rp}}, engine.Style{})
		t.Errorf("captured Ch-obolo plans changes:\n%s", b.String())
	}
}
