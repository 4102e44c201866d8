package pacmanconf

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/golden"
)

func chob(r chobolo.Repos) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "m.yml", Repos: r}
	c.SetKey("repos", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	return c
}

func TestManaged(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]bool
		want string
	}{
		{nil, "core extra"},
		{map[string]bool{}, "core extra"},
		{map[string]bool{"core": true}, "core extra"},
		{map[string]bool{"extra": false}, "core"},
		{map[string]bool{"extras": true}, "core extra multilib"}, // the original's spelling
		{map[string]bool{"extras": false}, "core"},
		{map[string]bool{"multilib": true}, "core extra multilib"},
		{map[string]bool{"testing": true, "multilib": true}, "core-testing core extra-testing extra multilib-testing multilib"},
		{map[string]bool{"unstable": true, "extra": false}, "core-testing core"},
		{map[string]bool{"core": false, "extra": false}, ""},
	} {
		got, err := Managed(tc.m)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("Managed(%v) = %v, %v; want %s", tc.m, got, err, tc.want)
		}
	}
	if _, err := Managed(map[string]bool{"community": true}); err == nil {
		t.Error("community accepted")
	}
}

func TestRenderGolden(t *testing.T) {
	c := chob(chobolo.Repos{
		Managed: map[string]bool{"multilib": true},
		ThirdParty: []chobolo.PacmanRepo{
			{Name: "chaotic-aur", Include: "/etc/pacman.d/chaotic-mirrorlist", Key: "ef925ea60f33d0cb85c44ad13056513887b78aeb"},
			{Name: "mine", URL: "file:///srv/repo", SigLevel: "Optional  TrustAll", Priority: "first"},
		},
	})
	d, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Repos, []string{"mine", "core", "extra", "multilib", "chaotic-aur"}) {
		t.Errorf("repos = %v", d.Repos)
	}
	golden.Check(t, "pacman.conf", d.Content)
	// Without managed, third-party only: the official repositories stay (the original wrote none).
	d, err = Render(chob(chobolo.Repos{ThirdParty: []chobolo.PacmanRepo{{Name: "x", URL: "https://x.org/$repo/$arch"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Repos, []string{"core", "extra", "x"}) {
		t.Errorf("repos = %v", d.Repos)
	}
	// Options verbatim.
	d, err = Render(chob(chobolo.Repos{Options: "Architecture = auto\nSigLevel = Never\n", Managed: map[string]bool{}}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Content, "\n[options]\nArchitecture = auto\nSigLevel = Never\n\n[core]") {
		t.Errorf("options not verbatim:\n%s", d.Content)
	}
}

func TestHostile(t *testing.T) {
	for _, tp := range []chobolo.PacmanRepo{
		{Name: "x]\n[core", URL: "https://x"},
		{Name: "options", URL: "https://x"},
		{Name: "-x", URL: "https://x"},
		{Name: "x", URL: "https://x\nServer = https://evil"},
		{Name: "x", URL: "https://x/[y]"},
		{Name: "x", URL: "not a url"},
		{Name: "x", Include: "relative/path"},
		{Name: "x", Include: "/etc/x\n[evil]"},
		{Name: "x", URL: "https://x", SigLevel: "Never\nServer = https://evil"},
		{Name: "x", URL: "https://x", SigLevel: "Sometimes"},
		{Name: "x", URL: "https://x", Key: "ABCD; rm -rf /"},
		{Name: "x", URL: "https://x", Key: "--recv-keys"},
		{Name: "x", URL: "https://x", Key: "3056513887B78AEB"},                                   // a short id can be forged
		{Name: "x", URL: "https://x", Key: "EF925EA60F33D0CB85C44AD13056513887B78AEG"},           // not hex
		{Name: "x", URL: "https://x", Key: "EF925EA60F33D0CB85C44AD13056513887B78AEB -- --init"}, // argv smuggling
		{Name: "x", URL: "https://x", Priority: "0"},
		{Name: "x"},
		{Name: "core", URL: "https://x"}, // duplicates the official [core]
	} {
		if _, err := Render(chob(chobolo.Repos{ThirdParty: []chobolo.PacmanRepo{tp}})); err == nil {
			t.Errorf("%+v accepted", tp)
		}
	}
	if _, err := Render(chob(chobolo.Repos{Options: "a\x00b"})); err == nil {
		t.Error("NUL in options accepted")
	}
}

func TestPlan(t *testing.T) {
	// As gpg --fingerprint prints it: grouped, lower case is accepted too.
	c := chob(chobolo.Repos{ThirdParty: []chobolo.PacmanRepo{{Name: "x", URL: "https://x.org/$repo", Key: "ef92 5EA6 0F33 D0CB 85C4  4AD1 3056 5138 87B7 8AEB"}}})
	const fp = "EF925EA60F33D0CB85C44AD13056513887B78AEB"
	d, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	// Stock file: saved once, replaced, validated, synced; key imported first.
	stock := "[options]\nArchitecture = auto\n\n[core]\nInclude = /etc/pacman.d/mirrorlist\n"
	rp := BuildPlan(d, ParseFacts("mirrorlist=1\n@conf\n"+stock, ""), c)
	var ops []string
	for _, s := range rp.Steps {
		for _, o := range s.Ops {
			ops = append(ops, o.String())
		}
	}
	want := []string{
		"pacman-key --init",
		"pacman-key --recv-keys -- " + fp,
		"pacman-key --lsign-key -- " + fp,
		"write /etc/pacman.conf.pre-chaos (" + itoa(len(stock)) + " bytes, mode 0644, owner root:root)",
		"write /etc/pacman.conf (" + itoa(len(d.Content)) + " bytes, mode 0644, owner root:root) validated by pacman-conf --config %s --repo-list",
		"pacman -Sy --noconfirm --noprogressbar",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("ops =\n%s\nwant\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	if got := rp.Steps[1].Changes[0].Detail; got != "repositories: core -> core extra x; the current file is saved as /etc/pacman.conf.pre-chaos" {
		t.Errorf("detail = %q", got)
	}
	// Same file, key present: nothing, and no sync.
	rp = BuildPlan(d, ParseFacts("backup=1\nmirrorlist=1\n@conf\n"+d.Content, "keyring=1\nkey="+fp+"\n"), c)
	if !rp.Empty() {
		t.Errorf("unchanged file planned: %+v", rp)
	}
	// Initialised keyring, key missing, in a chroot: no --init; gpg's daemons stopped afterwards.
	f := ParseFacts("backup=1\nmirrorlist=1\n@conf\n"+d.Content, "keyring=1\n")
	f.Chroot = true
	ops = nil
	for _, s := range BuildPlan(d, f, c).Steps {
		for _, o := range s.Ops {
			ops = append(ops, o.String())
		}
	}
	want = []string{"pacman-key --recv-keys -- " + fp, "pacman-key --lsign-key -- " + fp, "gpgconf --homedir /etc/pacman.d/gnupg --kill all"}
	if !slices.Equal(ops, want) {
		t.Errorf("ops =\n%s\nwant\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	// Only apt repos: pacman.conf left alone.
	c2 := chob(chobolo.Repos{Apt: []chobolo.AptRepo{{Name: "docker"}}})
	rp, err = New().Plan(&engine.Env{}, c2, engine.Facts{})
	if err != nil || !rp.Empty() {
		t.Errorf("apt-only Ch-obolo: %v %+v", err, rp)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
