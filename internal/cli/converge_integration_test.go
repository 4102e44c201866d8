package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// convergeUnits are the units of the test package chaos-conv: a service enabled only through its
// socket (its [Install] has Also= alone, as socket-activated daemons ship), and the socket.
var convergeUnits = map[string]string{
	"/usr/bin/chaos-conv": "#!/bin/sh\necho conv\n",
	"/usr/lib/systemd/system/chaos-conv.service": "[Unit]\nDescription=chaos convergence\n[Service]\nExecStart=/usr/bin/chaos-conv\n" +
		"[Install]\nAlso=chaos-conv.socket\n",
	"/usr/lib/systemd/system/chaos-conv.socket": "[Socket]\nListenStream=/run/chaos-conv.sock\n[Install]\nWantedBy=sockets.target\n",
}

// convergeYML is one broad Ch-obolo for every core: every role that can run in a root (hostname,
// users with groups and sudo, repos, packages from that repository, services with Also=, a template
// instance and socket activation, region with locale, keymap and timezone, files with owners and
// groups). REPOS and the package list differ per core.
const convergeYML = `hostname: forge
users:
  - name: alice
    shell: bash
    groups: [adm, chaos-ops]
    sudo: true
  - name: bob
    groups: [chaos-ops]
REPOS
packages:
  - chaos-conv
PACKAGES
services:
  - name: systemd-networkd      # Also= its socket, systemd-network-generator, wait-online
  - name: getty@tty3            # a template instance (list-unit-files shows getty@.service)
  - name: chaos-conv            # enabled through chaos-conv.socket (Also= alone)
  - name: fstrim.timer
    on_boot: false
region:
  timezone: Europe/Berlin
  locale: [pt_BR.UTF-8, en_US.UTF-8]
  keymap: br-abnt2
files:
  - path: /srv/app
    state: directory
    owner: alice
    group: chaos-ops
    mode: "0750"
  - path: /srv/app/app.conf
    content: |
      listen = /run/chaos-conv.sock
    owner: bob
    group: chaos-ops
    mode: "0640"
  - path: /etc/motd
    content: |
      managed by Ch-aOS
  - path: /srv/app/current
    state: link
    target: app.conf
`

