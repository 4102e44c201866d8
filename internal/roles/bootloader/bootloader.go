// Package bootloader is the Arch Linux `bootloader` role: grub (BIOS and UEFI), systemd-boot and
// rEFInd. Their configuration is generated and checked on every run (grub.cfg is regenerated only when
// it is missing or older than what it is made from); the install step (grub-install, bootctl install,
// refind-install) runs only when the boot loader is absent, and never inside a chroot unless the user
// passed --allow-bootloader-install.
package bootloader

import (
	_ "embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
	"go.yaml.in/yaml/v3"
)

// explainMD is the text of `chaos explain bootloader`.
//
//go:embed explain.md
var explainMD string

// AllowInstall is the Env.Allow key of --allow-bootloader-install.
const AllowInstall = "bootloader-install"

// Role is the bootloader role.
type Role struct{}

// New returns the role.
func New() engine.Role { return Role{} }

// Meta implements engine.Role.
func (Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "bootloader",
		Aliases: []string{"boot"},
		Keys:    []string{"bootloader"},
		Cores:   []string{arch.Core},
		Summary: "grub, systemd-boot or rEFInd: configuration checked every run, installed only when absent",
		Explain: explainMD,
		Order:   60,
	}
}

// Spec is the declared boot setup.
type Spec struct {
	Loader string // grub, systemd-boot, refind
	// Boot is the boot partition's mount point (the ESP on UEFI), default /boot.
	Boot string
	// Disk is partitioning.disk (grub on BIOS installs to it).
	Disk string
	// RootLabel is the name of the partition marked important: root (its file system LABEL).
	RootLabel string
	// ID is grub's --bootloader-id: the root label, else "GRUB".
	ID       string
	Timeout  *int
	Params   string // extra kernel parameters
	BootFAT  bool   // the boot partition is FAT (an ESP)
	Pos      chobolo.Pos
	HasParts bool
	// Firmware is the declared `firmware` ("uefi", "bios", "" when not declared), at FirmwarePos.
	// The Ch-imera compilers need it; here it decides inside a chroot and is checked on a live host.
	Firmware    string
	FirmwarePos chobolo.Pos
}

var labelOK = func(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Parse reads `bootloader` (a name, or {name, firmware, timeout, kernel_params}) and `partitioning`.
func Parse(c *chobolo.Chobolo) (*Spec, error) {
	n := c.Extra["bootloader"]
	if n == nil {
		return nil, nil
	}
	s := &Spec{Boot: "/boot", ID: "GRUB", Pos: c.NodePos(n)}
	switch n.Kind {
	case yaml.ScalarNode:
		s.Loader = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			switch k {
			case "name", "type", "loader":
				s.Loader = v.Value
			case "firmware":
				if v.Value != "uefi" && v.Value != "bios" {
					return nil, fmt.Errorf("%s: bootloader.firmware %q: expected uefi or bios", c.NodePos(v), v.Value)
				}
				s.Firmware, s.FirmwarePos = v.Value, c.NodePos(v)
			case "timeout":
				t, err := strconv.Atoi(v.Value)
				if err != nil || t < 0 || t > 600 {
					return nil, fmt.Errorf("%s: bootloader.timeout: expected seconds from 0 to 600", c.NodePos(v))
				}
				s.Timeout = &t
			case "kernel_params":
				if strings.ContainsAny(v.Value, "\"'\\\n\r`$;") {
					return nil, fmt.Errorf("%s: bootloader.kernel_params: quotes, backslashes, $, ; and newlines are not allowed", c.NodePos(v))
				}
				s.Params = strings.Join(strings.Fields(v.Value), " ")
			default:
				return nil, fmt.Errorf("%s: bootloader: unknown key %q (use name, firmware, timeout, kernel_params)", c.NodePos(n.Content[i]), k)
			}
		}
	default:
		return nil, fmt.Errorf("%s: bootloader: expected grub, systemd-boot or refind", s.Pos)
	}
	switch s.Loader {
	case "grub", "systemd-boot", "refind":
	default:
		return nil, fmt.Errorf("%s: bootloader: unknown boot loader %q (use grub, systemd-boot or refind)", s.Pos, s.Loader)
	}
	if p := c.Extra["partitioning"]; p != nil {
		var parts struct {
			Disk       string `yaml:"disk"`
			Partitions []struct {
				Name       string `yaml:"name"`
				Type       string `yaml:"type"`
				Important  string `yaml:"important"`
				Mountpoint string `yaml:"mountpoint"`
			} `yaml:"partitions"`
		}
		if err := p.Decode(&parts); err != nil {
			return nil, fmt.Errorf("%s: partitioning: %v", c.NodePos(p), err)
		}
		s.HasParts = true
		if parts.Disk != "" {
			if !strings.HasPrefix(parts.Disk, "/dev/") || !labelOK(strings.ReplaceAll(strings.TrimPrefix(parts.Disk, "/dev/"), "/", "_")) {
				return nil, fmt.Errorf("%s: partitioning.disk %q: expected /dev/NAME (letters, digits, / _ -)", c.NodePos(p), parts.Disk)
			}
			s.Disk = parts.Disk
		}
		for _, pt := range parts.Partitions {
			switch pt.Important {
			case "boot":
				mp := pt.Mountpoint
				if mp == "" || !strings.HasPrefix(mp, "/") || path.Clean(mp) != mp || mp == "/" ||
					!labelOK(strings.ReplaceAll(strings.TrimPrefix(mp, "/"), "/", "_")) {
					return nil, fmt.Errorf("%s: partitioning: the boot partition needs a mountpoint like /boot or /efi (got %q)", c.NodePos(p), pt.Mountpoint)
				}
				s.Boot = mp
				t := strings.ToLower(pt.Type)
				s.BootFAT = t == "fat32" || t == "vfat" || t == "fat" || t == "efi"
			case "root":
				if pt.Name != "" {
					if !labelOK(pt.Name) {
						return nil, fmt.Errorf("%s: partitioning: root partition name %q: use letters, digits, _ and -", c.NodePos(p), pt.Name)
					}
					s.RootLabel, s.ID = pt.Name, pt.Name
				}
			}
		}
	}
	return s, nil
}

