package bootloader

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"go.yaml.in/yaml/v3"
)

func chob(t *testing.T, boot, parts string) *chobolo.Chobolo {
	t.Helper()
	c := &chobolo.Chobolo{Extra: map[string]*yaml.Node{}}
	for k, v := range map[string]string{"bootloader": boot, "partitioning": parts} {
		if v == "" {
			continue
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(v), &n); err != nil {
			t.Fatal(err)
		}
		c.Extra[k] = n.Content[0]
		c.SetKey(k, chobolo.Pos{})
	}
	return c
}

const parts = "{disk: /dev/sda, partitions: [{name: EFI, important: boot, type: fat32, mountpoint: /boot}, {name: archroot, important: root, type: ext4}]}"

func render(t *testing.T, rp *engine.RolePlan) string {
	t.Helper()
	rp.Role = "bootloader"
	var b strings.Builder
	engine.RenderPlan(&b, &engine.HostPlan{Target: "@test", Core: "arch", Roles: []*engine.RolePlan{rp}}, engine.Style{})
	for _, s := range rp.Steps {
		for _, o := range s.Ops {
			if p, content, ok := written(o); ok {
				b.WriteString("--- " + p + "\n" + content)
			}
		}
	}
	return b.String()
}

// written returns the path and content of a write op, or of a write on FAT (fatWrite).
func written(o engine.Op) (string, string, bool) {
	switch {
	case o.Kind == engine.OpWrite:
		return o.Path, string(o.Content), true
	case o.Kind == engine.OpExec && len(o.Argv) == 5 && o.Argv[3] == "chaos-write":
		return o.Argv[4], string(o.Stdin), true
	}
	return "", "", false
}

func TestPlans(t *testing.T) {
	facts := Facts{Kernels: []string{"vmlinuz-linux", "vmlinuz-linux-lts"}, Ucode: []string{"amd-ucode.img"}, Files: map[string]string{}, GrubStale: true}
	var out strings.Builder
	for _, tc := range []struct {
		name, boot string
		in         Input
		uefi, vars bool
	}{
		{"systemd-boot UEFI host", "{name: systemd-boot, timeout: 5, kernel_params: quiet splash}", Input{}, true, true},
		{"systemd-boot in a chroot, not allowed to install", "systemd-boot", Input{Chroot: true}, false, false},
		{"systemd-boot in a chroot, allowed, no EFI variables", "systemd-boot", Input{Chroot: true, AllowInstall: true}, false, false},
		{"grub UEFI host", "{name: grub, timeout: 2, kernel_params: quiet}", Input{}, true, true},
		{"grub UEFI without EFI variables", "grub", Input{}, true, false},
		{"grub BIOS host", "grub", Input{}, false, false},
		{"grub in a chroot, allowed", "grub", Input{Chroot: true, AllowInstall: true}, false, false},
		{"refind", "refind", Input{}, true, true},
	} {
		s, err := Parse(chob(t, tc.boot, parts))
		if err != nil {
			t.Fatal(err)
		}
		f := facts
		f.UEFI, f.EFIVars = tc.uefi, tc.vars
		rp, err := BuildPlan(s, &f, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out.WriteString("=== " + tc.name + "\n" + render(t, rp))
	}
	golden.Check(t, "plans", out.String())
}

func TestIdempotent(t *testing.T) {
	s, _ := Parse(chob(t, "{name: systemd-boot, timeout: 5}", parts))
	f := Facts{UEFI: true, Kernels: []string{"vmlinuz-linux"}, Files: map[string]string{}}
	rp, _ := BuildPlan(s, &f, Input{})
	for _, st := range rp.Steps {
		for _, o := range st.Ops {
			if p, content, ok := written(o); ok {
				f.Files[p] = content
			}
		}
	}
	f.Files["@installed /boot/EFI/systemd/systemd-bootx64.efi"] = ""
	if rp, _ := BuildPlan(s, &f, Input{}); !rp.Empty() {
		t.Errorf("second plan: %+v", rp)
	}
}

func TestErrorsAndHostile(t *testing.T) {
	for _, tc := range [][2]string{
		{"lilo", parts},
		{"{name: grub, kernel_params: 'quiet\"; reboot'}", parts},
		{"{name: grub, kernel_params: '$(id)'}", parts},
		{"{name: grub, timeout: -1}", parts},
		{"grub", "{partitions: [{important: boot, mountpoint: '/boot; rm -rf /'}]}"},
		{"grub", "{partitions: [{important: boot, mountpoint: '../x'}]}"},
		{"grub", "{partitions: [{important: root, name: 'a b'}]}"},
		{"grub", "{disk: '/dev/sda; reboot'}"},
		{"grub", "{disk: 'sda'}"},
	} {
		if _, err := Parse(chob(t, tc[0], tc[1])); err == nil {
			t.Errorf("%v accepted", tc)
		}
	}
	// systemd-boot on a BIOS host, grub BIOS without a disk, systemd-boot without kernels.
	s, _ := Parse(chob(t, "systemd-boot", parts))
	if _, err := BuildPlan(s, &Facts{Files: map[string]string{}}, Input{}); err == nil {
		t.Error("systemd-boot on BIOS accepted")
	}
	if _, err := BuildPlan(s, &Facts{UEFI: true, Files: map[string]string{}}, Input{}); err == nil {
		t.Error("systemd-boot without kernels accepted")
	}
	s, _ = Parse(chob(t, "grub", ""))
	if _, err := BuildPlan(s, &Facts{Files: map[string]string{}}, Input{}); err == nil {
		t.Error("grub BIOS without disk accepted")
	}
}