// converge applies yml to root three times through the CLI: the first run changes the root, the
// second must find nothing to do (and so must the third, which reads what the second run's probe
// cached). It then checks what every core must show, and returns the output of the first run.
func converge(t *testing.T, root, yml string, flags ...string) string {
	t.Helper()
	target := "@chroot" + root
	file := writeChobolo(t, yml)
	r := run(t, "", append([]string{"apply", "-c", file, "--target", target, "-y"}, flags...)...)
	if r.code != 0 {
		t.Fatalf("first apply -y: want exit 0\n%s", r)
	}
	first := r.stdout
	t.Logf("first run:\n%s", first)
	r = run(t, "", append([]string{"apply", "-c", file, "--target", target, "-y"}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("second apply -y: want exit 0 and \"no changes\"\n%s\n--- first run:\n%s", r, first)
	}
	r = run(t, "", append([]string{"apply", "-c", file, "--target", target, "--dry"}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("third apply --dry: want exit 0 and \"no changes\"\n%s\n--- first run:\n%s", r, first)
	}

	if got := testenv.ReadFile(t, root, "/etc/hostname"); got != "forge\n" {
		t.Errorf("hostname %q", got)
	}
	if got := testenv.Chroot(t, root, "id", "-nG", "alice"); !strings.Contains(got, "adm") || !strings.Contains(got, "chaos-ops") {
		t.Errorf("alice's groups: %q", got)
	}
	if got := strings.TrimSpace(testenv.Chroot(t, root, "stat", "-c", "%U:%G %a", "/srv/app", "/srv/app/app.conf")); got != "alice:chaos-ops 750\nbob:chaos-ops 640" {
		t.Errorf("owners and modes: %q", got)
	}
	if got := strings.TrimSpace(testenv.Chroot(t, root, "readlink", "/etc/localtime")); !strings.HasSuffix(got, "/zoneinfo/Europe/Berlin") {
		t.Errorf("localtime -> %q", got)
	}
	if got := testenv.Chroot(t, root, "chaos-conv"); got != "conv\n" {
		t.Errorf("chaos-conv printed %q", got)
	}
	for unit, want := range map[string]string{"systemd-networkd.service": "enabled", "systemd-network-generator.service": "enabled",
		"systemd-networkd.socket": "enabled", "getty@tty3.service": "enabled", "chaos-conv.socket": "enabled",
		"chaos-conv.service": "indirect", "fstrim.timer": "disabled"} {
		out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", unit)
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("%s is %q, want %q", unit, got, want)
		}
	}
	return first
}

func convergeChobolo(repos, packages string) string {
	return strings.NewReplacer("REPOS\n", repos, "PACKAGES\n", packages).Replace(convergeYML)
}

// TestConvergeDebian: the broad Ch-obolo on a Debian root, with its packages from an apt repository
// that the same Ch-obolo declares.
func TestConvergeDebian(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-conv", Version: "1.0", Files: convergeUnits},
		testenv.DebPkg{Name: "chaos-tool", Version: "1.0", Files: map[string]string{"/usr/bin/chaos-tool": "#!/bin/sh\n"}},
		// its postinst enables its unit, as Debian packages do; the unit is not declared
		testenv.ServiceDebPkg("chaos-daemon", "1.0", "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"))
	// the repository moves to where only the Ch-obolo's repos entry points
	if err := os.Rename(filepath.Join(root, testenv.RepoDir), filepath.Join(root, "srv/chaos-conv-repo")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, testenv.SourcesFile)); err != nil {
		t.Fatal(err)
	}
	first := converge(t, root, convergeChobolo(`repos:
  apt:
    - name: conv
      uris: ["file:/srv/chaos-conv-repo"]
      suites: [./]
      trusted: true
`, "  - chaos-tool\n  - chaos-daemon\n"))
	// enabled by its package during the first run, disabled in that same run (services settle)
	if out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", "chaos-daemon.service"); strings.TrimSpace(out) != "disabled" {
		t.Errorf("chaos-daemon.service is %q, want disabled", strings.TrimSpace(out))
	}
	if want := "re-planned services: - service chaos-daemon.service: disable (enabled by a package installed in this run, not declared)"; !strings.Contains(first, want) {
		t.Errorf("the first run does not say %q", want)
	}
	if !testenv.Exists(t, root, "/etc/apt/sources.list.d/chaos-conv.sources") {
		t.Error("the declared repository was not written")
	}
	if got := testenv.ReadFile(t, root, "/etc/default/locale"); !strings.Contains(got, "LANG=pt_BR.UTF-8") {
		t.Errorf("/etc/default/locale: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/default/keyboard"); !strings.Contains(got, `XKBLAYOUT="br"`) {
		t.Errorf("/etc/default/keyboard: %q", got)
	}
}

