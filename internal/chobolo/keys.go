package chobolo

// The key table is the one description of the Ch-obolo's shape. The loader checks documents against
// it (unknown keys, types, shorthands), and Schema and Boilerplate are generated from it, so the
// three cannot drift apart. Value rules that need code (names, paths, cross-field rules) live in
// validate.go and run on the typed struct.

// kind is the YAML shape a key accepts.
type kind uint8

const (
	kindString kind = iota // a single-line scalar (numbers are read as their text)
	kindText               // a scalar that may span lines (file content, keys)
	kindBool
	kindInt
	kindMode // file mode: octal digits, written as a string or an int; normalized to "0644"
	kindList // a sequence of item
	kindMap  // a mapping of fields
	kindAny  // anything; kept as a YAML node for its owner
)

// key describes one key of a mapping, or the items of a list.
type key struct {
	name string
	kind kind
	doc  string // one line: schema description and boilerplate comment

	// example is the boilerplate value for scalar keys (YAML text).
	example string
	// hideExample keeps the key commented out in the uncommented boilerplate, because it is
	// exclusive with a sibling shown there (content/template, key/key_file).
	hideExample bool

	fields   []*key   // kindMap
	item     *key     // kindList
	required bool     // the key must be present in its mapping
	enum     []string // allowed values of a scalar

	// oneItem accepts a single scalar where a list is expected, as a one-item list.
	oneItem bool
	// shorthand accepts a scalar where this mapping is expected, as {shorthand: scalar}.
	shorthand string
	// mergeKey identifies items of a list across imports: an item from the importing file replaces
	// the imported item with the same value of this field instead of being appended.
	mergeKey string
	// open mappings keep unknown keys (for example repos.dnf) for later cores instead of refusing them.
	open bool
	// owner of an Extra top-level section (documentation only).
	owner string
	// legacy is the old Ch-aOS spelling of this key, accepted with a warning.
	legacy string
}

// Enumerations shared by the table (schema, boilerplate) and validate.go.
var (
	coreNames      = []string{"debian", "arch", "fedora"}
	userStates     = []string{"present", "absent"}
	fileStates     = []string{"present", "absent", "directory", "link"}
	importStrategy = []string{"combine", "override"}
	aptTypes       = []string{"deb", "deb-src"}
	// PackageTargets are the cores and compiler targets a package entry may override.
	PackageTargets = []string{"debian", "arch", "fedora", "nix", "guix"}
)

func str(name, doc, example string) *key {
	return &key{name: name, kind: kindString, doc: doc, example: example}
}

func boolean(name, doc, example string) *key {
	return &key{name: name, kind: kindBool, doc: doc, example: example}
}

func strList(name, doc, example string) *key {
	return &key{name: name, kind: kindList, doc: doc, example: example, item: &key{kind: kindString}}
}

func required(k *key) *key { k.required = true; return k }

// oneOrList lets a list key be written as a single item too.
func oneOrList(k *key) *key { k.oneItem = true; return k }

// hidden keeps a key's example out of the uncommented boilerplate (shown commented), e.g. a
// reference to something the boilerplate does not declare.
func hidden(k *key) *key { k.hideExample = true; return k }

func enum(k *key, values []string) *key { k.enum = values; return k }

func packageList(name, doc string) *key {
	fields := []*key{required(str("name", "distro-agnostic name, resolved through the package map", "openssh"))}
	for _, t := range PackageTargets {
		o := strList(t, "package name(s) to use on "+t+" instead of the map's entry ([] for none)", "")
		o.oneItem = true
		fields = append(fields, o)
	}
	for i, ex := range []string{"[openssh-server, openssh-client]", "openssh", "[openssh-server, openssh-clients]",
		"openssh", "openssh"} {
		fields[1+i].example = ex
	}
	return &key{name: name, kind: kindList, doc: doc, mergeKey: "name",
		item: &key{kind: kindMap, shorthand: "name", fields: fields, example: "git",
			doc: "a package name, or a map with per-core overrides"}}
}