// Facts are what the probe found.
type Facts struct {
	UEFI bool
	// EFIVars: /sys/firmware/efi/efivars lists variables, so a boot entry can be registered in NVRAM.
	// Without them (a chroot without /sys, an image being built, a BIOS-booted installer) the loaders
	// are installed to the fallback path EFI/BOOT/BOOTX64.EFI, which firmware boots on its own.
	EFIVars bool
	// BootFS is the file system type of the boot directory (stat -f): on FAT (an ESP) files have no
	// owner or mode.
	BootFS string
	// RootSpec is the / entry's device in /etc/fstab (UUID=..., LABEL=..., /dev/...).
	RootSpec string
	// Kernels are the kernel images in the boot directory (vmlinuz-linux, ...), Ucode the microcode
	// images (intel-ucode.img, amd-ucode.img).
	Kernels, Ucode []string
	// Installed: the loader's files were found. Files: managed files' contents ("" = missing).
	Installed bool
	Files     map[string]string
	// GrubStale: grub.cfg is missing or older than /etc/default/grub, /etc/grub.d or a kernel.
	GrubStale bool
}

// Paths of the managed files. grub keeps its directory in /boot whatever the ESP's mount point
// (grub-install's --boot-directory defaults to /boot), and rEFInd reads refind_linux.conf from the
// kernel's directory; only systemd-boot needs the kernels and its files on the ESP.
func grubCfg(*Spec) string      { return "/boot/grub/grub.cfg" }
func loaderConf(s *Spec) string { return s.Boot + "/loader/loader.conf" }
func entryConf(s *Spec, k string) string {
	return s.Boot + "/loader/entries/chaos-" + strings.TrimPrefix(k, "vmlinuz-") + ".conf"
}
func refindLinuxConf(*Spec) string { return "/boot/refind_linux.conf" }

// kernelDir is where the probe looks for kernels and microcode.
func kernelDir(s *Spec) string {
	if s.Loader == "systemd-boot" {
		return s.Boot
	}
	return "/boot"
}

const defaultGrub = "/etc/default/grub"

// installedMarkers are the files whose presence means the loader is installed, for firmware booted
// with UEFI or not and with EFI variables or not. grub installed to the fallback path needs its
// modules too: systemd-boot also writes EFI/BOOT/BOOTX64.EFI.
func installedMarkers(s *Spec, uefi, efivars bool) []string {
	switch {
	case s.Loader == "systemd-boot":
		return []string{s.Boot + "/EFI/systemd/systemd-bootx64.efi"}
	case s.Loader == "refind":
		return []string{s.Boot + "/EFI/refind/refind.conf"}
	case uefi && efivars:
		return []string{s.Boot + "/EFI/" + s.ID + "/grubx64.efi"}
	case uefi:
		return []string{s.Boot + "/EFI/BOOT/BOOTX64.EFI", "/boot/grub/x86_64-efi/core.efi"}
	}
	return []string{"/boot/grub/i386-pc/core.img"}
}

