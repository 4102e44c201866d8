package bootloader

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// Stand-ins for the boot loader tools (not in the fixture): they create what the real ones create,
// so the role's install-once and regenerate-when-stale logic runs against real files.
const (
	fakeBootctl     = "#!/bin/sh\nmkdir -p /boot/EFI/systemd && echo efi > /boot/EFI/systemd/systemd-bootx64.efi\necho \"$*\" >> /var/tmp/bootctl.log\n"
	fakeMkconfig    = "#!/bin/sh\n[ \"$1\" = -o ] || exit 2\nmkdir -p \"$(dirname \"$2\")\"\necho '# grub.cfg (fake)' > \"$2\"\necho x >> /var/tmp/mkconfig.log\n"
	fakeGrubInstall = "#!/bin/sh\nmkdir -p /boot/EFI/archroot && echo efi > /boot/EFI/archroot/grubx64.efi\n"
)

func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	for p, s := range map[string]string{"/usr/bin/bootctl": fakeBootctl, "/usr/bin/grub-mkconfig": fakeMkconfig, "/usr/bin/grub-install": fakeGrubInstall} {
		testenv.WriteFile(t, root, p, s)
		testenv.Chroot(t, root, "chmod", "755", p)
	}
	testenv.WriteFile(t, root, "/boot/vmlinuz-linux", "kernel")
	testenv.WriteFile(t, root, "/boot/initramfs-linux.img", "initrd")
	tr := enginetest.Chroot(t, root)

	// systemd-boot in a chroot: configuration written, install refused without the flag.
	c := chob(t, "{name: systemd-boot, timeout: 4}", parts)
	hp := enginetest.ApplyTwice(t, tr, c, New())
	if plan := enginetest.Render(hp); !strings.Contains(plan, "unless you pass --allow-bootloader-install") || strings.Contains(plan, "$ bootctl") {
		t.Errorf("install in a chroot without the flag:\n%s", plan)
	}
	if got := testenv.ReadFile(t, root, "/boot/loader/entries/chaos-linux.conf"); !strings.Contains(got, "options root=LABEL=archroot rw\n") {
		t.Errorf("entry = %q", got)
	}
	// With --allow-bootloader-install: installed once; the second run changes nothing.
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	req := engine.Request{Chobolo: c, Assume: true, Allow: map[string]bool{AllowInstall: true}}
	for i := range 2 {
		hp, err := e.Plan(context.Background(), tr, req)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if !hp.Empty() {
				t.Fatalf("second run:\n%s", enginetest.Render(hp))
			}
			break
		}
		if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := testenv.ReadFile(t, root, "/var/tmp/bootctl.log"); got != "install --esp-path=/boot\n" {
		t.Errorf("bootctl ran: %q", got)
	}

	// grub: grub.cfg regenerated when missing, then only when a kernel is newer.
	c = chob(t, "{name: grub, timeout: 1}", parts)
	e = &engine.Engine{Registry: engine.NewRegistry(New())}
	req.Chobolo = c
	for range 2 {
		hp, err := e.Plan(context.Background(), tr, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := testenv.ReadFile(t, root, "/var/tmp/mkconfig.log"); got != "x\n" {
		t.Errorf("grub-mkconfig ran %d times, want once", strings.Count(got, "x"))
	}
	testenv.Chroot(t, root, "touch", "-d", "+1 minute", "/boot/vmlinuz-linux")
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if plan := enginetest.Render(hp); !strings.Contains(plan, "grub-mkconfig -o /boot/grub/grub.cfg") {
		t.Errorf("a newer kernel does not regenerate grub.cfg:\n%s", plan)
	}
}