// topKeys are the top-level keys chaos itself decodes.
var topKeys = []*key{
	enum(str("core", "force a core instead of detecting it from /etc/os-release", "debian"), coreNames),
	str("hostname", "the machine's hostname (RFC 1123; a dotted FQDN is accepted)", "forge-01"),
	{name: "imports", kind: kindList, doc: "other Ch-obolos to merge, relative to this file, or Styx bundles",
		item: &key{kind: kindMap, shorthand: "file", doc: "a path, or a map with a merge strategy", example: "common.yml",
			fields: []*key{
				str("file", "path of the Ch-obolo to import", "base.yml"),
				hidden(str("styx", "a Ch-obolo bundle installed by chaos styx invoke: NAME@VERSION (instead of file)", "alice/base@1.0.0")),
				enum(str("strategy", "combine: deep merge (default); override: this file's top-level keys replace the import's", "combine"), importStrategy),
			}}},
	{name: "users", kind: kindList, doc: "accounts; undeclared users with uid >= 1000 are removed", mergeKey: "name",
		item: &key{kind: kindMap, fields: []*key{
			required(str("name", "login name (POSIX portable)", "alice")),
			str("shell", "login shell: a name (installed as a package) or an absolute path", "bash"),
			str("home", "home directory (default /home/NAME)", "/home/alice"),
			strList("groups", "supplementary groups, created when missing", "[adm, docker]"),
			boolean("sudo", "grant sudo through /etc/sudoers.d", "true"),
			{name: "uid", kind: kindInt, doc: "numeric user id", example: "1000"},
			boolean("system", "create a system account", "false"),
			enum(str("state", "present (default) or absent", "present"), userStates),
			enum(str("password", "locked: no usable password (otherwise it comes from the secrets, user_secrets.NAME.password)", "locked"), []string{"locked"}),
			boolean("purge_home", "remove the home directory when the user is removed", "false"),
		}}},
	packageList("packages", "packages to install; undeclared manually installed packages are removed"),
	packageList("baseOverride", "replaces the core's built-in base package set"),
	{name: "repos", kind: kindMap, open: true, doc: "package repositories; each core reads its own part", fields: []*key{
		{name: "apt", kind: kindList, doc: "Debian/Ubuntu repositories, written as deb822 .sources files", mergeKey: "name",
			item: &key{kind: kindMap, fields: []*key{
				required(str("name", "file name: /etc/apt/sources.list.d/chaos-NAME.sources", "docker")),
				enum(strList("types", "deb and/or deb-src (default [deb])", "[deb]"), aptTypes),
				required(strList("uris", "repository URIs", "[https://download.docker.com/linux/debian]")),
				required(strList("suites", "suites (a suite ending in / is a flat repository)", "[bookworm]")),
				strList("components", "components (omit for a flat repository)", "[stable]"),
				strList("architectures", "restrict to these architectures", "[amd64]"),
				{name: "key", kind: kindText, doc: "ASCII-armored OpenPGP public key, inline", hideExample: true,
					example: "|\n  -----BEGIN PGP PUBLIC KEY BLOCK-----\n  ...\n  -----END PGP PUBLIC KEY BLOCK-----"},
				str("key_file", "path to the repository key, relative to this file", "keys/docker.asc"),
				boolean("trusted", "trust the repository without a signature (local repositories)", "false"),
				boolean("enabled", "write the repository disabled when false", "true"),
			}}},
		{name: "managed", kind: kindMap, doc: "Arch: official repositories to enable", fields: []*key{
			boolean("core", "[core]", "true"),
			boolean("extra", "[extra]", "true"),
			boolean("multilib", "[multilib]", "false"),
			boolean("testing", "the -testing repository above each enabled one", "false"),
			boolean("extras", "original spelling: [extra] and [multilib]", "true"),
			boolean("unstable", "original spelling of testing", "false"),
		}},
		{name: "third_party", kind: kindList, doc: "Arch: third-party pacman repositories", mergeKey: "name",
			item: &key{kind: kindMap, fields: []*key{
				required(str("name", "repository name ([name] in pacman.conf)", "chaotic-aur")),
				str("url", "Server = URL", "https://example.org/$repo/$arch"),
				str("include", "Include = PATH", "/etc/pacman.d/chaotic-mirrorlist"),
				str("siglevel", "SigLevel", "Optional TrustAll"),
				str("key", "signing key fingerprint (40 hex digits)", "EF925EA60F33D0CB85C44AD13056513887B78AEB"),
				str("priority", "position among the repositories", "1"),
			}}},
		{name: "i_know_exactly_what_im_doing", kind: kindText, doc: "Arch: replaces the [options] block of pacman.conf verbatim",
			example: "|\n  [options]\n  Architecture = auto"},
	}},
	{name: "services", kind: kindList, doc: "systemd units to enable; undeclared enabled units are disabled", mergeKey: "name",
		item: &key{kind: kindMap, shorthand: "name", doc: "a unit name, or a map", example: "ssh", fields: []*key{
			required(str("name", "unit name (.service is appended when no unit suffix is given)", "nginx")),
			boolean("on_boot", "enable at boot (default true)", "true"),
			boolean("running", "keep it running (default true)", "true"),
			boolean("dense_service", "treat name as a prefix matching every unit file that starts with it", "false"),
			hidden(oneOrList(strList("restart_on", "restart it when the apply changes one of these: a path under files, a package, a service", "[/etc/nginx/nginx.conf]"))),
			hidden(oneOrList(strList("reload_on", "reload it (restart when it cannot reload) when the apply changes one of these", "[/etc/nginx/conf.d/site.conf]"))),
			{name: "check", kind: kindList, item: &key{kind: kindString}, hideExample: true,
				doc: "command (argv) run before each restart or reload; when it fails the apply is undone", example: "[nginx, -t]"},
			boolean("restart_on_upgrade", "restart it when the apply installs or upgrades the package of the same name (default true)", "true"),
		}}},
	{name: "region", kind: kindMap, doc: "time zone, locales and keyboard", fields: []*key{
		str("timezone", "zoneinfo name", "America/Sao_Paulo"),
		{name: "locale", kind: kindList, oneItem: true, item: &key{kind: kindString},
			doc: "locales to generate; the first one becomes LANG", example: "[en_US.UTF-8, pt_BR.UTF-8]"},
		str("keymap", "console keymap", "br-abnt2"),
		boolean("ntp", "synchronize the clock with NTP", "true"),
	}},
	{name: "files", kind: kindList, doc: "managed files; files chaos created that leave this list are removed", mergeKey: "path",
		item: &key{kind: kindMap, fields: []*key{
			required(str("path", "absolute path on the target", "/etc/motd")),
			enum(str("state", "present (default), absent, directory or link", "present"), fileStates),
			{name: "content", kind: kindText, doc: "literal file content (exclusive with template, which renders {{ }})",
				example: "\"Managed by chaos.\\n\""},
			{name: "template", kind: kindString, doc: "Go text/template file over the Ch-obolo, relative to this file",
				example: "templates/motd.tmpl", hideExample: true},
			{name: "target", kind: kindString, doc: "link target (state: link)", example: "/etc/motd.d/chaos", hideExample: true},
			{name: "mode", kind: kindMode, doc: "octal mode", example: "\"0644\""},
			str("owner", "owner user", "root"),
			str("group", "owner group", "root"),
			{name: "validate", kind: kindList, item: &key{kind: kindString}, hideExample: true,
				doc:     "command (argv) that checks the new content before it lands; one element holds %s, the temp file",
				example: "[nginx, -t, -c, \"%s\"]"},
			hidden(oneOrList(strList("notify", "services (declared under services) restarted when the apply changes this file", "[nginx]"))),
			hidden(oneOrList(strList("secrets", "secret paths the template may read with {{ secret \"PATH\" }} (needs chaos apply -s; the file is then 0600 unless mode says otherwise)", "[db.password]"))),
			hidden(enum(str("escape", "how each secret value is escaped as the template inserts it: none (default), shell, json, yaml, ini or html", "json"), EscapeFormats)),
		}}},
}