var _ engine.Owner = Role{}

// Owns implements engine.Owner: the boot loader's own directories (installed and regenerated by its
// tools) and the configuration files the role writes.
func (Role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	s, err := Parse(c)
	if err != nil || s == nil {
		return nil // an invalid section is Plan's error, with its position
	}
	claim := func(p string, tree bool, why string) engine.Claim {
		return engine.Claim{Path: p, Tree: tree, Pos: s.Pos, Why: why}
	}
	switch s.Loader {
	case "grub":
		out := []engine.Claim{claim("/boot/grub", true, "grub-install and grub-mkconfig")}
		if s.Timeout != nil || s.Params != "" {
			out = append(out, claim(defaultGrub, false, "timeout and kernel parameters"))
		}
		return out
	case "systemd-boot":
		return []engine.Claim{claim(s.Boot+"/loader", true, "loader.conf and boot entries"),
			claim(s.Boot+"/EFI/systemd", true, "bootctl install")}
	case "refind":
		return []engine.Claim{claim(refindLinuxConf(s), false, "kernel parameters"),
			claim(s.Boot+"/EFI/refind", true, "refind-install")}
	}
	return nil
}

// Probe implements engine.Role.
func (Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	s, err := Parse(c)
	if err != nil || s == nil {
		return nil
	}
	q := shell.Quote
	var b strings.Builder
	b.WriteString("[ -d /sys/firmware/efi ] && echo uefi=1\n")
	b.WriteString(`[ -n "$(ls /sys/firmware/efi/efivars 2>/dev/null | head -n 1)" ] && echo efivars=1` + "\n")
	fmt.Fprintf(&b, "echo \"bootfs=$(stat -f -c %%T %s 2>/dev/null)\"\n", q(s.Boot))
	b.WriteString(`awk '$1 !~ /^#/ && $2 == "/" {print "root=" $1; exit}' /etc/fstab 2>/dev/null` + "\n")
	fmt.Fprintf(&b, "for k in %s/vmlinuz-*; do [ -f \"$k\" ] && echo \"kernel=${k##*/}\"; done\n", q(kernelDir(s)))
	fmt.Fprintf(&b, "for u in %s/*-ucode.img; do [ -f \"$u\" ] && echo \"ucode=${u##*/}\"; done\n", q(kernelDir(s)))
	fmt.Fprintf(&b, "for d in %s %s /etc/default; do [ -d \"$d\" ] && echo \"dir=$d\"; done\n", q(s.Boot+"/loader"), q(s.Boot+"/loader/entries"))
	b.WriteString("for m in")
	seen := map[string]bool{}
	for _, uefi := range []bool{true, false} {
		for _, vars := range []bool{true, false} {
			for _, m := range installedMarkers(s, uefi, vars) {
				if !seen[m] {
					seen[m] = true
					b.WriteString(" " + q(m))
				}
			}
		}
	}
	b.WriteString("; do [ -e \"$m\" ] && echo \"installed=$m\"; done\n")
	b.WriteString("for f in " + q(defaultGrub) + " " + q(loaderConf(s)) + " " + q(refindLinuxConf(s)) + " " + q(s.Boot) + "/loader/entries/chaos-*.conf; do\n")
	b.WriteString("  [ -f \"$f\" ] || continue\n  printf '@file %s %s\\n' \"$(wc -c < \"$f\")\" \"$f\"; cat \"$f\"; echo\ndone\n")
	fmt.Fprintf(&b, "g=%s\n", q(grubCfg(s)))
	// FAT (an ESP mounted at /boot) keeps modification times in 2-second steps, so grub.cfg written
	// right after /etc/default/grub may look older than it: anything newer by more than 2 s is.
	b.WriteString(`if [ ! -f "$g" ]; then echo grubstale=1
elif [ -n "$(find /etc/default/grub /etc/grub.d "${g%/grub/grub.cfg}" -maxdepth 1 -newermt "@$(($(stat -c %Y "$g") + 2))" \( -path /etc/default/grub -o -path '/etc/grub.d/*' -o -name 'vmlinuz-*' -o -name 'initramfs-*' \) 2>/dev/null | head -n 1)" ]; then echo grubstale=1; fi
true`)
	return []engine.ProbeSection{{Name: "state", Script: b.String()}}
}

