package pkgmap

import (
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func TestResolve(t *testing.T) {
	ssh := chobolo.Package{Name: "ssh", Overrides: map[string][]string{"debian": {"openssh-server"}, "fedora": {}}}
	cases := []struct {
		pkg   chobolo.Package
		core  string
		want  string
		known bool
	}{
		{chobolo.Package{Name: "openssh"}, "debian", "openssh-server openssh-client", true},
		{chobolo.Package{Name: "openssh"}, "arch", "openssh", true},
		{chobolo.Package{Name: "openssh"}, "fedora", "openssh-server openssh-clients", true},
		{chobolo.Package{Name: "docker"}, "debian", "docker.io", true},
		{chobolo.Package{Name: "fd"}, "debian", "fd-find", true},
		{chobolo.Package{Name: "base-devel"}, "debian", "build-essential", true},
		{chobolo.Package{Name: "networkmanager"}, "fedora", "NetworkManager", true},
		{chobolo.Package{Name: "firefox"}, "debian", "firefox-esr", true},
		{chobolo.Package{Name: "firefox"}, "arch", "firefox", true}, // absent column: same name
		{chobolo.Package{Name: "vim"}, "fedora", "vim-enhanced", true},
		{chobolo.Package{Name: "git"}, "debian", "git", true},
		{chobolo.Package{Name: "python-venv"}, "arch", "", true}, // [] : nothing on that core
		{chobolo.Package{Name: "git"}, "nix", "git", true},
		{chobolo.Package{Name: "libfoo-dev"}, "nix", "libfoo-dev", false}, // absent from the nix column: unknown
		{chobolo.Package{Name: "libfoo-dev"}, "debian", "libfoo-dev", false},
		{ssh, "debian", "openssh-server", true}, // overrides win over the map
		{ssh, "fedora", "", true},
		{ssh, "arch", "ssh", false},
		{chobolo.Package{Name: "openssh", Overrides: map[string][]string{"arch": {"openssh-hpn"}}}, "debian",
			"openssh-server openssh-client", true},
	}
	for _, tc := range cases {
		got, known := Resolve(tc.pkg, tc.core)
		if strings.Join(got, " ") != tc.want || known != tc.known {
			t.Errorf("Resolve(%s, %s) = %q, %v; want %q, %v", tc.pkg.Name, tc.core, got, known, tc.want, tc.known)
		}
	}
	// The result is the caller's: changing it does not change the map.
	got, _ := Resolve(chobolo.Package{Name: "openssh"}, "debian")
	got[0] = "changed"
	if again, _ := Resolve(chobolo.Package{Name: "openssh"}, "debian"); again[0] != "openssh-server" {
		t.Errorf("Resolve returned the map's own slice")
	}
}

// The embedded data is valid (names, cores) and large enough to be useful.
func TestData(t *testing.T) {
	tab, err := parse(packagesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab) < 80 {
		t.Errorf("only %d rows", len(tab))
	}
	names := Names()
	if !slices.IsSorted(names) || len(names) < len(tab) {
		t.Errorf("Names() not sorted or incomplete")
	}
	for n := range tab { // the nix and guix column files add names of their own, not core rows
		for _, core := range []string{"debian", "arch", "fedora"} {
			pkgs, known := Resolve(chobolo.Package{Name: n}, core)
			if !known {
				t.Errorf("%s on %s: not known", n, core)
			}
			if core == "debian" {
				for _, p := range pkgs {
					if err := chobolo.ValidDebianPackage(p); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}
}

func TestParseRejectsBadData(t *testing.T) {
	for _, src := range []string{
		"a: {gentoo: x}\n",
		"a: {debian: Bad}\n",
		"a: {arch: \"x;y\"}\n",
		"-a: {}\n",
		"a: [x]\n",
	} {
		if _, err := parse([]byte(src)); err == nil {
			t.Errorf("%q accepted", src)
		}
	}
}

// TestRowsAloneForTheDistroCores: Debian, Arch and Fedora lookups use packages.yaml alone
// (loadRows, so a plan does not parse the nix and guix column files); they must answer what the
// whole map answers, for every name it knows.
func TestRowsAloneForTheDistroCores(t *testing.T) {
	full := load()
	for _, name := range Names() {
		for _, core := range sameNameCores {
			got, known := Resolve(chobolo.Package{Name: name}, core)
			want, wantKnown := []string{name}, false
			if col, ok := full[name][core]; ok {
				want, wantKnown = col, true
			} else if coreRows[name] {
				wantKnown = true
			}
			if known != wantKnown || !slices.Equal(got, want) {
				t.Errorf("%s on %s: %v %v, the whole map says %v %v", name, core, got, known, want, wantKnown)
			}
		}
	}
}
