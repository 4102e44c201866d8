// Package nixos is Ch-imera's NixOS back end: it compiles a chimera.System into a flake
// (flake.nix), a NixOS module (configuration.nix), the file systems (hardware-configuration.nix)
// and, on request, a disko layout (disko.nix).
//
// Output is built as a tree of attribute assignments and printed; user text only enters the
// output through String and Attr (nix.go), and never into comments.
package nixos

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// Diagnostic codes of this back end (CHI401-449).
const (
	CodeNoHostname   = "CHI401" // no hostname: the configuration is called "nixos"
	CodeInlineHash   = "CHI402" // a password hash is inlined and world-readable in the store
	CodeNoPassword   = "CHI403" // --inline-hashes without a hash for a user: no password
	CodeHardware     = "CHI404" // initrd modules and the like cannot be known without the machine
	CodeStateVersion = "CHI405" // system.stateVersion defaulted to the pinned release
	CodeBootloader   = "CHI406" // a boot loader NixOS has no module for
	CodeRootUser     = "CHI407" // root is managed by NixOS; the entry is left out
	CodeNoBoot       = "CHI408" // no boot loader or no root file system: the output does not build alone
	CodeSops         = "CHI409" // passwords come from sops-nix: what to put next to flake.nix
	CodeProvided     = "CHI410" // a unit NixOS runs already
)

type backend struct{}

func init() { chimera.Register(backend{}) }

func (backend) Name() string { return "nixos" }

// compiler is the state of one compilation.
type compiler struct {
	in     chimera.Input
	sys    *chimera.System
	c      *chobolo.Chobolo
	ds     *chimera.Diagnostics
	conf   *set // configuration.nix
	hw     *set // hardware-configuration.nix
	disko  *set // disko.nix
	sops   bool // a password comes from sops-nix
	unfree []string
	host   string
}