// ParseFacts reads the probe output.
func ParseFacts(out string) Facts {
	f := Facts{Files: map[string]string{}}
	for len(out) > 0 {
		line, rest, _ := strings.Cut(out, "\n")
		out = rest
		if h, ok := strings.CutPrefix(line, "@file "); ok {
			size, p, _ := strings.Cut(h, " ")
			n, err := strconv.Atoi(strings.TrimSpace(size))
			if err != nil || n > len(out) {
				continue
			}
			f.Files[p] = out[:n]
			out = strings.TrimPrefix(out[n:], "\n")
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "uefi":
			f.UEFI = true
		case "efivars":
			f.EFIVars = true
		case "bootfs":
			f.BootFS = v
		case "root":
			f.RootSpec = v
		case "kernel":
			f.Kernels = append(f.Kernels, v)
		case "ucode":
			f.Ucode = append(f.Ucode, v)
		case "installed":
			f.Files["@installed "+v] = ""
		case "dir":
			f.Files["@dir "+v] = ""
		case "grubstale":
			f.GrubStale = true
		}
	}
	return f
}

// Header marks the files this role writes.
const Header = "# generated by chaos (role bootloader); changes here are overwritten\n"

// rootParam is the root= parameter: the root partition's LABEL, else fstab's / entry.
func rootParam(s *Spec, f *Facts) (string, error) {
	if s.RootLabel != "" {
		return "root=LABEL=" + s.RootLabel, nil
	}
	if f.RootSpec != "" && !strings.ContainsAny(f.RootSpec, " \t\"'") {
		return "root=" + f.RootSpec, nil
	}
	return "", fmt.Errorf("%s: bootloader %s needs the root file system: name the partition marked important: root under partitioning, or list / in /etc/fstab", s.Pos, s.Loader)
}

// Input is what the plan needs besides the spec and facts.
type Input struct {
	Chroot, AllowInstall bool
}

