package aur

import (
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"go.yaml.in/yaml/v3"
)

func chob(t *testing.T, extra map[string]string) *chobolo.Chobolo {
	t.Helper()
	c := &chobolo.Chobolo{Extra: map[string]*yaml.Node{}}
	for k, v := range extra {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(v), &n); err != nil {
			t.Fatal(err)
		}
		c.Extra[k] = n.Content[0]
		c.SetKey(k, chobolo.Pos{})
	}
	return c
}

func TestParse(t *testing.T) {
	s, err := Parse(chob(t, map[string]string{"aurHelpers": "[yay]", "aurPackages": "[foo, {name: bar, url: 'https://git.example/bar.git'}]"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Pkgs {
		got = append(got, p.Name+" "+p.URL)
	}
	want := []string{"yay https://aur.archlinux.org/yay.git", "foo https://aur.archlinux.org/foo.git", "bar https://git.example/bar.git"}
	if !slices.Equal(got, want) || !s.Prune {
		t.Errorf("parsed %v, prune %v", got, s.Prune)
	}
	s, err = Parse(chob(t, map[string]string{"aurPackages": "{base_url: 'file:///srv/aur/', packages: [foo]}"}))
	if err != nil || s.Pkgs[0].URL != "file:///srv/aur/foo.git" {
		t.Errorf("%+v %v", s, err)
	}
	s, _ = Parse(chob(t, map[string]string{"aurHelpers": "[paru]"}))
	if s.Prune {
		t.Error("aurHelpers alone prunes")
	}
}

func TestHostile(t *testing.T) {
	for _, v := range []map[string]string{
		{"aurPackages": "['-Syu']"}, {"aurPackages": "['a;b']"}, {"aurPackages": "['$(id)']"},
		{"aurPackages": "[{name: x, url: '--upload-pack=touch /tmp/pwned'}]"},
		{"aurPackages": "[{name: x, url: 'ext::sh -c id'}]"},
		{"aurPackages": "[{name: x, url: 'https://a b'}]"},
		{"aurPackages": "{base_url: 'ftp://x'}"}, {"aurPackages": "{evil: 1}"},
		{"aurHelpers": "yay"}, {"aurHelpers": "['../yay']"},
	} {
		if _, err := Parse(chob(t, v)); err == nil {
			t.Errorf("%v accepted", v)
		}
	}
}

func facts() *pacman.Facts {
	return pacman.ParseFacts(map[string]string{
		pacman.SectionLocal: "yay\t12-1\t0\t pacman\t\nold-aur\t1-1\t0\t\t\nlib-aur\t1-1\t0\t\t libx\nneeds\t1-1\t0\t libx\t\n" +
			"dep-aur\t1-1\t1\t\t\npacman\t7-1\t1\t\t\nfirefox\t1-1\t0\t\t\nlocal-tool\t1-1\t0\t\t\n",
		pacman.SectionForeign: "yay\nold-aur\nlib-aur\ndep-aur\nneeds\nlocal-tool\n",
	})
}

func TestDelta(t *testing.T) {
	c := chob(t, map[string]string{"aurHelpers": "[yay, paru]", "aurPackages": "[needs, dep-aur, new-aur]"})
	c.Packages = []chobolo.Package{{Name: "local-tool"}}
	s, err := Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	d := ComputeDelta(facts(), s, []string{"local-tool"}, nil)
	var build, mark []string
	for _, p := range d.Build {
		build = append(build, p.Name)
	}
	for _, p := range d.Mark {
		mark = append(mark, p.Name)
	}
	if !slices.Equal(build, []string{"paru", "new-aur"}) || !slices.Equal(mark, []string{"dep-aur"}) {
		t.Errorf("build %v mark %v", build, mark)
	}
	// yay is a helper (kept though not in aurPackages), local-tool is declared in packages, lib-aur
	// is needed by needs; old-aur goes. firefox is native: not this role's business.
	if !slices.Equal(d.Remove, []string{"old-aur"}) {
		t.Errorf("remove = %v", d.Remove)
	}
	if !strings.Contains(strings.Join(d.Notes, "\n"), "foreign package lib-aur is kept although it is not declared: needs depends on it") {
		t.Errorf("notes = %v", d.Notes)
	}
	// Without aurPackages nothing foreign is removed.
	s, _ = Parse(chob(t, map[string]string{"aurHelpers": "[yay]"}))
	if d := ComputeDelta(facts(), s, nil, nil); len(d.Remove) != 0 {
		t.Errorf("helpers only: remove %v", d.Remove)
	}
}

func TestPlanOps(t *testing.T) {
	s, _ := Parse(chob(t, map[string]string{"aurPackages": "[new-aur]"}))
	rp := BuildPlan(ComputeDelta(facts(), s, nil, nil), s.BaseURL)
	op := rp.Steps[1].Ops[0]
	if !slices.Equal(op.Argv[3:], []string{"chaos-aur-build", CacheDir, DefaultBaseURL, "new-aur", "https://aur.archlinux.org/new-aur.git"}) {
		t.Errorf("argv = %q", op.Argv)
	}
	// The undo removes every package installed since the build started (its official and AUR
	// dependencies too), from the installed names captured right before it.
	if op.Undo == nil || len(op.Capture) == 0 || !strings.Contains(strings.Join(op.Undo.Argv, " "), "pacman -Rn") {
		t.Errorf("undo = %+v, capture %q", op.Undo, op.Capture)
	}
	if rp.Steps[0].Ops[0].Owner != "root" {
		t.Errorf("cache dir owner = %q", rp.Steps[0].Ops[0].Owner)
	}
}

// TestUpgrade: newer AUR versions rebuild installed declared packages only with upgrade: true.
func TestUpgrade(t *testing.T) {
	probe := "upgrade=yay 12-1 12.1-1\nupgrade=old-aur 1-1 2-1\nunchecked=needs\nnoise\n"
	up, unchecked := Upgrades(probe)
	if len(up) != 2 || up["yay"] != [2]string{"12-1", "12.1-1"} || !slices.Equal(unchecked, []string{"needs"}) {
		t.Fatalf("Upgrades = %v %v", up, unchecked)
	}
	plain, err := Parse(chob(t, map[string]string{"aurHelpers": "[yay]", "aurPackages": "[needs]"}))
	if err != nil {
		t.Fatal(err)
	}
	if d := ComputeDelta(facts(), plain, nil, up); len(d.Upgrade) != 0 {
		t.Errorf("upgraded without upgrade: true: %+v", d.Upgrade)
	}
	s, err := Parse(chob(t, map[string]string{"aurHelpers": "[yay]", "aurPackages": "{upgrade: true, packages: [needs]}"}))
	if err != nil || !s.Upgrade {
		t.Fatalf("%+v %v", s, err)
	}
	// old-aur has a newer version but is not declared: it is pruned, not upgraded.
	d := ComputeDelta(facts(), s, nil, up)
	if len(d.Upgrade) != 1 || d.Upgrade[0].Name != "yay" || d.Upgrade[0].To != "12.1-1" {
		t.Fatalf("upgrade = %+v", d.Upgrade)
	}
	rp := BuildPlan(d, s.BaseURL)
	var found bool
	for _, st := range rp.Steps {
		if st.Changes[0].Detail == "AUR upgrade 12-1 -> 12.1-1" {
			found = true
			if argv := st.Ops[0].Argv; argv[len(argv)-1] != "yay" || argv[len(argv)-2] != "https://aur.archlinux.org/yay.git" {
				t.Errorf("argv = %q", argv)
			}
		}
	}
	if !found {
		t.Errorf("no upgrade step: %+v", rp.Steps)
	}
	for _, bad := range []string{"{upgrade: yes please}", "{upgrade: [true]}"} {
		if _, err := Parse(chob(t, map[string]string{"aurPackages": bad})); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// The build user is created (useradd --system, no login shell; undone by userdel) when a build or an
// upgrade check needs it and the probe did not find it; builds name it.
func TestBuildUser(t *testing.T) {
	for _, tc := range []struct {
		keys    string
		builder bool
		want    bool
	}{
		{"[new-aur]", false, true},
		{"[new-aur]", true, false},
		{"{upgrade: true, packages: [yay]}", false, true}, // yay is installed: only the check needs it
		{"[yay]", false, false},                           // nothing to build or check
	} {
		facts := engine.Facts{"proc": {Stdout: "proc=1\n"}}
		if tc.builder {
			facts[secBuilder] = engine.Output{Stdout: "builder=1\n"}
		}
		facts[pacman.SectionLocal] = engine.Output{Stdout: "yay\t12-1\t0\t\t\n"}
		facts[pacman.SectionForeign] = engine.Output{Stdout: "yay\n"}
		rp, err := New().Plan(&engine.Env{}, chob(t, map[string]string{"aurPackages": tc.keys}), facts)
		if err != nil {
			t.Fatal(err)
		}
		var useradd *engine.Op
		for _, s := range rp.Steps {
			for i, op := range s.Ops {
				if len(op.Argv) > 0 && op.Argv[0] == "useradd" {
					useradd = &s.Ops[i]
				}
				if strings.HasPrefix(op.Label, "build ") && !strings.Contains(op.Label, "makepkg as chaos-build") {
					t.Errorf("%s: build label %q", tc.keys, op.Label)
				}
			}
		}
		if (useradd != nil) != tc.want {
			t.Fatalf("%s, builder %v: useradd planned %v, want %v", tc.keys, tc.builder, useradd != nil, tc.want)
		}
		if useradd != nil && (!slices.Equal(useradd.Argv, []string{"useradd", "--system", "--user-group", "--create-home", "--home-dir", BuildHome,
			"--shell", "/usr/sbin/nologin", "--comment", "chaos AUR builds", BuildUser}) ||
			useradd.Undo == nil || !slices.Equal(useradd.Undo.Argv, []string{"userdel", "--remove", BuildUser})) {
			t.Errorf("useradd op %+v", useradd)
		}
	}
}

// A rebuild replaces the installed version and keeps no old package file: the plan says it cannot be
// undone (engine.Op.Irreversible), and so does a removal (a rollback would have to build again).
func TestIrreversibleOps(t *testing.T) {
	if op := UpgradeOp(Pkg{Name: "yay", URL: "https://aur.archlinux.org/yay.git"}, DefaultBaseURL); op.Undo != nil || op.Irreversible == "" {
		t.Errorf("upgrade op: undo %v, irreversible %q", op.Undo, op.Irreversible)
	}
	s, _ := Parse(chob(t, map[string]string{"aurPackages": "[needs]"}))
	rp := BuildPlan(ComputeDelta(facts(), s, nil, nil), s.BaseURL)
	last := rp.Steps[len(rp.Steps)-1].Ops[0]
	if !slices.Contains(last.Argv, "-Rn") || last.Irreversible == "" {
		t.Errorf("removal op %v: irreversible %q", last.Argv, last.Irreversible)
	}
}
