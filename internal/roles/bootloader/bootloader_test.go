package bootloader

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestFirmware: `firmware` (which the Ch-imera compilers read) is accepted; on a live host it must
// agree with what the probe found, inside a chroot (where /sys/firmware/efi is the installer's) it
// decides.
func TestFirmware(t *testing.T) {
	for _, tc := range []struct {
		name, boot string
		uefi       bool
		in         Input
		want       string // in the install command, or in the error
	}{
		{"live UEFI, uefi declared", "{name: grub, firmware: uefi}", true, Input{}, "grub-install --target=x86_64-efi --efi-directory=/boot --bootloader-id=archroot"},
		{"live BIOS, bios declared", "{name: grub, firmware: bios}", false, Input{}, "grub-install --target=i386-pc -- /dev/sda"},
		{"live BIOS, uefi declared", "{name: grub, firmware: uefi}", false, Input{}, "error: m.yml:1:36: bootloader.firmware: uefi is declared, but this machine booted with BIOS"},
		{"live UEFI, bios declared", "{name: grub,\n  firmware: bios}", true, Input{}, "error: m.yml:2:13: bootloader.firmware: bios is declared, but this machine booted with UEFI"},
		{"chroot on a UEFI installer, bios declared", "{name: grub, firmware: bios}", true, Input{Chroot: true, AllowInstall: true}, "grub-install --target=i386-pc -- /dev/sda"},
		{"chroot on a BIOS installer, uefi declared", "{name: grub, firmware: uefi}", false, Input{Chroot: true, AllowInstall: true}, "grub-install --target=x86_64-efi --efi-directory=/boot --removable --no-nvram"},
		{"systemd-boot, bios declared", "{name: systemd-boot, firmware: bios}", false, Input{Chroot: true}, "error: m.yml:1:44: systemd-boot needs UEFI, and bootloader.firmware is bios"},
	} {
		s, err := Parse(load(t, tc.boot))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		f := Facts{UEFI: tc.uefi, EFIVars: tc.uefi, Kernels: []string{"vmlinuz-linux"}, Files: map[string]string{}}
		rp, err := BuildPlan(s, &f, tc.in)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			for _, st := range rp.Steps {
				for _, o := range st.Ops {
					if o.Kind == engine.OpExec && (o.Argv[0] == "grub-install" || o.Argv[0] == "bootctl") {
						got = strings.Join(o.Argv, " ")
					}
				}
			}
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := Parse(load(t, "{name: grub, firmware: efi}")); err == nil || !strings.HasPrefix(err.Error(), "m.yml:1:36: bootloader.firmware \"efi\": expected uefi or bios") {
		t.Errorf("firmware: efi: %v", err)
	}
}

// load reads a Ch-obolo file declaring bootloader (as given) and the partitioning of parts through
// the real loader, which names positions by file.
func load(t *testing.T, boot string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.LoadBytes("m.yml", []byte("bootloader: "+boot+"\npartitioning: "+parts+"\n"), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFATWriteUndoAfterKill: a write on FAT killed between its temp file and the rename leaves the
// temp file; the undo removes it with the new file (and restores an old one). The write's first
// half (cat into the temp file) and the undo run for real with sh in a directory here.
func TestFATWriteUndoAfterKill(t *testing.T) {
	for _, had := range []bool{false, true} {
		dir := t.TempDir()
		p := filepath.Join(dir, "loader.conf")
		if had {
			if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		op := fatWrite(p, []byte("new\n"))
		capt, err := exec.Command(op.Capture[0], op.Capture[1:]...).Output()
		if err != nil {
			t.Fatal(err)
		}
		// The write up to its rename: the temp file, as the op's own script names it.
		half := strings.Replace(op.Argv[2], ` && mv -f -- "$t" "$1"`, "", 1)
		if half == op.Argv[2] {
			t.Fatalf("the write's script changed: %q", op.Argv[2])
		}
		cmd := exec.Command("sh", "-c", half, "chaos-write", p)
		cmd.Stdin = bytes.NewReader(op.Stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		undo := exec.Command(op.Undo.Argv[0], op.Undo.Argv[1:]...)
		undo.Stdin = bytes.NewReader(capt)
		if out, err := undo.CombinedOutput(); err != nil {
			t.Fatalf("undo: %v: %s", err, out)
		}
		left, _ := os.ReadDir(dir)
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		var want []string
		if had {
			want = []string{"loader.conf"}
			if got, _ := os.ReadFile(p); string(got) != "old\n" {
				t.Errorf("restored %q", got)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("had=%v: left %v, want %v", had, names, want)
		}
	}
}