// BuildPlan is the pure plan.
func BuildPlan(s *Spec, f *Facts, in Input) (*engine.RolePlan, error) {
	rp := &engine.RolePlan{}
	uefi := f.UEFI || (in.Chroot && s.BootFAT)
	switch {
	case s.Firmware != "" && !in.Chroot && (s.Firmware == "uefi") != f.UEFI:
		// On a live host the firmware it booted with decides which loader boots it: installing for the
		// declared one would leave a machine that does not start.
		booted := "BIOS (no /sys/firmware/efi)"
		if f.UEFI {
			booted = "UEFI (/sys/firmware/efi exists)"
		}
		return nil, fmt.Errorf("%s: bootloader.firmware: %s is declared, but this machine booted with %s: fix the declaration (or switch the firmware mode) rather than install a boot loader it cannot start",
			s.FirmwarePos, s.Firmware, booted)
	case s.Firmware != "":
		// Inside a chroot /sys/firmware/efi is the installer's, not the target's: the declaration decides.
		uefi = s.Firmware == "uefi"
	}
	if (s.Loader == "systemd-boot" || s.Loader == "refind") && !uefi {
		if s.Firmware == "bios" {
			return nil, fmt.Errorf("%s: %s needs UEFI, and bootloader.firmware is bios", s.FirmwarePos, s.Loader)
		}
		if in.Chroot && !s.HasParts {
			rp.Notes = append(rp.Notes, "cannot tell UEFI from BIOS inside a chroot: assuming UEFI for "+s.Loader+" (declare the boot partition with type fat32)")
			uefi = true
		} else {
			return nil, fmt.Errorf("%s: %s needs UEFI, and this machine booted without it (no /sys/firmware/efi)", s.Pos, s.Loader)
		}
	}
	markers := installedMarkers(s, uefi, f.EFIVars)
	installed := true
	var missing []string
	for _, m := range markers {
		if _, ok := f.Files["@installed "+m]; !ok {
			installed = false
			missing = append(missing, m)
		}
	}
	marker := strings.Join(missing, ", ")
	if !installed {
		var op engine.Op
		switch {
		case s.Loader == "grub" && uefi && f.EFIVars:
			op = engine.Exec("grub-install", "--target=x86_64-efi", "--efi-directory="+s.Boot, "--bootloader-id="+s.ID)
		case s.Loader == "grub" && uefi:
			// No EFI variables: a boot entry cannot be registered (Arch's grub-install fails trying),
			// so grub goes to the path firmware boots without one.
			op = engine.Exec("grub-install", "--target=x86_64-efi", "--efi-directory="+s.Boot, "--removable", "--no-nvram")
		case s.Loader == "grub":
			if s.Disk == "" {
				return nil, fmt.Errorf("%s: grub on BIOS installs to a disk: set partitioning.disk", s.Pos)
			}
			op = engine.Exec("grub-install", "--target=i386-pc", "--", s.Disk)
		case s.Loader == "systemd-boot" && f.EFIVars:
			op = engine.Exec("bootctl", "install", "--esp-path="+s.Boot)
		case s.Loader == "systemd-boot":
			// bootctl always writes the fallback EFI/BOOT/BOOTX64.EFI too.
			op = engine.Exec("bootctl", "install", "--esp-path="+s.Boot, "--no-variables")
		default:
			op = engine.Exec("refind-install")
		}
		// What these write (a boot sector, EFI binaries, NVRAM entries) is not captured before.
		op = op.CannotUndo("installs the boot loader onto the disk and ESP; a rollback does not remove it")
		if in.Chroot && !in.AllowInstall {
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s is not installed (missing: %s); chaos does not run `%s` inside a chroot unless you pass --allow-bootloader-install",
				s.Loader, marker, strings.Join(op.Argv, " ")))
		} else {
			rp.Add([]engine.Change{{Kind: engine.Add, Subject: "boot loader " + s.Loader, Detail: "not installed (missing: " + marker + ")", Pos: s.Pos}}, op)
		}
	}
	// On FAT, chmod and chown fail (vfat's default fmask makes files 0755 and refuses 0644), so files
	// there are written without either.
	fat := s.BootFAT || slices.Contains([]string{"msdos", "vfat", "fat", "exfat", "fuseblk", "fuse"}, f.BootFS)
	onFAT := func(p string) bool { return fat && strings.HasPrefix(p, s.Boot+"/") }
	made := map[string]bool{}
	// mkdirs creates the missing parents of p (never touching existing ones: an ESP is FAT, where
	// chmod fails).
	mkdirs := func(p string) []engine.Op {
		var ops []engine.Op
		var missing []string
		for d := path.Dir(p); d != "/" && d != "." && path.Dir(d) != "/" && d != s.Boot; d = path.Dir(d) {
			if _, ok := f.Files["@dir "+d]; ok || made[d] {
				break
			}
			missing = append([]string{d}, missing...)
		}
		for _, d := range missing {
			made[d] = true
			if onFAT(d) {
				ops = append(ops, engine.Mkdir(d, 0, "", ""))
			} else {
				ops = append(ops, engine.Mkdir(d, 0o755, "root", "root"))
			}
		}
		return ops
	}
	write := func(p, content, why string) {
		if cur, ok := f.Files[p]; ok && cur == content {
			return
		}
		w := engine.Write(p, []byte(content), 0o644, "root", "root")
		if onFAT(p) {
			w = fatWrite(p, []byte(content))
		}
		ops := append(mkdirs(p), w)
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: p, Detail: why, Pos: s.Pos}}, ops...)
	}
	opts := func() (string, error) {
		root, err := rootParam(s, f)
		if err != nil {
			return "", err
		}
		o := root + " rw"
		if s.Params != "" {
			o += " " + s.Params
		}
		return o, nil
	}
	switch s.Loader {
	case "grub":
		cur, have := f.Files[defaultGrub]
		var vars [][2]string
		if s.Timeout != nil {
			vars = append(vars, [2]string{"GRUB_TIMEOUT", strconv.Itoa(*s.Timeout)})
		}
		if s.Params != "" {
			vars = append(vars, [2]string{"GRUB_CMDLINE_LINUX_DEFAULT", `"` + s.Params + `"`})
		}
		changed := false
		if len(vars) > 0 {
			next := setVars(cur, vars)
			if !have || next != cur {
				changed = true
				rp.Add([]engine.Change{{Kind: engine.Modify, Subject: defaultGrub, Detail: "timeout and kernel parameters", Pos: s.Pos}},
					append(mkdirs(defaultGrub), engine.Write(defaultGrub, []byte(next), 0o644, "root", "root"))...)
			}
		}
		if changed || f.GrubStale || !installed {
			why := "out of date (older than /etc/default/grub, /etc/grub.d or a kernel)"
			switch {
			case changed:
				why = "regenerated: /etc/default/grub changed"
			case !installed:
				why = "generated after grub-install"
			}
			if installed || !in.Chroot || in.AllowInstall {
				rp.Add([]engine.Change{{Kind: engine.Modify, Subject: grubCfg(s), Detail: why, Pos: s.Pos}},
					engine.Exec("grub-mkconfig", "-o", grubCfg(s)).CannotUndo("regenerates "+grubCfg(s)+"; its previous content is not kept"))
			}
		}
	case "systemd-boot":
		if len(f.Kernels) == 0 {
			return nil, fmt.Errorf("%s: systemd-boot: no kernel (vmlinuz-*) in %s: it must be on the ESP (mount the ESP at /boot) and installed (packages: linux)", s.Pos, s.Boot)
		}
		o, err := opts()
		if err != nil {
			return nil, err
		}
		timeout := 3
		if s.Timeout != nil {
			timeout = *s.Timeout
		}
		def := "chaos-" + strings.TrimPrefix(f.Kernels[0], "vmlinuz-") + ".conf"
		write(loaderConf(s), Header+"default "+def+"\ntimeout "+strconv.Itoa(timeout)+"\neditor no\n", "boot menu")
		for _, k := range f.Kernels {
			name := strings.TrimPrefix(k, "vmlinuz-")
			var e strings.Builder
			e.WriteString(Header + "title Arch Linux (" + name + ")\nlinux /" + k + "\n")
			for _, u := range f.Ucode {
				e.WriteString("initrd /" + u + "\n")
			}
			e.WriteString("initrd /initramfs-" + name + ".img\noptions " + o + "\n")
			write(entryConf(s, k), e.String(), "boot entry for "+k)
		}
	case "refind":
		o, err := opts()
		if err != nil {
			return nil, err
		}
		var e strings.Builder
		e.WriteString(Header)
		e.WriteString(`"Boot with standard options"  "` + o + ` add_efi_memmap"` + "\n")
		e.WriteString(`"Boot to single-user mode"    "` + o + ` single"` + "\n")
		write(refindLinuxConf(s), e.String(), "kernel options for rEFInd")
	}
	return rp, nil
}

