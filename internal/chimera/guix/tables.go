package guix

import "sync"

// The tables below are the Guix side of the mapping (docs/chimera.md, "Guix System"). Each was
// checked against the Guix sources of the channel commit in GuixCommit; re-check them when the pin
// moves.
//
// Each table is built on first use (sync.OnceValue): package initialisers run at every start of
// chaos (issue 16), and only `chaos chimera compile` reads these.

// serviceType is a Guix service type Ch-imera may emit: its variable, the service module that
// exports it (use-service-modules), and the configuration expression when the type has no usable
// default value. config is fixed text written by Ch-imera, never user data.
type serviceType struct {
	module string
	config string
}

var serviceTypes = sync.OnceValue(func() map[string]serviceType {
	return map[string]serviceType{
		"avahi-service-type":           {module: "avahi"},
		"bluetooth-service-type":       {module: "desktop"},
		"containerd-service-type":      {module: "docker"},
		"cups-service-type":            {module: "cups"},
		"dbus-root-service-type":       {module: "dbus"},
		"dhcp-client-service-type":     {module: "networking"},
		"docker-service-type":          {module: "docker"},
		"elogind-service-type":         {module: "desktop"},
		"fail2ban-service-type":        {module: "security"},
		"gdm-service-type":             {module: "xorg"},
		"libvirt-service-type":         {module: "virtualization"},
		"lightdm-service-type":         {module: "lightdm"},
		"mcron-service-type":           {module: "mcron"},
		"mysql-service-type":           {module: "databases"},
		"network-manager-service-type": {module: "networking"},
		"nftables-service-type":        {module: "networking"},
		"nginx-service-type":           {module: "web"},
		"ntp-service-type":             {module: "networking"},
		"openssh-service-type":         {module: "ssh"},
		"postgresql-service-type": {module: "databases",
			config: `(postgresql-configuration (postgresql (specification->package "postgresql")))`},
		"redis-service-type":          {module: "databases"},
		"sddm-service-type":           {module: "sddm"},
		"thermald-service-type":       {module: "pm"},
		"tlp-service-type":            {module: "pm"},
		"tor-service-type":            {module: "networking"},
		"wpa-supplicant-service-type": {module: "networking"},
	}
})

// serviceDef is what a Ch-obolo service (a systemd unit name without ".service") becomes.
type serviceDef struct {
	types  []string // service types, in order; the first is the service itself, the rest what it needs
	groups []string // groups the service type declares itself (not declared again as user-group)
	warn   string   // the mapping differs in meaning: say how (a warning)
}

