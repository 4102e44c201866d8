// Package guix is Ch-imera's Guix System back end: it compiles a Ch-obolo into config.scm (one
// operating-system declaration) and channels.scm (the Guix revision it was written for), for
// `guix time-machine -C channels.scm -- system reconfigure config.scm`.
//
// Every value taken from the Ch-obolo reaches the Scheme text through Quote (strings) only: service
// types, modules and record fields come from this package's tables, and packages are
// `specification->package` strings, so user text never becomes an identifier.
package guix

import (
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// The Guix revision channels.scm pins, recorded here and nowhere else. The service types,
// %base-groups, %desktop-services and package names this package emits were checked against the
// Guix sources; when this commit moves, re-check tables.go and data/guix.yaml against the new one
// (docs/chimera.md, "Guix System", tells how).
const (
	GuixCommit          = "e507899e66b5b274e583671b1bc00d7e6cf8f8c0"
	guixChannelURL      = "https://git.guix.gnu.org/guix.git"
	guixIntroCommit     = "9edb3f66fd807b096b48283debdcddccfea34bad"
	guixIntroSigningKey = "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA"
)

// Guix-specific diagnostic codes (450-499). docs/chimera.md lists them.
const (
	CodeHostShortened  = "CHI450" // a dotted hostname: host-name takes the first label
	CodeInlineHash     = "CHI451" // a password hash inlined into the world-readable store
	CodePasswordUnset  = "CHI452" // no password in the configuration: set it with passwd
	CodeMissingPart    = "CHI453" // operating-system needs it (hostname, root file system, boot loader)
	CodeBootloader     = "CHI454" // a boot loader Guix does not have (systemd-boot, rEFInd): GRUB is substituted
	CodeESP            = "CHI455" // the ESP is not at Guix's conventional /boot/efi
	CodeKeymap         = "CHI456" // a console keymap with no XKB equivalent in the table
	CodeNoServiceType  = "CHI457" // no Guix service type for a systemd unit
	CodeServiceInBase  = "CHI458" // the base service list already provides the service
	CodeServiceDiffers = "CHI459" // the service type exists but behaves differently
	CodeWheelSudo      = "CHI460" // wheel membership grants sudo on Guix (not on Arch)
	CodeRootAccount    = "CHI461" // root is part of %base-user-accounts
	CodeLocaleCodeset  = "CHI462" // a locale without codeset compiled as UTF-8
	CodeEtcOwned       = "CHI463" // an /etc file Guix System generates itself
	CodeBadHash        = "CHI464" // a password hash that is not a crypt(3) string
	CodeShellPath      = "CHI465" // a shell given as a path, compiled to its package
	CodeDefaultTZ      = "CHI466" // no timezone declared: Etc/UTC
	CodeNoESP          = "CHI467" // UEFI without a declared boot partition
)

// Backend is the Guix System back end, registered as "guix".
type Backend struct{}

func init() { chimera.Register(Backend{}) }

// Name implements chimera.Backend.
func (Backend) Name() string { return "guix" }

// Compile implements chimera.Backend: config.scm and channels.scm.
func (Backend) Compile(ctx context.Context, in chimera.Input, ds *chimera.Diagnostics) ([]chimera.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if in.System == nil {
		return nil, fmt.Errorf("guix: no system to compile")
	}
	c := &compiler{in: in, s: in.System, ds: ds, modules: map[string]bool{}}
	c.plan()
	return []chimera.File{c.config(), c.channels()}, nil
}

type (
	localeDef struct{ name, source, charset string }
	fsPlan    struct {
		mount, label, fstype string
		pos                  chobolo.Pos
	}
	userPlan struct {
		u                    chimera.User
		group, home, shell   string // shell: a (file-append ...) expression or ""
		groups               []string
		password             string
		system, noCreateHome bool
	}
	groupPlan struct {
		name string
		pos  chobolo.Pos
	}
	pkgPlan struct {
		spec string
		pos  chobolo.Pos
	}
	svcPlan struct {
		typ string
		pos chobolo.Pos
	}
	etcPlan struct {
		rel, content string
		pos          chobolo.Pos
	}
)

// compiler holds one compilation: plan() decides everything and reports, config() only prints.
type compiler struct {
	in chimera.Input
	s  *chimera.System
	ds *chimera.Diagnostics

	host                 string
	timezone, locale     string
	localeDefs           []localeDef
	keyboard             *xkb
	loader               string
	targets              []string
	timeout              *int
	kernelArgs           []string
	fs                   []fsPlan
	swaps                []fsPlan
	users                []userPlan
	groups               []groupPlan
	pkgs                 []pkgPlan
	services             []svcPlan
	desktop              bool
	deleteDesktop        []string
	modules              map[string]bool
	etc                  []etcPlan
	hostsFile, issueFile *etcPlan
}

func (c *compiler) add(sev chimera.Severity, code string, pos chobolo.Pos, p, hint, format string, args ...any) {
	c.ds.Add(chimera.Diagnostic{Severity: sev, Code: code, Pos: pos, Path: p, Backend: "guix",
		Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (c *compiler) pos(p string) chobolo.Pos { return c.s.Source.Pos(p) }

func (c *compiler) plan() {
	c.planHost()
	c.planRegion()
	c.planDisk()
	c.planBoot()
	c.planPackages() // before the users, whose shells add packages after the declared ones
	c.planUsers()
	c.planServices()
	c.planFiles()
}

func (c *compiler) planHost() {
	h := c.s.Hostname
	switch {
	case h == "":
		c.add(chimera.Error, CodeMissingPart, c.s.HostPos, "hostname", "add `hostname: NAME`",
			"Guix System needs a hostname (operating-system host-name has no default)")
	case strings.Contains(h, "."):
		c.host, _, _ = strings.Cut(h, ".")
		c.add(chimera.Warning, CodeHostShortened, c.s.HostPos, "hostname", "declare /etc/hosts under files: to give the full name",
			"hostname %q is a dotted name: host-name is its first label %q", h, c.host)
	default:
		c.host = h
	}
}

func (c *compiler) planRegion() {
	c.timezone = "Etc/UTC"
	r := c.s.Region
	if r == nil || r.Timezone == "" {
		pos := c.s.HostPos
		if r != nil {
			pos = r.Pos
		}
		c.add(chimera.Info, CodeDefaultTZ, pos, "region.timezone", "", "no timezone declared: the system clock is on Etc/UTC")
	} else {
		c.timezone = r.Timezone
	}
	if r == nil {
		return
	}
	for i, l := range r.Locales {
		p := "region.locale[" + strconv.Itoa(i) + "]"
		d, assumed := localeDefinition(l)
		if assumed {
			c.add(chimera.Info, CodeLocaleCodeset, c.pos(p), p, "", "locale %q has no codeset: compiled as %s (UTF-8)", l, d.name)
		}
		if i == 0 {
			c.locale = d.name
		}
		if d.source != "" && !slices.Contains(c.localeDefs, d) {
			c.localeDefs = append(c.localeDefs, d)
		}
	}
	if r.Keymap != "" {
		if k, ok := keymaps[r.Keymap]; ok {
			c.keyboard = &k
		} else {
			c.add(chimera.Warning, CodeKeymap, c.pos("region.keymap"), "region.keymap",
				"Guix takes an XKB layout; docs/chimera.md lists the console keymaps Ch-imera translates",
				"console keymap %q has no known XKB layout: the keyboard stays US", r.Keymap)
		}
	}
}

// localeDefinition turns a locale (pt_BR.UTF-8, de_DE.ISO-8859-1@euro, pt_BR) into Guix's
// normalised name (pt_BR.utf8) with its source and charset. C and POSIX need no definition (source
// is empty). assumed reports a missing codeset, compiled as UTF-8.
func localeDefinition(l string) (d localeDef, assumed bool) {
	rest, mod, hasMod := strings.Cut(l, "@")
	base, codeset, hasCodeset := strings.Cut(rest, ".")
	if !hasCodeset {
		codeset, assumed = "UTF-8", true
	}
	norm := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, codeset)
	suffix := ""
	if hasMod {
		suffix = "@" + mod
	}
	d.name = base + "." + norm + suffix
	if base == "C" || base == "POSIX" {
		return d, false
	}
	d.source = base + suffix
	if norm != "utf8" {
		d.charset = strings.ToUpper(codeset)
	}
	return d, assumed
}

func (c *compiler) planDisk() {
	d := c.s.Disk
	if d == nil {
		c.add(chimera.Error, CodeMissingPart, c.s.HostPos, "partitioning", "declare partitioning with an `important: root` partition",
			"Guix System needs its file systems: partitioning is not declared")
		return
	}
	root := false
	for _, p := range d.Partitions {
		if p.FSType == "swap" {
			c.swaps = append(c.swaps, fsPlan{label: p.Label, pos: p.Pos})
			continue
		}
		if p.Mountpoint == "" {
			continue
		}
		root = root || p.Mountpoint == "/"
		c.fs = append(c.fs, fsPlan{mount: p.Mountpoint, label: p.Label, fstype: p.FSType, pos: p.Pos})
	}
	if !root {
		c.add(chimera.Error, CodeMissingPart, d.Pos, "partitioning.partitions", "add a partition with `important: root`",
			"Guix System needs a root file system: no partition is mounted on /")
	}
}

func (c *compiler) planBoot() {
	b := c.s.Boot
	if b == nil {
		pos := c.s.HostPos
		if c.s.Disk != nil {
			pos = c.s.Disk.Pos
		}
		c.add(chimera.Error, CodeMissingPart, pos, "bootloader", "add `bootloader: grub`",
			"Guix System needs a boot loader: bootloader is not declared")
		return
	}
	switch b.Loader {
	case "grub":
	case "systemd-boot", "refind":
		// What a target cannot express is a warning (an error under --strict): the machine still
		// boots with Guix's GRUB, and the message names the substitution.
		subst := "grub-bootloader"
		if b.UEFI {
			subst = "grub-efi-bootloader"
		}
		c.add(chimera.Warning, CodeBootloader, b.Pos, "bootloader",
			"declare `bootloader: grub` to silence this; --strict makes it an error",
			"Guix System has no %s boot loader: substituted %s", b.Loader, subst)
	default:
		return // reported by the shared front end
	}
	c.timeout = b.Timeout
	c.kernelArgs = b.Params
	if b.UEFI {
		c.loader, c.targets = "grub-efi-bootloader", []string{b.ESP}
		if !slices.ContainsFunc(c.fs, func(f fsPlan) bool { return f.mount == b.ESP && f.fstype == "vfat" }) {
			c.add(chimera.Warning, CodeNoESP, b.Pos, "bootloader", "declare the ESP: a vfat partition with `important: boot`",
				"UEFI boot, but no vfat file system is mounted on %s: grub-efi-bootloader installs to the EFI system partition mounted there", b.ESP)
		} else if b.ESP != "/boot/efi" {
			c.add(chimera.Info, CodeESP, b.Pos, "bootloader", "",
				"the EFI system partition is mounted on %s; Guix's convention is /boot/efi (both work)", b.ESP)
		}
		return
	}
	if b.Device == "" {
		return // reported by the shared front end
	}
	c.loader, c.targets = "grub-bootloader", []string{b.Device}
}

// cryptHash is a crypt(3) string in modular format ($id$[params$]salt$hash), which is what Guix's
// password field takes. It cannot hold ':' or a newline (it goes to /etc/shadow).
var cryptHash = regexp.MustCompile(`^\$[0-9a-z]+(\$[A-Za-z0-9./=,+-]*)+$`)

func (c *compiler) planUsers() {
	declared := map[string]bool{}
	for _, u := range c.s.Users {
		if u.Name == "root" {
			c.add(chimera.Info, CodeRootAccount, u.Pos, u.Path(""), "", "root is part of Guix's %%base-user-accounts and is left out")
			continue
		}
		up := userPlan{u: u, group: "users", home: u.Home}
		if u.System {
			up.system, up.group = true, "nogroup"
			if up.home == "" {
				up.home, up.noCreateHome = "/var/empty", true
			}
		} else if up.home == "" {
			up.home = "/home/" + u.Name
		}
		up.groups = slices.Clone(u.Groups)
		if u.Sudo && !slices.Contains(up.groups, "wheel") {
			up.groups = append(up.groups, "wheel")
		}
		if !u.Sudo && slices.Contains(u.Groups, "wheel") {
			c.add(chimera.Warning, CodeWheelSudo, c.pos(u.Path("groups")), u.Path("groups"), "set `sudo: true` to say so, or drop wheel",
				"%s is in wheel without sudo: true; Guix's sudoers lets wheel run anything as root", u.Name)
		}
		c.planShell(&up)
		c.planPassword(&up)
		for _, g := range up.groups {
			if !baseGroups[g] && !declared[g] {
				declared[g] = true
				c.groups = append(c.groups, groupPlan{name: g, pos: c.pos(u.Path("groups"))})
			}
		}
		c.users = append(c.users, up)
	}
}

func (c *compiler) planShell(up *userPlan) {
	u := up.u
	name := u.Shell
	if name == "" {
		return
	}
	if strings.HasPrefix(name, "/") {
		base := path.Base(name)
		if _, ok := shells[base]; ok {
			c.add(chimera.Info, CodeShellPath, c.pos(u.Path("shell")), u.Path("shell"), "",
				"shell %s is compiled to Guix's %s package (Guix has no %s)", name, shells[base].spec, name)
		}
		name = base
	}
	sh, ok := shells[name]
	if !ok {
		c.ds.Add(chimera.Diagnostic{Severity: chimera.Error, Code: chimera.CodeShellUnknown, Pos: c.pos(u.Path("shell")),
			Path: u.Path("shell"), Backend: "guix", Message: fmt.Sprintf("login shell %q has no Guix package in Ch-imera's shell table", u.Shell),
			Hint: "use one of " + strings.Join(slices.Sorted(maps.Keys(shells)), ", ")})
		return
	}
	if name == "bash" {
		return // Guix's default shell
	}
	up.shell = fmt.Sprintf(`(file-append (specification->package %s) %s)`, mustQuote(sh.spec), mustQuote(sh.bin))
	c.addPackage(sh.spec, c.pos(u.Path("shell")))
}

func (c *compiler) planPassword(up *userPlan) {
	u := up.u
	if u.Password == "locked" {
		return // an account Guix creates without a password is locked already
	}
	hash := c.in.Options.Hashes[u.Name]
	if (!c.in.Options.InlineHashes || hash == "") && u.System {
		return // a system account logs in with no password
	}
	if !c.in.Options.InlineHashes || hash == "" {
		c.add(chimera.Info, CodePasswordUnset, u.Pos, u.Path(""), "",
			"%s gets no password from the configuration: set it once as root with `passwd %s`; Guix keeps it across reconfigurations", u.Name, u.Name)
		return
	}
	if !cryptHash.MatchString(hash) {
		c.add(chimera.Error, CodeBadHash, u.Pos, u.Path(""), "store a crypt(3) hash such as the output of `mkpasswd -m sha-512`",
			"the password of %s is not a crypt(3) hash; plaintext passwords are never compiled", u.Name)
		return
	}
	up.password = hash
	c.add(chimera.Warning, CodeInlineHash, u.Pos, u.Path(""), "leave --inline-hashes off and set passwords with passwd",
		"the password hash of %s is inlined: it becomes world-readable in /gnu/store", u.Name)
}

// addPackage adds a spec once, keeping the first position.
func (c *compiler) addPackage(spec string, pos chobolo.Pos) {
	if !slices.ContainsFunc(c.pkgs, func(p pkgPlan) bool { return p.spec == spec }) {
		c.pkgs = append(c.pkgs, pkgPlan{spec: spec, pos: pos})
	}
}

func (c *compiler) planPackages() {
	for _, p := range c.s.Packages {
		for _, spec := range chimera.ResolvePackages([]chimera.Package{p}, "guix", "guix", pkgmap.ValidGuixSpec, c.ds) {
			c.addPackage(spec, p.Pos)
		}
	}
}

func (c *compiler) addService(typ string, pos chobolo.Pos) {
	if !slices.ContainsFunc(c.services, func(s svcPlan) bool { return s.typ == typ }) {
		c.services = append(c.services, svcPlan{typ: typ, pos: pos})
	}
}

func (c *compiler) planServices() {
	declared := map[string]bool{} // service types the user asked for (not the ones they need)
	serviceGroups := map[string]bool{}
	for _, sv := range c.s.Services {
		name := strings.TrimSuffix(sv.Unit, ".service")
		if !sv.WantOnBoot() {
			c.ds.Add(chimera.Diagnostic{Severity: chimera.Warning, Code: chimera.CodeRuntimeState, Pos: sv.Pos, Path: sv.Path, Backend: "guix",
				Message: fmt.Sprintf("service %s has on_boot: false; Guix starts every declared service at boot, so it is left out", sv.Name),
				Hint:    "set on_boot: true to compile it, or remove it"})
			continue
		}
		if !sv.WantRunning() {
			c.ds.Add(chimera.Diagnostic{Severity: chimera.Warning, Code: chimera.CodeRuntimeState, Pos: sv.Pos, Path: sv.Path, Backend: "guix",
				Message: fmt.Sprintf("service %s has running: false; Guix starts it at boot anyway", sv.Name)})
		}
		if what, ok := baseProvided[name]; ok {
			c.add(chimera.Info, CodeServiceInBase, sv.Pos, sv.Path, "", "%s: %%base-services already runs %s", sv.Unit, what)
			continue
		}
		def, ok := serviceDefs[name]
		if !ok {
			c.add(chimera.Warning, CodeNoServiceType, sv.Pos, sv.Path,
				"Guix runs services with the Shepherd, not systemd units: write a shepherd service (simple-service extending shepherd-root-service-type)",
				"%s has no Guix service type in Ch-imera's table and is not compiled", sv.Unit)
			continue
		}
		if def.warn != "" {
			c.add(chimera.Warning, CodeServiceDiffers, sv.Pos, sv.Path, "", "%s → %s: %s", sv.Unit, def.types[0], def.warn)
		}
		declared[def.types[0]] = true
		for _, t := range def.types {
			c.addService(t, sv.Pos)
		}
		for _, g := range def.groups {
			serviceGroups[g] = true
		}
	}
	if r := c.s.Region; r != nil && r.NTP != nil && *r.NTP {
		c.addService("ntp-service-type", c.pos("region.ntp"))
	}
	for _, s := range c.services {
		c.desktop = c.desktop || displayManagers[s.typ]
	}
	if c.desktop {
		kept := c.services[:0]
		for _, s := range c.services {
			if desktopProvided[s.typ] {
				if declared[s.typ] {
					c.add(chimera.Info, CodeServiceInBase, s.pos, "", "", "%s is already part of %%desktop-services", s.typ)
				}
				continue
			}
			if displayManagers[s.typ] && !slices.Contains(c.deleteDesktop, "gdm-service-type") {
				c.deleteDesktop = append(c.deleteDesktop, "gdm-service-type")
			}
			kept = append(kept, s)
		}
		c.services = kept
		if r := c.s.Region; r != nil && r.NTP != nil && !*r.NTP {
			c.deleteDesktop = append(c.deleteDesktop, "ntp-service-type")
		}
		c.modules["desktop"] = true
	}
	for _, s := range c.services {
		c.modules[serviceTypes[s.typ].module] = true
	}
	for _, t := range c.deleteDesktop { // (delete TYPE) names the variable too
		c.modules[serviceTypes[t].module] = true
	}
	// Groups a service declares itself are not declared again (a duplicate group is a warning in
	// Guix's account service).
	c.groups = slices.DeleteFunc(c.groups, func(g groupPlan) bool { return serviceGroups[g.name] })
}

func (c *compiler) planFiles() {
	for _, f := range c.s.Files {
		rel, underEtc := strings.CutPrefix(f.File.Path, "/etc/")
		imperative := func(why string) {
			c.ds.Add(chimera.Diagnostic{Severity: chimera.Warning, Code: chimera.CodeImperativeFile, Pos: f.Pos, Path: f.Path, Backend: "guix",
				Message: fmt.Sprintf("files: %s %s", f.File.Path, why)})
		}
		switch {
		case !underEtc || rel == "":
			imperative("is outside /etc and is not compiled: Guix declares /etc only, the rest of the tree is state")
			continue
		case f.State != "" && f.State != "present":
			imperative("has state: " + f.State + " and is not compiled: Guix's /etc holds the declared files only")
			continue
		case f.Template != "":
			imperative("is a template and is not compiled: render it into content")
			continue
		}
		top, _, _ := strings.Cut(rel, "/")
		if guixEtc[top] {
			c.add(chimera.Warning, CodeEtcOwned, f.Pos, f.Path, "set it through the operating-system field or service that owns it",
				"/etc/%s is generated by Guix System; a second entry would fail the build, so it is not compiled", top)
			continue
		}
		if (f.Mode != "" && f.Mode != "0644" && f.Mode != "644" && f.Mode != "0444" && f.Mode != "444") ||
			(f.Owner != "" && f.Owner != "root") || (f.Group != "" && f.Group != "root") {
			imperative("asks for a mode or owner: Guix's /etc entries are read-only store files owned by root, so it is compiled without them")
		}
		e := etcPlan{rel: rel, content: f.Content, pos: f.Pos}
		switch rel {
		case "hosts":
			c.hostsFile = &e
		case "issue":
			c.issueFile = &e
		default:
			c.etc = append(c.etc, e)
		}
	}
}