// fatWrite writes content to p on a FAT file system: a temp file renamed into place, as the engine's
// write does, minus the owner and mode FAT cannot hold. Its undo puts back what was there before,
// and removes the temp file a write killed before its rename left (its name is fixed per path:
// the host lock keeps two writers of one path apart).
func fatWrite(p string, content []byte) engine.Op {
	const put = `t="${1%/*}/.chaos-${1##*/}.tmp"; cat > "$t" && mv -f -- "$t" "$1"`
	op := engine.Exec("sh", "-c", put, "chaos-write", p).WithUndo(
		engine.Exec("sh", "-c", `IFS= read -r had; if [ "$had" = 1 ]; then `+put+`; else rm -f -- "$1" "${1%/*}/.chaos-${1##*/}.tmp"; fi`, "chaos-restore", p))
	op.Stdin = content
	op.Capture = []string{"sh", "-c", `if [ -f "$1" ]; then echo 1; cat -- "$1"; else echo 0; fi`, "chaos-read", p}
	op.Label = fmt.Sprintf("write %s (%d bytes, on FAT: no owner or mode)", p, len(content))
	return op
}

// setVars sets KEY=VALUE lines, keeping the others; missing keys are appended.
func setVars(content string, vars [][2]string) string {
	var lines []string
	if content != "" {
		lines = strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	}
	for _, kv := range vars {
		found := false
		for i, l := range lines {
			if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k == kv[0] {
				if found {
					lines[i] = "# " + l + " # overridden by chaos"
					continue
				}
				lines[i] = kv[0] + "=" + kv[1]
				found = true
			}
		}
		if !found {
			lines = append(lines, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// Plan implements engine.Role.
func (Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	s, err := Parse(c)
	if err != nil || s == nil {
		return &engine.RolePlan{}, err
	}
	f := ParseFacts(facts["state"].Stdout)
	return BuildPlan(s, &f, Input{Chroot: env.Chroot, AllowInstall: env.Allow[AllowInstall]})
}