var serviceDefs = sync.OnceValue(func() map[string]serviceDef {
	return map[string]serviceDef{
		"avahi-daemon":      {types: []string{"avahi-service-type", "dbus-root-service-type"}},
		"bluetooth":         {types: []string{"bluetooth-service-type", "dbus-root-service-type"}},
		"containerd":        {types: []string{"containerd-service-type"}},
		"cronie":            {types: []string{"mcron-service-type"}, warn: "cron jobs become mcron jobs, which use a different syntax; crontabs are not converted"},
		"crond":             {types: []string{"mcron-service-type"}, warn: "cron jobs become mcron jobs, which use a different syntax; crontabs are not converted"},
		"cron":              {types: []string{"mcron-service-type"}, warn: "cron jobs become mcron jobs, which use a different syntax; crontabs are not converted"},
		"cups":              {types: []string{"cups-service-type"}},
		"dhcpcd":            {types: []string{"dhcp-client-service-type"}},
		"docker":            {types: []string{"docker-service-type", "containerd-service-type", "dbus-root-service-type", "elogind-service-type"}, groups: []string{"docker"}},
		"fail2ban":          {types: []string{"fail2ban-service-type"}},
		"gdm":               {types: []string{"gdm-service-type"}},
		"libvirtd":          {types: []string{"libvirt-service-type"}, groups: []string{"libvirt"}},
		"lightdm":           {types: []string{"lightdm-service-type"}},
		"mariadb":           {types: []string{"mysql-service-type"}},
		"mysqld":            {types: []string{"mysql-service-type"}},
		"NetworkManager":    {types: []string{"network-manager-service-type", "wpa-supplicant-service-type", "dbus-root-service-type"}},
		"networkmanager":    {types: []string{"network-manager-service-type", "wpa-supplicant-service-type", "dbus-root-service-type"}},
		"nftables":          {types: []string{"nftables-service-type"}, warn: "the rule set is Guix's default (%default-nftables-ruleset); /etc/nftables.conf is not read"},
		"nginx":             {types: []string{"nginx-service-type"}},
		"ntpd":              {types: []string{"ntp-service-type"}},
		"openssh":           {types: []string{"openssh-service-type"}},
		"postgresql":        {types: []string{"postgresql-service-type"}},
		"redis":             {types: []string{"redis-service-type"}},
		"sddm":              {types: []string{"sddm-service-type"}},
		"ssh":               {types: []string{"openssh-service-type"}},
		"sshd":              {types: []string{"openssh-service-type"}},
		"systemd-timesyncd": {types: []string{"ntp-service-type"}},
		"thermald":          {types: []string{"thermald-service-type"}},
		"tlp":               {types: []string{"tlp-service-type"}},
		"tor":               {types: []string{"tor-service-type"}},
		"wpa_supplicant":    {types: []string{"wpa-supplicant-service-type", "dbus-root-service-type"}},
	}
})

// baseProvided are units whose job %base-services already does (mingetty on the first six ttys,
// syslogd, eudev): declaring them is an info, not a missing service.
var baseProvided = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"getty@tty1": "mingetty", "getty@tty2": "mingetty", "getty@tty3": "mingetty", "getty@tty4": "mingetty",
		"getty@tty5": "mingetty", "getty@tty6": "mingetty", "systemd-journald": "syslogd", "systemd-udevd": "eudev",
	}
})

// displayManagers switch the base list from %base-services to %desktop-services, which brings
// NetworkManager, elogind, polkit, NTP and the rest of a desktop. GDM is %desktop-services' own
// display manager on x86_64, so another one replaces it.
var displayManagers = sync.OnceValue(func() map[string]bool {
	return map[string]bool{"gdm-service-type": true, "sddm-service-type": true, "lightdm-service-type": true}
})

// desktopProvided are the service types %desktop-services already holds (gnu/services/desktop.scm,
// desktop-services-for-system); declaring one again would be a duplicate service.
var desktopProvided = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"gdm-service-type": true, "network-manager-service-type": true, "wpa-supplicant-service-type": true,
		"avahi-service-type": true, "elogind-service-type": true, "dbus-root-service-type": true,
		"ntp-service-type": true,
	}
})

// baseGroups are %base-groups (gnu/system/shadow.scm): referencing them needs no user-group.
var baseGroups = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"root": true, "wheel": true, "users": true, "nogroup": true, "tty": true, "dialout": true, "kmem": true,
		"input": true, "video": true, "audio": true, "netdev": true, "lp": true, "disk": true, "floppy": true,
		"cdrom": true, "tape": true, "kvm": true, "sgx": true,
	}
})

// shell is a login shell: the Guix package and its program under the package's output.
type shell struct{ spec, bin string }

var shells = sync.OnceValue(func() map[string]shell {
	return map[string]shell{
		"bash":    {"bash", "/bin/bash"},
		"dash":    {"dash", "/bin/dash"},
		"elvish":  {"elvish", "/bin/elvish"},
		"fish":    {"fish", "/bin/fish"},
		"ksh":     {"oksh", "/bin/oksh"},
		"mksh":    {"mksh", "/bin/mksh"},
		"nu":      {"nushell", "/bin/nu"},
		"nushell": {"nushell", "/bin/nu"},
		"oksh":    {"oksh", "/bin/oksh"},
		"tcsh":    {"tcsh", "/bin/tcsh"},
		"xonsh":   {"xonsh", "/bin/xonsh"},
		"zsh":     {"zsh", "/bin/zsh"},
	}
})

