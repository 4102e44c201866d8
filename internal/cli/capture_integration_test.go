package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestCaptureRoundTrip: `chaos init chobolo --from @chroot/ROOT` on a root changed by hand (users,
// groups, sudo, services, timezone, locales, keymap, hostname, packages from a local repo), then
// `chaos apply --dry` of the captured Ch-obolo on the same root must plan zero changes.
func TestCaptureRoundTrip(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	sh := func(script string) { testenv.Chroot(t, root, "sh", "-ec", script) }

	// Files chaos created earlier (they are in the host ledger, so the capture must keep them).
	first := writeChobolo(t, `files:
  - path: /etc/motd
    content: "managed\n"
  - path: /etc/chaos-note
    content: "created by chaos\n"
    mode: "0640"
  - path: /srv/app
    state: directory
    mode: "0750"
  - path: /srv/app/current
    state: link
    target: /opt/v1
`)
	if r := run(t, "", "apply", "-c", first, "--target", target, "-y"); r.code != 0 {
		t.Fatalf("apply of the files: %s", r)
	}
	// Packages: two by hand (one pulls a dependency in, automatically installed).
	apt := append([]string{"apt-get"}, debian.AptOptions...)
	testenv.Chroot(t, root, append(apt, "install", "--no-install-recommends", "chaos-tiny-a", "chaos-tiny-b")...)
	// Users and groups, a sudo file of chaos's own naming and one of the original Ch-aOS's.
	sh(`groupadd -f devs
useradd -m -s /bin/bash -G adm,devs alice
useradd -m -s /bin/sh -d /srv/bob -u 1500 bob
useradd -m carol
echo 'alice ALL=(ALL:ALL) ALL' > /etc/sudoers.d/99-chaos-alice; chmod 0440 /etc/sudoers.d/99-chaos-alice`)
	// Services: one enabled by hand, one disabled by hand.
	sh(`systemctl enable systemd-time-wait-sync.service >/dev/null 2>&1
systemctl disable systemd-timesyncd.service >/dev/null 2>&1`)
	// Region and hostname.
	sh(`ln -sf /usr/share/zoneinfo/America/Sao_Paulo /etc/localtime
echo America/Sao_Paulo > /etc/timezone
printf 'pt_BR.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n' > /etc/locale.gen
locale-gen >/dev/null
printf 'LANG=pt_BR.UTF-8\n' > /etc/default/locale
printf 'XKBMODEL="pc105"\nXKBLAYOUT="br"\nXKBVARIANT=""\nXKBOPTIONS=""\n' > /etc/default/keyboard
echo captured > /etc/hostname
sed -i '1a 127.0.1.1\tcaptured' /etc/hosts`)

	out := filepath.Join(t.TempDir(), "captured.yml")
	r := run(t, "", "init", "chobolo", "--from", target, "-o", out)
	if r.code != 0 {
		t.Fatalf("init chobolo --from: %s", r)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	t.Logf("captured:\n%s", text)

	// The capture is a valid Ch-obolo and says what was changed.
	c, err := chobolo.LoadBytes(out, data, chobolo.LoadOptions{})
	if err != nil {
		t.Fatalf("the captured Ch-obolo does not load: %v\n%s", err, text)
	}
	if c.Hostname != "captured" {
		t.Errorf("hostname: %q", c.Hostname)
	}
	users := map[string]chobolo.User{}
	for _, u := range c.Users {
		users[u.Name] = u
	}
	if a := users["alice"]; !a.Sudo || !strings.Contains(strings.Join(a.Groups, ","), "devs") {
		t.Errorf("alice captured as %+v", a)
	}
	if b := users["bob"]; b.Home != "/srv/bob" || b.UID == nil || *b.UID != 1500 {
		t.Errorf("bob captured as %+v", b)
	}
	if _, ok := users["carol"]; !ok {
		t.Error("carol not captured")
	}
	var pkgs []string
	for _, p := range c.Packages {
		pkgs = append(pkgs, p.Name)
	}
	for _, want := range []string{"chaos-tiny-a", "chaos-tiny-b"} {
		if !strings.Contains(" "+strings.Join(pkgs, " ")+" ", " "+want+" ") {
			t.Errorf("package %s not captured (have %v)", want, pkgs)
		}
	}
	if strings.Contains(strings.Join(pkgs, " "), "chaos-tiny-lib") {
		t.Error("the automatically installed chaos-tiny-lib was captured")
	}
	if c.Region.Timezone != "America/Sao_Paulo" || c.Region.Keymap != "br" || len(c.Region.Locales) == 0 ||
		c.Region.Locales[0] != "pt_BR.UTF-8" {
		t.Errorf("region captured as %+v", c.Region)
	}
	var svcs []string
	for _, s := range c.Services {
		svcs = append(svcs, s.Name)
	}
	if !strings.Contains(strings.Join(svcs, " "), "systemd-time-wait-sync") {
		t.Errorf("service systemd-time-wait-sync not captured (have %v)", svcs)
	}
	if c.Region.NTP == nil || *c.Region.NTP {
		t.Errorf("ntp (timesyncd disabled by hand) captured as %v", c.Region.NTP)
	}

	var paths []string
	for _, f := range c.Files {
		paths = append(paths, f.Path+"="+f.State)
	}
	// /etc/motd existed before chaos wrote it (adopted): it is not chaos's to prune, so not captured.
	if got := strings.Join(paths, " "); got != "/etc/chaos-note= /srv/app=directory /srv/app/current=link" {
		t.Errorf("files captured: %s", got)
	}

	// The hard requirement: applying the capture to the same root changes nothing.
	r = run(t, "", "apply", "-c", out, "--target", target, "--dry")
	if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("apply --dry of the captured Ch-obolo is not empty:\n%s", r)
	}
	// And -y on it is a no-op as well (exit 0, nothing applied).
	r = run(t, "", "apply", "-c", out, "--target", target, "-y")
	if r.code != 0 || strings.Contains(r.stdout, "applied") {
		t.Fatalf("apply -y of the captured Ch-obolo did something:\n%s", r)
	}
}

// TestCaptureFreshRoot: the capture of an untouched root is also a no-op when applied.
func TestCaptureFreshRoot(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	r := run(t, "", "init", "chobolo", "--from", target)
	if r.code != 0 {
		t.Fatalf("init chobolo --from: %s", r)
	}
	file := writeChobolo(t, r.stdout)
	r2 := run(t, "", "apply", "-c", file, "--target", target, "--dry")
	if r2.code != 0 {
		t.Fatalf("apply --dry of the capture of a fresh root is not empty:\ncaptured:\n%s\n%s", r.stdout, r2)
	}
}