func (backend) Compile(_ context.Context, in chimera.Input, ds *chimera.Diagnostics) (files []chimera.File, err error) {
	defer func() {
		// The tree panics only on a generator bug (a path both set and assigned); report it as an
		// internal error instead of crashing the CLI.
		if r := recover(); r != nil {
			files, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	k := &compiler{in: in, sys: in.System, c: in.System.Source, ds: ds, conf: newSet(false), hw: newSet(false)}
	k.conf.set(chobolo.Pos{}, raw("if builtins.pathExists ./extra.nix then [ ./extra.nix ] else [ ]"), "imports")
	k.hostname()
	k.users()
	k.packages()
	k.services()
	k.region()
	k.files()
	k.boot()
	k.stateVersion()
	k.hardware()
	if in.Options.Disko {
		k.diskoLayout()
	}
	if len(k.unfree) > 0 {
		slices.Sort(k.unfree)
		names, err := strList(slices.Compact(k.unfree)...)
		if err != nil {
			return nil, err
		}
		k.conf.set(chobolo.Pos{}, raw("pkg: builtins.elem (lib.getName pkg) "+must(inline(names))), "nixpkgs", "config", "allowUnfreePredicate")
	}
	return k.files2()
}

// diag records a finding of this back end.
func (k *compiler) diag(sev chimera.Severity, code string, pos chobolo.Pos, path, hint, format string, args ...any) {
	k.ds.Add(chimera.Diagnostic{Severity: sev, Code: code, Pos: pos, Path: path, Backend: "nixos",
		Message: fmt.Sprintf(format, args...), Hint: hint})
}

// invalid reports a value that cannot be written in Nix (only a NUL byte, in practice).
func (k *compiler) invalid(pos chobolo.Pos, path string, err error) {
	k.diag(chimera.Error, chimera.CodeInvalidValue, pos, path, "", "%s: %v", path, err)
}

// strAt is a string literal, or "" after reporting why it cannot be one.
func (k *compiler) strAt(pos chobolo.Pos, path, s string) (raw, bool) {
	q, err := str(s)
	if err != nil {
		k.invalid(pos, path, err)
		return "", false
	}
	return q, true
}

func (k *compiler) hostname() {
	name := k.sys.Hostname
	if name == "" {
		k.host = "nixos"
		k.diag(chimera.Warning, CodeNoHostname, chobolo.Pos{File: k.c.File}, "hostname", "set hostname:",
			"no hostname: the configuration is nixosConfigurations.nixos and the machine keeps NixOS's default name")
		return
	}
	// NixOS's hostName is a single label; a dotted name puts the rest in networking.domain.
	short, domain, dotted := strings.Cut(name, ".")
	k.host = short
	if q, ok := k.strAt(k.sys.HostPos, "hostname", short); ok {
		k.conf.set(k.sys.HostPos, q, "networking", "hostName")
	}
	if dotted {
		if q, ok := k.strAt(k.sys.HostPos, "hostname", domain); ok {
			k.conf.set(k.sys.HostPos, q, "networking", "domain")
		}
	}
}

// crypt is a crypt(3) hash as NixOS's hashedPassword accepts it (passwdEntry: no ':' or newline).
var crypt = regexp.MustCompile(`^\$[A-Za-z0-9]+\$[!-9;-~]+$`)

func (k *compiler) users() {
	groups := map[string]bool{}
	for _, u := range k.sys.Users {
		pos := u.Pos
		if u.Name == "root" {
			k.diag(chimera.Info, CodeRootUser, pos, u.Path(""), "set root's password in extra.nix if you need one",
				"root is managed by NixOS itself (as by Ch-aronte); the entry is left out")
			continue
		}
		blk := k.conf.sub(pos, true, "users", "users", u.Name)
		if u.System {
			blk.set(pos, raw("true"), "isSystemUser")
			q, _ := str(u.Name) // user names are validated by the loader: never NUL
			blk.set(pos, q, "group")
			k.conf.sub(pos, true, "users", "groups", u.Name)
		} else {
			blk.set(pos, raw("true"), "isNormalUser")
		}
		if u.UID != nil {
			blk.set(k.c.Pos(u.Path("uid")), raw(strconv.Itoa(*u.UID)), "uid")
		}
		if u.Home != "" && (u.System || u.Home != "/home/"+u.Name) {
			p := k.c.Pos(u.Path("home"))
			if q, ok := k.strAt(p, u.Path("home"), u.Home); ok {
				blk.set(p, q, "home")
				if u.System {
					blk.set(p, raw("true"), "createHome")
				}
			}
		}
		if len(u.Groups) > 0 {
			p := k.c.Pos(u.Path("groups"))
			l, err := strList(u.Groups...)
			if err != nil {
				k.invalid(p, u.Path("groups"), err)
			} else {
				blk.set(p, l, "extraGroups")
			}
			for i, g := range u.Groups {
				if !groups[g] {
					groups[g] = true
					k.conf.sub(k.c.Pos(fmt.Sprintf("%s[%d]", u.Path("groups"), i)), true, "users", "groups", g)
				}
			}
		}
		k.shell(u, blk)
		if u.Sudo {
			// Ch-aronte writes "<name> ALL=(ALL:ALL) ALL" into /etc/sudoers.d; extraRules with the
			// default host and runAs (ALL, ALL:ALL) is the same rule, and does not add the user to wheel.
			p := k.c.Pos(u.Path("sudo"))
			rule := newSet(true)
			names, _ := strList(u.Name)
			rule.set(p, names, "users")
			cmds, _ := strList("ALL")
			rule.set(p, cmds, "commands")
			k.conf.appendTo(p, rule, "security", "sudo", "extraRules")
		}
		k.password(u, blk)
	}
}

func (k *compiler) shell(u chimera.User, blk *set) {
	if u.Shell == "" {
		return
	}
	p := k.c.Pos(u.Path("shell"))
	name := path.Base(u.Shell)
	sh, ok := shells()[name]
	if !ok {
		k.diag(chimera.Warning, chimera.CodeShellUnknown, p, u.Path("shell"),
			"set users.users.<name>.shell in extra.nix",
			"login shell %q has no NixOS mapping; the user keeps the default shell (bash)", u.Shell)
		return
	}
	if sh.attr == "" {
		return // bash is users.defaultUserShell already
	}
	ref, _ := pkgRef(sh.attr)
	blk.set(p, ref, "shell")
	if sh.program {
		k.conf.set(p, raw("true"), "programs", name, "enable")
	}
}

func (k *compiler) password(u chimera.User, blk *set) {
	pos := u.Pos
	switch {
	case u.Password == "locked":
		p := k.c.Pos(u.Path("password"))
		blk.set(p, raw(`"!"`), "hashedPassword")
	case k.in.Options.InlineHashes:
		h, ok := k.in.Options.Hashes[u.Name]
		if !ok {
			k.diag(chimera.Warning, CodeNoPassword, pos, u.Path(""), "add user_secrets."+u.Name+".password to the secrets as a crypt hash",
				"user %s has no password hash in the secrets: the account has no password", u.Name)
			return
		}
		if !crypt.MatchString(h) {
			k.diag(chimera.Error, chimera.CodeInvalidValue, pos, u.Path(""), "store a crypt hash (mkpasswd -m sha-512), never the plaintext",
				"the password of %s is not a crypt hash", u.Name)
			return
		}
		q, _ := str(h)
		blk.set(pos, q, "hashedPassword")
		k.diag(chimera.Warning, CodeInlineHash, pos, u.Path(""), "drop --inline-hashes to read it from sops-nix at boot instead",
			"the password hash of %s is written into the configuration, where the Nix store makes it world-readable", u.Name)
	default:
		key := "user_secrets/" + u.Name + "/password"
		ref, _ := AttrPath("config", "sops", "secrets", key, "path")
		blk.set(pos, raw(ref), "hashedPasswordFile")
		k.conf.set(pos, raw("true"), "sops", "secrets", key, "neededForUsers")
		if !k.sops {
			k.sops = true
			k.conf.set(chobolo.Pos{}, raw("./secrets.yaml"), "sops", "defaultSopsFile")
			k.diag(chimera.Info, CodeSops, pos, u.Path(""),
				"copy the sops-encrypted secrets file next to flake.nix as secrets.yaml; sops-nix needs a crypt hash (mkpasswd -m sha-512) in user_secrets.NAME.password, not the plaintext",
				"passwords are read at boot by sops-nix from secrets.yaml")
		}
	}
}

func (k *compiler) packages() {
	seen := map[string]bool{}
	for _, p := range k.sys.Packages {
		if _, override := p.Overrides["nix"]; !override {
			if settings, ok := packageModules()[p.Name]; ok {
				k.apply(p.Pos, settings)
				if names, ok := unfree()[p.Name]; ok {
					k.unfree = append(k.unfree, names...)
				}
				continue
			}
		}
		var one chimera.Diagnostics
		attrs := chimera.ResolvePackages([]chimera.Package{p}, "nix", "nixos", pkgmap.ValidNixAttr, &one)
		k.ds.List = append(k.ds.List, one.List...)
		for _, a := range attrs {
			if seen[a] {
				continue
			}
			seen[a] = true
			ref, err := pkgRef(a)
			if err != nil {
				k.invalid(p.Pos, p.Path, err)
				continue
			}
			k.conf.appendTo(p.Pos, ref, "environment", "systemPackages")
			k.unfree = append(k.unfree, unfree()[a]...)
		}
	}
}

// apply writes a table's settings at pos.
func (k *compiler) apply(pos chobolo.Pos, settings []setting) {
	for _, s := range settings {
		k.conf.set(pos, raw(s.value), s.path...)
	}
}

// unitTargets are the unit types a plain unit can be enabled for, with the target that wants it.
var unitTargets = map[string][2]string{
	"service": {"services", "multi-user.target"},
	"timer":   {"timers", "timers.target"},
	"socket":  {"sockets", "sockets.target"},
}

func (k *compiler) services() {
	for _, s := range k.sys.Services {
		pos := s.Pos
		dot := strings.LastIndexByte(s.Unit, '.')
		base, kind := s.Unit[:dot], s.Unit[dot+1:]
		if s.WantRunning() != s.WantOnBoot() {
			k.diag(chimera.Warning, chimera.CodeRuntimeState, pos, s.Path, "NixOS starts at activation what is enabled at boot",
				"service %s: running: %v with on_boot: %v is runtime state and is not compiled", s.Name, s.WantRunning(), s.WantOnBoot())
		}
		if !s.WantOnBoot() {
			continue
		}
		table := serviceModules()
		switch kind {
		case "timer":
			table = timerModules()
		case "service", "socket":
		default:
			k.diag(chimera.Warning, chimera.CodeNotCompiled, pos, s.Path, "declare it in extra.nix",
				"unit %s: only services, sockets and timers are compiled", s.Unit)
			continue
		}
		if settings, ok := table[base]; ok {
			switch {
			case settings == nil:
				k.diag(chimera.Warning, chimera.CodeNotCompiled, pos, s.Path, "",
					"unit %s has no meaning on NixOS and is not compiled", s.Unit)
			case len(settings) == 0:
				k.diag(chimera.Info, CodeProvided, pos, s.Path, "", "unit %s is run by NixOS already", s.Unit)
			default:
				k.apply(pos, settings)
			}
			continue
		}
		t := unitTargets[kind]
		wanted, _ := strList(t[1])
		k.conf.set(pos, wanted, "systemd", t[0], base, "wantedBy")
		k.diag(chimera.Warning, chimera.CodeServiceUnit, pos, s.Path,
			"add the package that ships it to systemd.packages in extra.nix, or use the NixOS module if there is one",
			"unit %s has no NixOS module: compiled as systemd.%s.%s.wantedBy, which works only if a package in systemd.packages ships the unit", s.Unit, t[0], base)
	}
}

func (k *compiler) region() {
	r := k.sys.Region
	if r == nil {
		return
	}
	if r.Timezone != "" {
		p := k.c.Pos("region.timezone")
		if q, ok := k.strAt(p, "region.timezone", r.Timezone); ok {
			k.conf.set(p, q, "time", "timeZone")
		}
	}
	if len(r.Locales) > 0 {
		p := k.c.Pos("region.locale")
		if q, ok := k.strAt(p, "region.locale[0]", r.Locales[0]); ok {
			k.conf.set(k.c.Pos("region.locale[0]"), q, "i18n", "defaultLocale")
		}
		supported := &list{}
		for i, l := range r.Locales {
			lp := fmt.Sprintf("region.locale[%d]", i)
			if q, ok := k.strAt(k.c.Pos(lp), lp, glibcLocale(l)); ok {
				supported.items = append(supported.items, item{e: q, pos: k.c.Pos(lp)})
			}
		}
		k.conf.set(p, supported, "i18n", "supportedLocales")
	}
	if r.Keymap != "" {
		p := k.c.Pos("region.keymap")
		if q, ok := k.strAt(p, "region.keymap", r.Keymap); ok {
			k.conf.set(p, q, "console", "keyMap")
		}
	}
	if r.NTP != nil {
		k.conf.set(k.c.Pos("region.ntp"), boolean(*r.NTP), "services", "timesyncd", "enable")
	}
}

// glibcLocale turns a locale name into glibc's SUPPORTED form, NAME/CHARSET, which is what
// i18n.supportedLocales lists: en_US.UTF-8 -> en_US.UTF-8/UTF-8, de_DE@euro -> de_DE@euro/ISO-8859-15.
func glibcLocale(l string) string {
	rest, _, _ := strings.Cut(l, "@")
	_, codeset, ok := strings.Cut(rest, ".")
	switch {
	case ok && (strings.EqualFold(codeset, "utf8") || strings.EqualFold(codeset, "utf-8")):
		return l + "/UTF-8"
	case ok:
		return l + "/" + strings.ToUpper(codeset)
	case strings.HasSuffix(l, "@euro"):
		return l + "/ISO-8859-15"
	default:
		return l + "/ISO-8859-1"
	}
}

func (k *compiler) files() {
	for _, f := range k.sys.Files {
		pos, p, file := f.Pos, f.Path, f.File.Path // f.Path is the YAML path, f.File.Path the file's
		state := cmp.Or(f.State, "present")
		rel, inEtc := strings.CutPrefix(file, "/etc/")
		switch {
		case f.Template != "":
			k.diag(chimera.Warning, chimera.CodeImperativeFile, pos, p, "render it into content:, or write it in extra.nix",
				"file %s: templates are rendered on the target by chaos and are not compiled", file)
		case state == "absent":
			k.diag(chimera.Warning, chimera.CodeImperativeFile, pos, p, "NixOS removes the files it stops managing by itself",
				"file %s: state absent cannot be declared on NixOS and is not compiled", file)
		case state == "directory" || state == "link" && !inEtc:
			k.tmpfile(f, state)
		case !inEtc:
			k.diag(chimera.Warning, chimera.CodeImperativeFile, pos, p,
				"NixOS manages files under /etc only (environment.etc); use systemd.tmpfiles.rules or home-manager in extra.nix",
				"file %s is outside /etc and is not compiled", file)
		default:
			k.etcFile(f, rel, state)
		}
	}
}

func (k *compiler) etcFile(f chimera.FileEntry, rel, state string) {
	pos, p := f.Pos, f.Path
	blk := k.conf.sub(pos, true, "environment", "etc", rel)
	if state == "link" {
		if !strings.HasPrefix(f.Target, "/") {
			k.diag(chimera.Warning, chimera.CodeImperativeFile, pos, p, "use an absolute target",
				"file %s: a relative link target is not compiled", f.File.Path)
			return
		}
		if q, ok := k.strAt(pos, p+".target", f.Target); ok {
			blk.set(k.c.Pos(p+".target"), q, "source")
		}
		return
	}
	if q, ok := k.strAt(k.c.Pos(p+".content"), p+".content", f.Content); ok {
		blk.set(k.c.Pos(p+".content"), q, "text")
	}
	mode := f.Mode
	if mode == "" && (f.Owner != "" || f.Group != "") {
		// environment.etc applies user and group only to a copied file, which needs a mode.
		mode = "0644"
	}
	if mode != "" {
		q, _ := str(mode)
		blk.set(k.c.Pos(p+".mode"), q, "mode")
	}
	for _, og := range []struct{ field, value, attr string }{{"owner", f.Owner, "user"}, {"group", f.Group, "group"}} {
		if og.value == "" {
			continue
		}
		v := og.value
		if _, err := strconv.ParseUint(v, 10, 32); err == nil {
			v = "+" + v // environment.etc's spelling of a numeric id
		}
		q, _ := str(v)
		blk.set(k.c.Pos(p+"."+og.field), q, og.attr)
	}
}

// tmpfile declares a directory or a link with a systemd.tmpfiles rule.
func (k *compiler) tmpfile(f chimera.FileEntry, state string) {
	pos, p := f.Pos, f.Path
	file := f.File.Path
	if strings.ContainsAny(file+f.Target, " \t\\%") {
		k.diag(chimera.Warning, chimera.CodeImperativeFile, pos, p, "declare it in extra.nix",
			"file %s: a path with spaces, backslashes or %% is not compiled into a tmpfiles rule", file)
		return
	}
	var rule string
	if state == "directory" {
		rule = fmt.Sprintf("d %s %s %s %s -", file, cmp.Or(f.Mode, "0755"), cmp.Or(f.Owner, "root"), cmp.Or(f.Group, "root"))
	} else {
		rule = fmt.Sprintf("L+ %s - - - - %s", file, f.Target)
	}
	if q, ok := k.strAt(pos, p, rule); ok {
		k.conf.appendTo(pos, q, "systemd", "tmpfiles", "rules")
	}
}

func (k *compiler) boot() {
	b := k.sys.Boot
	if b == nil {
		k.diag(chimera.Warning, CodeNoBoot, chobolo.Pos{File: k.c.File}, "bootloader", "add bootloader: grub or systemd-boot, or set boot.loader in extra.nix",
			"no bootloader: NixOS needs a boot loader to build the system")
		return
	}
	pos := b.Pos
	switch {
	case b.Loader == "refind":
		// A warning, as every substitution (an error under --strict): the system still boots.
		k.diag(chimera.Warning, CodeBootloader, pos, "bootloader", "declare `bootloader: systemd-boot` to silence this, or set boot.loader in extra.nix; --strict makes it an error",
			"rEFInd has no NixOS module in the pinned release: substituted systemd-boot")
		k.conf.set(pos, raw("true"), "boot", "loader", "systemd-boot", "enable")
	case b.Loader == "systemd-boot":
		k.conf.set(pos, raw("true"), "boot", "loader", "systemd-boot", "enable")
	case b.UEFI:
		k.conf.set(pos, raw("true"), "boot", "loader", "grub", "enable")
		k.conf.set(pos, raw("true"), "boot", "loader", "grub", "efiSupport")
		k.conf.set(pos, raw(`"nodev"`), "boot", "loader", "grub", "device")
	default:
		k.conf.set(pos, raw("true"), "boot", "loader", "grub", "enable")
		if q, ok := k.strAt(pos, "partitioning.disk", b.Device); ok {
			k.conf.set(pos, q, "boot", "loader", "grub", "device")
		}
	}
	if b.UEFI {
		k.conf.set(pos, raw("true"), "boot", "loader", "efi", "canTouchEfiVariables")
		if q, ok := k.strAt(pos, "bootloader", b.ESP); ok {
			k.conf.set(pos, q, "boot", "loader", "efi", "efiSysMountPoint")
		}
	}
	if b.Timeout != nil {
		k.conf.set(pos, raw(strconv.Itoa(*b.Timeout)), "boot", "loader", "timeout")
	}
	if len(b.Params) > 0 {
		l, err := strList(b.Params...)
		if err != nil {
			k.invalid(pos, "bootloader.kernel_params", err)
		} else {
			k.conf.set(pos, l, "boot", "kernelParams")
		}
	}
}

var stateVersion = regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}$`)

func (k *compiler) stateVersion() {
	v := k.in.Options.StateVersion
	if v == "" {
		v = DefaultStateVersion
		k.diag(chimera.Info, CodeStateVersion, chobolo.Pos{File: k.c.File}, "", "pass --state-version with the release the machine was first installed with",
			"system.stateVersion is %s, the pinned release", v)
	} else if !stateVersion.MatchString(v) {
		k.diag(chimera.Error, chimera.CodeInvalidValue, chobolo.Pos{File: "--state-version"}, "", "",
			"state version %q: expected a NixOS release such as %s", v, DefaultStateVersion)
		return
	}
	q, _ := str(v)
	k.conf.set(chobolo.Pos{}, q, "system", "stateVersion")
}

// fsOptions are mount options nixos-generate-config writes for an ESP, so that the boot files are not
// readable by every user.
var fsOptions = map[string]string{"vfat": `[ "fmask=0077" "dmask=0077" ]`}

func (k *compiler) hardware() {
	k.hw.set(chobolo.Pos{}, raw(`[ (modulesPath + "/installer/scan/not-detected.nix") ]`), "imports")
	d := k.sys.Disk
	root := false
	if d != nil && !k.in.Options.Disko {
		mounts := map[string]bool{}
		for _, p := range d.Partitions {
			dev := "/dev/disk/by-label/" + p.Label
			if p.FSType == "swap" {
				blk := newSet(true)
				q, _ := str(dev)
				blk.set(p.Pos, q, "device")
				k.hw.appendTo(p.Pos, blk, "swapDevices")
				continue
			}
			if p.Mountpoint == "" {
				continue
			}
			if mounts[p.Mountpoint] {
				k.diag(chimera.Error, chimera.CodeInvalidValue, p.Pos, "partitioning.partitions", "",
					"mount point %s is declared twice", p.Mountpoint)
				continue
			}
			mounts[p.Mountpoint] = true
			root = root || p.Mountpoint == "/"
			blk := k.hw.sub(p.Pos, true, "fileSystems", p.Mountpoint)
			q, ok := k.strAt(p.Pos, "partitioning.partitions", dev)
			if !ok {
				continue
			}
			blk.set(p.Pos, q, "device")
			fs, _ := str(p.FSType)
			blk.set(p.Pos, fs, "fsType")
			if o, ok := fsOptions[p.FSType]; ok && p.Important == "boot" {
				blk.set(p.Pos, raw(o), "options")
			}
		}
	}
	if d != nil {
		root = root || k.in.Options.Disko
		k.diag(chimera.Info, CodeHardware, d.Pos, "partitioning", "merge the output of nixos-generate-config --show-hardware-config on the machine",
			"kernel modules for the initrd and CPU microcode cannot be known without the machine")
	}
	if !root {
		pos := chobolo.Pos{File: k.c.File}
		if d != nil {
			pos = d.Pos
		}
		k.diag(chimera.Warning, CodeNoBoot, pos, "partitioning", "declare partitioning with a root partition, or replace hardware-configuration.nix with nixos-generate-config's",
			"no root file system: NixOS needs fileSystems.\"/\" to build the system")
	}
	k.hw.set(chobolo.Pos{}, raw(`lib.mkDefault "x86_64-linux"`), "nixpkgs", "hostPlatform")
}

// header is the first lines of every generated file: no user text, only the version and the hash.
func (k *compiler) header(w *chimera.Writer) {
	w.Line(chobolo.Pos{}, fmt.Sprintf("# Generated by Ch-imera %s (chaos chimera compile --to nixos) for %s.", chimera.Version, Release))
	w.Line(chobolo.Pos{}, "# Source: a Ch-obolo with sha256 "+hexOnly(k.in.SourceHash)+".")
	w.Line(chobolo.Pos{}, "# Do not edit: regenerate it, and keep your own settings in extra.nix.")
}

// hexOnly keeps a hash printable in a comment whatever the caller passed.
func hexOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' {
			return r
		}
		return -1
	}, s)
}

// module prints a module file: header, argument pattern, body.
func (k *compiler) module(name, args string, body *set) (chimera.File, error) {
	w := chimera.NewWriter("  ")
	k.header(w)
	w.Line(chobolo.Pos{}, args)
	w.Open(chobolo.Pos{}, "{")
	if err := body.print(w, nil); err != nil {
		return chimera.File{}, err
	}
	w.Close("}")
	return w.File(name), nil
}

// files2 prints every file.
func (k *compiler) files2() ([]chimera.File, error) {
	flake, err := k.flake()
	if err != nil {
		return nil, err
	}
	conf, err := k.module("configuration.nix", "{ config, lib, pkgs, ... }:", k.conf)
	if err != nil {
		return nil, err
	}
	hw, err := k.module("hardware-configuration.nix", "{ config, lib, pkgs, modulesPath, ... }:", k.hw)
	if err != nil {
		return nil, err
	}
	out := []chimera.File{flake, conf, hw}
	if k.disko != nil {
		d, err := k.module("disko.nix", "{ ... }:", k.disko)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (k *compiler) flake() (chimera.File, error) {
	w := chimera.NewWriter("  ")
	k.header(w)
	w.Open(chobolo.Pos{}, "{")
	w.Line(chobolo.Pos{}, `description = "NixOS configuration compiled from a Ch-obolo by Ch-imera";`)
	w.Line(chobolo.Pos{}, fmt.Sprintf(`inputs.nixpkgs.url = "github:NixOS/nixpkgs/%s"; # %s`, Revision, Release))
	modules := []string{"./configuration.nix", "./hardware-configuration.nix"}
	if k.sops {
		w.Line(chobolo.Pos{}, `inputs.sops-nix.url = "github:Mic92/sops-nix";`)
		w.Line(chobolo.Pos{}, `inputs.sops-nix.inputs.nixpkgs.follows = "nixpkgs";`)
		modules = append(modules, "inputs.sops-nix.nixosModules.sops")
	}
	if k.disko != nil {
		w.Line(chobolo.Pos{}, `inputs.disko.url = "github:nix-community/disko";`)
		w.Line(chobolo.Pos{}, `inputs.disko.inputs.nixpkgs.follows = "nixpkgs";`)
		modules = append(modules, "inputs.disko.nixosModules.disko", "./disko.nix")
	}
	w.Open(chobolo.Pos{}, "outputs = inputs@{ self, nixpkgs, ... }: {")
	host, err := Attr(k.host)
	if err != nil {
		return chimera.File{}, err
	}
	w.Open(k.sys.HostPos, "nixosConfigurations."+host+" = nixpkgs.lib.nixosSystem {")
	w.Open(chobolo.Pos{}, "modules = [")
	for _, m := range modules {
		w.Line(chobolo.Pos{}, m)
	}
	w.Close("];")
	w.Close("};")
	w.Close("};")
	w.Close("}")
	return w.File("flake.nix"), nil
}

// must unwraps inline for lists built by the generator itself, which are always inline-able.
func must(s string, _ bool) string { return s }