// extraKeys are top-level sections owned by other parts of chaos. They load into Chobolo.Extra
// untouched (apart from legacy spellings), so one Ch-obolo can serve every core.
var extraKeys = []*key{
	{name: "aurPackages", kind: kindAny, owner: "Arch core", legacy: "aurPkgs", doc: "Arch: AUR packages"},
	{name: "aurHelpers", kind: kindAny, owner: "Arch core", doc: "Arch: AUR helpers (yay, paru)"},
	{name: "bootloader", kind: kindAny, owner: "installer", doc: "grub or refind"},
	{name: "partitioning", kind: kindAny, owner: "installer", legacy: "particoes", doc: "disk and partitions for chaos install"},
	{name: "mirrors", kind: kindAny, owner: "Arch core", doc: "Arch: reflector mirror selection"},
	{name: "prune_orphans", kind: kindAny, owner: "Arch core", doc: "Arch: remove dependencies nothing needs (true/false)"},
	{name: "fleet", kind: kindAny, owner: "fleet", doc: "hosts, boats and parallelism"},
	{name: "restrictions", kind: kindAny, owner: "fleet", doc: "per-host role allow and deny lists"},
	{name: "secrets", kind: kindAny, owner: "secrets", doc: "sops files and secret templates"},
	{name: "dotfiles", kind: kindAny, owner: "dotfiles", doc: "dotfile repositories to link"},
	{name: "pelago", kind: kindAny, owner: "pelago", doc: "provisioned isles"},
	{name: "limani", kind: kindAny, owner: "logbook", doc: "logbook database"},
}

// legacyTop maps an old top-level spelling to the current one. `packages` has no entry in
// extraKeys, so its legacy spelling is declared here too.
var legacyTop = map[string]string{"pacotes": "packages"}

func init() {
	for _, k := range extraKeys {
		if k.legacy != "" {
			legacyTop[k.legacy] = k.name
		}
	}
}

// topKey returns the table entry of a top-level key chaos decodes, or nil.
func topKey(name string) *key { return field(topKeys, name) }

func field(fields []*key, name string) *key {
	for _, f := range fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

func fieldNames(fields []*key) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}