// xkb is an XKB layout and variant (empty for the default variant).
type xkb struct{ layout, variant string }

// keymaps maps console keymaps (region.keymap, kbd's names as in /usr/share/kbd/keymaps) to the
// XKB layout Guix's keyboard-layout takes. Only names whose XKB equivalent is unambiguous are
// listed; the rest get CHI456.
var keymaps = sync.OnceValue(func() map[string]xkb {
	return map[string]xkb{
		"us": {"us", ""}, "us-acentos": {"us", "intl"}, "dvorak": {"us", "dvorak"}, "colemak": {"us", "colemak"},
		"uk": {"gb", ""}, "gb": {"gb", ""},
		"br-abnt2": {"br", "abnt2"}, "br-abnt": {"br", ""}, "br-latin1-abnt2": {"br", "abnt2"}, "br-latin1-us": {"br", ""},
		"de": {"de", ""}, "de-latin1": {"de", ""}, "de-latin1-nodeadkeys": {"de", "nodeadkeys"}, "de_CH-latin1": {"ch", ""},
		"sg": {"ch", ""}, "fr_CH": {"ch", "fr"}, "fr_CH-latin1": {"ch", "fr"},
		"fr": {"fr", ""}, "fr-latin1": {"fr", ""}, "fr-latin9": {"fr", "latin9"}, "fr-bepo": {"fr", "bepo"},
		"be-latin1": {"be", ""}, "nl": {"nl", ""},
		"es": {"es", ""}, "la-latin1": {"latam", ""}, "pt-latin1": {"pt", ""}, "pt-latin9": {"pt", ""}, "it": {"it", ""},
		"dk": {"dk", ""}, "dk-latin1": {"dk", ""}, "no": {"no", ""}, "no-latin1": {"no", ""},
		"se-lat6": {"se", ""}, "sv-latin1": {"se", ""}, "fi": {"fi", ""}, "is-latin1": {"is", ""},
		"pl": {"pl", ""}, "pl2": {"pl", ""}, "cz": {"cz", ""}, "cz-qwertz": {"cz", ""}, "sk-qwertz": {"sk", ""},
		"hu": {"hu", ""}, "ro": {"ro", ""}, "slovene": {"si", ""}, "croat": {"hr", ""}, "hr": {"hr", ""},
		"et": {"ee", ""}, "lt": {"lt", ""}, "lv": {"lv", ""},
		"ru": {"ru", ""}, "ua": {"ua", ""}, "by": {"by", ""}, "bg_pho-utf8": {"bg", "phonetic"}, "gr": {"gr", ""},
		"trq": {"tr", ""}, "trf": {"tr", "f"}, "il": {"il", ""}, "jp106": {"jp", ""}, "kazakh": {"kz", ""},
		"ca": {"ca", ""}, "cf": {"ca", "fr-legacy"}, "mk": {"mk", ""}, "sr-cy": {"rs", ""},
	}
})

// guixEtc are /etc files Guix System generates itself: an etc-service-type entry for one of them
// would be a duplicate /etc entry, which fails the build. hosts and issue have operating-system
// fields of their own and are compiled to them.
var guixEtc = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"passwd": true, "shadow": true, "group": true, "gshadow": true, "hostname": true, "shells": true,
		"profile": true, "localtime": true, "timezone": true, "nsswitch.conf": true, "sudoers": true,
		"os-release": true, "login.defs": true, "pam.d": true, "ssl": true, "static": true, "environment": true,
		"fstab": true, "services": true, "protocols": true, "rpc": true, "resolv.conf": true, "udev": true,
		"skel": true, "machine-id": true,
	}
})