// TestConvergeArch: the broad Ch-obolo on an Arch-flavoured root (real pacman) on a real disk image,
// with the pacman repository declared in pacman.conf by the Ch-obolo, the Arch core's base set as
// stand-ins, an AUR package built by makepkg from a local git repository, and grub installed for
// BIOS onto the disk.
func TestConvergeArch(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	// a real disk (the Arch root on an ext4 loop partition, /proc mounted), so that grub installs
	d := testenv.ArchBootDisk(t)
	root := d.Root
	testenv.WriteFile(t, root, "/boot/vmlinuz-linux", "kernel")
	testenv.WriteFile(t, root, "/boot/initramfs-linux.img", "initrd")
	repo := []testenv.PacPkg{{Name: "chaos-conv", Files: convergeUnits}, {Name: "chaos-tool", Files: map[string]string{"/usr/bin/chaos-tool": "#!/bin/sh\n"}}}
	// the Arch core installs its base set, the packages of alice's login shell and sudo, and those
	// the boot loader and the root's ext4 imply; dpkg owns the real ones in this root: stand-ins
	for _, n := range append(slices.Clone(arch.BaseSet), "bash", "sudo", "grub", "e2fsprogs") {
		repo = append(repo, testenv.PacPkg{Name: n})
	}
	testenv.PacmanRepo(t, root, repo...)
	// an AUR package with an official dependency, built by the real makepkg (which needs /proc)
	testenv.AURCommit(t, root, "aur-conv", "1.0", "chaos-tool")
	converge(t, root, convergeChobolo(`bootloader: {name: grub, timeout: 1}
partitioning:
  disk: `+d.Disk+`
  partitions: [{name: archroot, important: root, type: ext4}]
aurPackages:
  base_url: file:///srv/aur
  packages: [aur-conv]
repos:
  managed: {core: false, extra: false}
  third_party:
    - {name: chaos-test, url: "file:///srv/chaos-pacman-repo", siglevel: Never}
  i_know_exactly_what_im_doing: |
    [options]
    Architecture = auto
    SigLevel = Never
`, "  - chaos-tool\n"), "--allow-bootloader-install")
	if cfg := testenv.ReadFile(t, root, "/boot/grub/grub.cfg"); !strings.Contains(cfg, "set timeout=1") {
		t.Errorf("grub.cfg:\n%s", cfg)
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.conf"); !strings.Contains(got, "LANG=pt_BR.UTF-8") {
		t.Errorf("/etc/locale.conf: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/vconsole.conf"); !strings.Contains(got, "KEYMAP=br-abnt2") {
		t.Errorf("/etc/vconsole.conf: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/usr/share/aur-conv/stamp"); got != "built-by-makepkg 1.0\n" {
		t.Errorf("the AUR package was not built and installed: stamp %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/pacman.conf"); !strings.Contains(got, "[chaos-test]") {
		t.Errorf("/etc/pacman.conf has no [chaos-test]:\n%s", got)
	}
}

// TestConvergeFedora: the broad Ch-obolo on a Fedora-flavoured root (real dnf and rpm), with the rpm
// repository declared by the Ch-obolo and the langpacks of its locales from it.
func TestConvergeFedora(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.FedoraRoot(t)
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "chaos-conv", Files: convergeUnits},
		testenv.RpmPkg{Name: "chaos-tool", Files: map[string]string{"/usr/bin/chaos-tool": "#!/bin/sh\n"}},
		testenv.RpmPkg{Name: "glibc-langpack-pt"}, testenv.RpmPkg{Name: "glibc-langpack-en"},
		// /bin/sh for the scriptlets of chaos-daemon, as Fedora's bash provides it (dpkg owns the
		// root's bash, which also meets alice's login-shell need: nothing is installed for that)
		testenv.RpmPkg{Name: "bash", Provides: []string{"/bin/sh"}},
		// its %post presets its unit, which a preset enables (as Fedora's presets do for sshd, chronyd...)
		testenv.ServiceRpmPkg("chaos-daemon", "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"))
	// the repository is reached only through the Ch-obolo's repos entry
	if err := os.Remove(filepath.Join(root, "etc/yum.repos.d/chaos-test.repo")); err != nil {
		t.Fatal(err)
	}
	first := converge(t, root, convergeChobolo(`repos:
  dnf:
    - name: conv
      baseurl: file:///srv/chaos-rpm-repo
      gpgcheck: false
`, "  - chaos-tool\n  - chaos-daemon\n"))
	// enabled by its package's preset during the first run, disabled in that same run (services settle)
	if out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", "chaos-daemon.service"); strings.TrimSpace(out) != "disabled" {
		t.Errorf("chaos-daemon.service is %q, want disabled", strings.TrimSpace(out))
	}
	if want := "re-planned services: - service chaos-daemon.service: disable (enabled by a package installed in this run, not declared)"; !strings.Contains(first, want) {
		t.Errorf("the first run does not say %q", want)
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.conf"); !strings.Contains(got, "LANG=pt_BR.UTF-8") {
		t.Errorf("/etc/locale.conf: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/vconsole.conf"); !strings.Contains(got, "KEYMAP=br-abnt2") {
		t.Errorf("/etc/vconsole.conf: %q", got)
	}
	if !testenv.Exists(t, root, "/etc/yum.repos.d/chaos-conv.repo") {
		t.Error("the declared repository was not written")
	}
}
