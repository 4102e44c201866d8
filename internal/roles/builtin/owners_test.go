package builtin

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// TestOwnership loads Ch-obolos and checks the claims of the real built-in roles: which pairs
// conflict on which core, with both positions, and that a role claims only what that Ch-obolo makes
// it write.
func TestOwnership(t *testing.T) {
	// files lists paths as `files` entries; a leading "!" declares the path absent.
	files := func(paths ...string) string {
		var b strings.Builder
		b.WriteString("files:\n")
		for _, p := range paths {
			if absent, ok := strings.CutPrefix(p, "!"); ok {
				b.WriteString("  - {path: " + absent + ", state: absent}\n")
				continue
			}
			b.WriteString("  - {path: " + p + ", content: \"x\\n\"}\n")
		}
		return b.String()
	}
	cases := []struct {
		name string
		core string
		src  string
		// want are the conflicts as "FILE:LINE:COL role/role PATH", one per line of the error.
		want []string
	}{
		{"hostname and files", "debian", "hostname: forge\n" + files("/etc/hostname", "/etc/hosts", "/etc/motd"), []string{
			"c.yml:3:12 files/hostname /etc/hostname (c.yml:1:11)",
			"c.yml:4:12 files/hostname /etc/hosts (c.yml:1:11)",
		}},
		{"no hostname declared: files owns /etc/hostname alone", "debian", files("/etc/hostname", "/etc/hosts"), nil},
		{"region on debian", "debian", "region: {timezone: UTC, locale: [en_US.UTF-8], keymap: us}\n" +
			files("/etc/timezone", "/etc/localtime", "/etc/locale.gen", "/etc/default/locale", "/etc/default/keyboard", "/etc/vconsole.conf", "/etc/locale.conf"), []string{
			"c.yml:3:12 files/region /etc/timezone (c.yml:1:20)",
			"c.yml:4:12 files/region /etc/localtime (c.yml:1:20)",
			"c.yml:5:12 files/region /etc/locale.gen (c.yml:1:33)",
			"c.yml:6:12 files/region /etc/default/locale (c.yml:1:34)",
			"c.yml:7:12 files/region /etc/default/keyboard (c.yml:1:56)",
		}},
		{"region on arch", "arch", "region: {timezone: UTC, locale: [en_US.UTF-8], keymap: us}\n" +
			files("/etc/timezone", "/etc/localtime", "/etc/locale.gen", "/etc/default/locale", "/etc/vconsole.conf", "/etc/locale.conf"), []string{
			"c.yml:4:12 files/region /etc/localtime (c.yml:1:20)",
			"c.yml:5:12 files/region /etc/locale.gen (c.yml:1:33)",
			"c.yml:7:12 files/region /etc/vconsole.conf (c.yml:1:56)",
			"c.yml:8:12 files/region /etc/locale.conf (c.yml:1:34)",
		}},
		{"region on fedora: no locale.gen", "fedora", "region: {locale: [en_US.UTF-8]}\n" + files("/etc/locale.gen", "/etc/locale.conf"), []string{
			"c.yml:4:12 files/region /etc/locale.conf (c.yml:1:19)",
		}},
		{"only a timezone: the keyboard file is free", "debian", "region: {timezone: UTC}\n" + files("/etc/default/keyboard"), nil},
		{"users: sudo files, the role's namespace and the account databases", "debian",
			"users:\n  - {name: alice, sudo: true}\n  - {name: bob}\n" +
				files("/etc/sudoers.d/99-chaos-alice", "/etc/sudoers.d/99-chaos-bob", "/etc/sudoers.d/ops", "/etc/shadow", "!/etc/sudoers.d"), []string{
				"c.yml:5:12 files/users /etc/sudoers.d/99-chaos-alice (c.yml:2:25)",
				"c.yml:6:12 files/users /etc/sudoers.d/99-chaos-bob (c.yml:2:3)",
				"c.yml:8:12 files/users /etc/shadow (c.yml:2:3)",
				"c.yml:9:12 files/users /etc/sudoers.d/99-chaos-alice (c.yml:2:25)",
			}},
		{"apt repos", "debian", "repos:\n  apt:\n    - {name: docker, uris: [\"https://d.example\"], suites: [bookworm], components: [stable]}\n" +
			files("/etc/apt/sources.list.d/chaos-docker.sources", "/etc/apt/sources.list.d/chaos-old.sources", "/etc/apt/sources.list.d/docker.list", "!/etc/apt/sources.list.d"), []string{
			"c.yml:5:12 files/repos /etc/apt/sources.list.d/chaos-docker.sources (c.yml:3:7)",
			"c.yml:6:12 files/repos /etc/apt/sources.list.d/chaos-old.sources (c.yml:2:3)",
			"c.yml:8:12 files/repos /etc/apt/sources.list.d/chaos-docker.sources (c.yml:3:7)",
		}},
		{"yum repos", "fedora", "repos:\n  dnf:\n    - {name: local, baseurl: \"file:///srv/r\"}\n" +
			files("/etc/yum.repos.d/chaos-local.repo", "/etc/yum.repos.d/fedora.repo"), []string{
			"c.yml:5:12 files/repos /etc/yum.repos.d/chaos-local.repo (c.yml:3:7)",
		}},
		{"pacman.conf", "arch", "repos:\n  managed: {core: true}\n" + files("/etc/pacman.conf", "/etc/pacman.d/mirrorlist"), []string{
			"c.yml:4:12 files/repos /etc/pacman.conf (c.yml:2:3)",
		}},
		{"apt repos leave pacman.conf alone", "arch", "repos:\n  apt: []\n" + files("/etc/pacman.conf"), nil},
		{"mirrors", "arch", "mirrors: {countries: [DE], count: 5}\n" + files("/etc/pacman.d/mirrorlist", "/etc/xdg/reflector/reflector.conf"), []string{
			"c.yml:3:12 files/mirrors /etc/pacman.d/mirrorlist (c.yml:1:10)",
			"c.yml:4:12 files/mirrors /etc/xdg/reflector/reflector.conf (c.yml:1:10)",
		}},
		{"grub", "arch", "bootloader: {name: grub, timeout: 3}\n" + files("/etc/default/grub", "/boot/grub/grub.cfg"), []string{
			"c.yml:3:12 bootloader/files /etc/default/grub (c.yml:1:13)",
			"c.yml:4:12 bootloader/files /boot/grub/grub.cfg (c.yml:1:13)",
		}},
		{"grub without settings leaves /etc/default/grub alone", "arch", "bootloader: grub\n" + files("/etc/default/grub"), nil},
		{"several roles at once, all listed", "debian", "hostname: forge\nregion: {timezone: UTC}\n" + files("/etc/hostname", "/etc/timezone"), []string{
			"c.yml:4:12 files/hostname /etc/hostname (c.yml:1:11)",
			"c.yml:5:12 files/region /etc/timezone (c.yml:2:20)",
		}},
	}
	line := regexp.MustCompile(`^(\S+): role (\S+) and role (\S+) both manage (\S+);`)
	posOf := regexp.MustCompile(`^    (\S+): role (\S+) manages`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chobolo.LoadBytes("c.yml", []byte(tc.src), chobolo.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = Registry().CheckOwners(c, tc.core)
			var got []string
			if err != nil {
				var oe *engine.OwnershipError
				if !errors.As(err, &oe) {
					t.Fatalf("err = %v, want an OwnershipError", err)
				}
				lines := strings.Split(err.Error(), "\n")
				for i := 0; i < len(lines); i++ {
					m := line.FindStringSubmatch(lines[i])
					if m == nil {
						continue
					}
					roles := []string{m[2], m[3]}
					if roles[0] > roles[1] {
						roles[0], roles[1] = roles[1], roles[0]
					}
					// the other role's position is on the first of the two claim lines
					other := posOf.FindStringSubmatch(lines[i+1])
					if other == nil || other[2] == m[2] {
						t.Fatalf("claim lines missing after %q:\n%s", lines[i], err)
					}
					got = append(got, m[1]+" "+roles[0]+"/"+roles[1]+" "+m[4]+" ("+other[1]+")")
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("conflicts:\n%s\nwant:\n%s\nerror:\n%v", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), err)
			}
		})
	}
}

// TestExplanationsFromRoles: every role brings its explanation, and the topics derived from Roles()
// are the ones `chaos explain` has always offered.
func TestExplanationsFromRoles(t *testing.T) {
	for _, r := range Roles() {
		if m := r.Meta(); m.Explain == "" {
			t.Errorf("role %s (%v) has no explanation", m.Name, m.Cores)
		}
	}
	got := slices.Sorted(maps.Keys(Explanations()))
	want := []string{"aur", "bootloader", "files", "hostname", "mirrors", "packages", "packages-arch", "packages-fedora",
		"region", "repos", "repos-arch", "repos-fedora", "services", "users"}
	if !slices.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}
}
