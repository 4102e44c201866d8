package guix

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// testHash is a SHA-512 crypt string (`openssl passwd -6 -salt chimera chaos`), for the cases compiled with InlineHashes.
const testHash = "$6$chimera$yNOJ.P6fPQ7NJ/BZqHPmWuM0aBvWivB/LQSXfAvmMQjnezyNcmb81y.8Y/awgxWOtF3WeACYSDTQumxaVZKYh1"

// caseOptions are the compiler flags of the cases that need some.
var caseOptions = map[string]chimera.Options{
	"every-key":      {InlineHashes: true, Hashes: map[string]string{"alice": testHash}},
	"guix-every-key": {InlineHashes: true, Hashes: map[string]string{"ada": testHash, "bob": "plaintext"}},
	"guix-desktop":   {InlineHashes: true, Hashes: map[string]string{"dex": testHash}},
}

type testCase struct{ name, input string }

// cases are the shared inputs (../testdata/CASE/input.yml) and the Guix-only ones
// (testdata/inputs/CASE.yml), which cover what the shared ones cannot reach on Guix.
func cases(t testing.TB) []testCase {
	var out []testCase
	shared, _ := filepath.Glob("../testdata/*/input.yml")
	for _, p := range shared {
		out = append(out, testCase{filepath.Base(filepath.Dir(p)), p})
	}
	own, _ := filepath.Glob("testdata/inputs/*.yml")
	for _, p := range own {
		out = append(out, testCase{strings.TrimSuffix(filepath.Base(p), ".yml"), p})
	}
	if len(out) < 5 {
		t.Fatalf("only %d cases", len(out))
	}
	return out
}

func compile(t testing.TB, input string, opts chimera.Options) (*chobolo.Chobolo, *chimera.Result) {
	t.Helper()
	c, err := chobolo.Load(input, chobolo.LoadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", input, err)
	}
	r, err := chimera.Compile(context.Background(), c, "guix", opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func diagnostics(r *chimera.Result) string {
	var b strings.Builder
	for _, d := range r.Diagnostics.List {
		b.WriteString(d.String())
		if d.Backend != "" {
			b.WriteString(" [" + d.Backend + "]")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func fileContent(r *chimera.Result, name string) string {
	for _, f := range r.Files {
		if f.Path == name {
			return string(f.Content)
		}
	}
	return ""
}

// knownSpecs writes the harness's package allowlist: every spec of the guix column, the shells,
// and the per-item guix overrides of the given Ch-obolos (those are the user's word).
func knownSpecs(t testing.TB, dir string, cs ...*chobolo.Chobolo) string {
	t.Helper()
	set := map[string]bool{"postgresql": true}
	for _, n := range pkgmap.Known("guix") {
		specs, _ := pkgmap.Resolve(chobolo.Package{Name: n}, "guix")
		for _, s := range specs {
			name, _, _ := strings.Cut(s, ":")
			set[name] = true
		}
	}
	for _, sh := range shells {
		set[sh.spec] = true
	}
	for _, c := range cs {
		for _, p := range c.Packages {
			for _, s := range p.Overrides["guix"] {
				name, _, _ := strings.Cut(s, ":")
				set[name] = true
			}
		}
	}
	var b strings.Builder
	b.WriteString("(\n")
	for _, s := range slices.Sorted(maps.Keys(set)) {
		b.WriteString(mustQuote(s) + "\n")
	}
	b.WriteString(")\n")
	p := filepath.Join(dir, "known.scm")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runHarness runs testdata/harness.scm over the configs in one guile process and returns each
// config's summary.
func runHarness(t testing.TB, known string, configs []string) []string {
	t.Helper()
	out := string(runGuile(t, append([]string{"testdata/harness.scm", known}, configs...)...))
	var parts []string
	for _, block := range strings.Split(out, "end\n") {
		if block == "" {
			continue
		}
		_, body, ok := strings.Cut(block, "\n")
		if !ok || !strings.HasPrefix(block, "file ") {
			t.Fatalf("harness output is not file blocks: %q", block)
		}
		parts = append(parts, body)
	}
	if len(parts) != len(configs) {
		t.Fatalf("harness summarized %d of %d configs", len(parts), len(configs))
	}
	return parts
}

// gw writes an ASCII string the way Guile's write does.
func gw(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// expectedFacts are harness lines computed from the Ch-obolo itself (through the package map and
// the shared front end, not through this back end), so a wrong value in config.scm fails even
// when the golden file was updated carelessly.
func expectedFacts(t testing.TB, c *chobolo.Chobolo) []string {
	host, _, _ := strings.Cut(c.Hostname, ".")
	tz := c.Region.Timezone
	tz = cmp.Or(tz, "Etc/UTC")
	facts := []string{"host-name " + gw(host), "timezone " + gw(tz)}
	for _, u := range c.Users {
		if u.Name == "root" || u.State == "absent" {
			continue
		}
		group := "users"
		if u.System {
			group = "nogroup"
		}
		facts = append(facts, "user "+gw(u.Name)+" "+gw(group))
	}
	for _, p := range c.Packages {
		specs, _ := pkgmap.Resolve(p, "guix")
		for _, s := range specs {
			facts = append(facts, "package "+gw(s))
		}
	}
	var ds chimera.Diagnostics
	sys := chimera.NewSystem(c, &ds)
	for _, p := range sys.Disk.Partitions {
		switch {
		case p.FSType == "swap":
			facts = append(facts, "swap "+gw(p.Label))
		case p.Mountpoint != "":
			facts = append(facts, "file-system "+gw(p.Mountpoint)+" "+gw(p.Label)+" "+gw(p.FSType))
		}
	}
	if sys.Boot.UEFI {
		facts = append(facts, "bootloader grub-efi-bootloader ("+gw(sys.Boot.ESP)+")")
	} else {
		facts = append(facts, "bootloader grub-bootloader ("+gw(sys.Boot.Device)+")")
	}
	return facts
}

// TestGolden compiles every case, compares diagnostics, config.scm and channels.scm with the
// golden files, runs the guile harness on every config.scm and checks its summary against the
// golden file and against facts computed from the input.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	var configs, names []string
	var chobolos []*chobolo.Chobolo
	for _, tc := range cases(t) {
		c, r := compile(t, tc.input, caseOptions[tc.name])
		golden.Check(t, tc.name+"/diagnostics", diagnostics(r))
		if r.Failed() {
			if len(r.Files) != 0 {
				t.Errorf("%s: failed compilation returned files", tc.name)
			}
			continue
		}
		cfg := fileContent(r, "config.scm")
		golden.Check(t, tc.name+"/config.scm", cfg)
		golden.Check(t, tc.name+"/channels.scm", fileContent(r, "channels.scm"))
		for _, f := range r.Files {
			if n, err := readForms(string(f.Content)); err != nil || n == 0 {
				t.Errorf("%s/%s: %d forms, %v", tc.name, f.Path, n, err)
			}
			if !strings.Contains(string(f.Content), ";; with sha256 "+r.SourceHash+".\n") {
				t.Errorf("%s/%s: header does not name the input hash", tc.name, f.Path)
			}
		}
		p := filepath.Join(dir, tc.name+".scm")
		os.WriteFile(p, []byte(cfg), 0o644)
		configs, names = append(configs, p), append(names, tc.name)
		chobolos = append(chobolos, c)
	}
	if len(configs) < 4 {
		t.Fatalf("only %d cases compiled", len(configs))
	}
	summaries := runHarness(t, knownSpecs(t, dir, chobolos...), configs)
	for i, s := range summaries {
		golden.Check(t, names[i]+"/harness", s)
		for _, fact := range expectedFacts(t, chobolos[i]) {
			if !strings.Contains(s, fact) {
				t.Errorf("%s: harness summary lacks %q:\n%s", names[i], fact, s)
			}
		}
	}
}

// The source map ties generated lines to the Ch-obolo: the host-name line to `hostname`, each
// package line to its packages[] entry.
func TestSourceMap(t *testing.T) {
	c, r := compile(t, "../testdata/server/input.yml", chimera.Options{})
	var cfg chimera.File
	for _, f := range r.Files {
		if f.Path == "config.scm" {
			cfg = f
		}
	}
	lines := strings.Split(string(cfg.Content), "\n")
	at := map[int]chobolo.Pos{}
	for _, m := range cfg.Map {
		at[m.Line] = m.Pos
	}
	for i, l := range lines {
		switch {
		case strings.Contains(l, "(host-name "):
			if at[i+1] != c.Pos("hostname") {
				t.Errorf("host-name line %d maps to %v, want %v", i+1, at[i+1], c.Pos("hostname"))
			}
		case strings.Contains(l, `(specification->package "tmux")`):
			if at[i+1] != c.Pos("packages[4]") {
				t.Errorf("tmux line %d maps to %v, want %v", i+1, at[i+1], c.Pos("packages[4]"))
			}
		}
	}
	if len(cfg.Map) < 20 {
		t.Errorf("only %d mapped lines", len(cfg.Map))
	}
}

// Options decide what happens to passwords: unset with an info by default, an inlined crypt hash
// with a warning under InlineHashes, and never a plaintext password.
func TestPasswords(t *testing.T) {
	src := "hostname: h\nusers: [{name: ada}]\nbootloader: {name: grub, firmware: uefi}\n" +
		"partitioning: {partitions: [{name: ESP, type: vfat, important: boot, mountpoint: /boot/efi}, {name: r, type: ext4, important: root}]}\n"
	c, err := chobolo.LoadBytes("p.yml", []byte(src), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts       chimera.Options
		code, want string
		failed     bool
	}{
		{chimera.Options{}, CodePasswordUnset, "", false},
		{chimera.Options{Hashes: map[string]string{"ada": testHash}}, CodePasswordUnset, "", false},
		{chimera.Options{InlineHashes: true, Hashes: map[string]string{"ada": testHash}}, CodeInlineHash, "(password " + mustQuote(testHash) + ")", false},
		{chimera.Options{InlineHashes: true, Hashes: map[string]string{"ada": "hunter2"}}, CodeBadHash, "", true},
		{chimera.Options{InlineHashes: true, Hashes: map[string]string{"ada": "$6$x$y\nroot::0:0"}}, CodeBadHash, "", true},
	} {
		r, err := chimera.Compile(context.Background(), c, "guix", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(r.Diagnostics.List, func(d chimera.Diagnostic) bool { return d.Code == tc.code }) {
			t.Errorf("%+v: no %s in %v", tc.opts, tc.code, r.Diagnostics.List)
		}
		cfg := fileContent(r, "config.scm")
		if r.Failed() != tc.failed || (tc.want != "" && !strings.Contains(cfg, tc.want)) ||
			(tc.want == "" && strings.Contains(cfg, "(password")) {
			t.Errorf("%+v: failed=%v config:\n%s", tc.opts, r.Failed(), cfg)
		}
	}
}

func TestBootloaders(t *testing.T) {
	base := "hostname: h\npartitioning: {disk: /dev/sda, partitions: [{name: ESP, type: vfat, important: boot, mountpoint: /boot/efi}, {name: r, type: ext4, important: root}]}\n"
	for _, tc := range []struct{ boot, want string }{
		{"bootloader: {name: grub, firmware: uefi}", `(bootloader grub-efi-bootloader)` + "\n" + `      (targets (list "/boot/efi"))`},
		{"bootloader: {name: grub, firmware: bios, timeout: 5}", `(bootloader grub-bootloader)` + "\n" + `      (targets (list "/dev/sda"))` + "\n" + `      (timeout 5)`},
		// What Guix cannot express is substituted with a warning naming the substitution.
		{"bootloader: systemd-boot", `(bootloader grub-efi-bootloader)` + "\n" + `      (targets (list "/boot/efi"))`},
		{"bootloader: systemd-boot", "warning[CHI454]: Guix System has no systemd-boot boot loader: substituted grub-efi-bootloader"},
		{"bootloader: refind", "warning[CHI454]: Guix System has no refind boot loader: substituted grub-efi-bootloader"},
	} {
		c, err := chobolo.LoadBytes("b.yml", []byte(base+tc.boot+"\n"), chobolo.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := chimera.Compile(context.Background(), c, "guix", chimera.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := fileContent(r, "config.scm") + diagnostics(r); !strings.Contains(got, tc.want) || r.Failed() {
			t.Errorf("%s: want %q in a successful compile, got\n%s", tc.boot, tc.want, got)
		}
	}
	// --strict turns the substitution into an error, and nothing is written.
	c, err := chobolo.LoadBytes("b.yml", []byte(base+"bootloader: systemd-boot\n"), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := chimera.Compile(context.Background(), c, "guix", chimera.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Failed() || len(r.Files) != 0 || !strings.Contains(diagnostics(r), "error[CHI454]") {
		t.Errorf("--strict: want a failure with error[CHI454], got\n%s", diagnostics(r))
	}
}

// randomChobolo builds a Ch-obolo whose strings come from the fuzzer or from randomString, in
// every field that reaches config.scm. Values go into YAML as JSON strings (valid YAML), so any
// text survives to the loader, which then accepts or refuses it.
func randomChobolo(s []string) string {
	for len(s) < 12 {
		s = append(s, "x")
	}
	j := yamlQuote
	return fmt.Sprintf(`hostname: %s
users:
  - {name: %s, shell: %s, sudo: true, groups: [%s], home: %s}
  - {name: ops, groups: [wheel]}
packages: [git, {name: %s, guix: [hello]}, dig]
services: [sshd, %s, {name: cups, running: false}, sddm]
region: {timezone: %s, locale: [%s, en_US.UTF-8], keymap: %s, ntp: false}
files:
  - {path: %s, content: %s}
  - {path: /etc/hosts, content: %s}
bootloader: {name: grub, firmware: uefi, kernel_params: %s}
partitioning:
  partitions:
    - {name: ESP, type: vfat, important: boot, mountpoint: /boot/efi}
    - {name: %s, type: ext4, important: root}
    - {name: data, type: xfs, mountpoint: %s}
`, j(s[0]), j(s[1]), j(s[2]), j(s[3]), j(s[4]), j(s[5]), j(s[6]), j(s[7]), j(s[8]), j(s[9]),
		j("/etc/"+s[10]), j(s[11]), j(s[11]), j(s[11]), j(s[0]), j("/srv/"+s[10]))
}

// yamlQuote writes v as a YAML double-quoted scalar, escaping everything YAML does not allow raw
// in a stream (C0 and C1 controls, DEL, surrogates, U+FEFF), so any string reaches the loader.
func yamlQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError || r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfeff || r > 0xfffd && r < 0x10000:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// checkCompile is the back end's fuzz property: no panic, and whatever compiles reads back as
// balanced, pure-ASCII s-expressions with the expected top-level forms.
func checkCompile(t *testing.T, src string) *chimera.Result {
	c, err := chobolo.LoadBytes("fuzz.yml", []byte(src), chobolo.LoadOptions{})
	if err != nil {
		return nil
	}
	r, err := chimera.Compile(context.Background(), c, "guix", chimera.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		n, err := readForms(string(f.Content))
		if err != nil || n < 1 {
			t.Fatalf("%s does not read back (%d forms, %v):\n%s\ninput:\n%s", f.Path, n, err, f.Content, src)
		}
	}
	return r
}

func FuzzCompile(f *testing.F) {
	f.Add("h", "alice", "zsh", "docker", "/home/alice", "neovim", "nginx", "Europe/Berlin", "pt_BR.UTF-8", "br-abnt2", "motd", "hi\n")
	f.Add("a.b", "x", "/bin/fish", "g", "/h", "p", "weird@x", "UTC", "C", "xx", "a/b c", "\x00\"\\)\r😀")
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h, i, j, k, l, m string) {
		checkCompile(t, randomChobolo([]string{a, b, c, d, e, g, h, i, j, k, l, m}))
	})
}

// Random Ch-obolos compiled and read by the real guile through the harness, in one process.
func TestRandomChobolosGuile(t *testing.T) {
	guile(t)
	r := rand.New(rand.NewPCG(5, 6))
	valid := []string{"dionysus", "alice", "zsh", "docker", "/home/alice", "neovim", "nginx", "Europe/Berlin",
		"pt_BR.UTF-8", "br-abnt2", "motd", "text"}
	dir := t.TempDir()
	var configs []string
	var chobolos []*chobolo.Chobolo
	for n := 0; len(configs) < 150 && n < 2000; n++ {
		s := slices.Clone(valid)
		s[11] = randomString(r) // file contents and kernel parameters: always hostile
		if r.IntN(2) == 0 {
			s[10] = randomString(r) // an /etc path
		}
		if r.IntN(4) == 0 { // any other field: mostly refused by the loader, which is fine
			s[r.IntN(10)] = randomString(r)
		}
		src := randomChobolo(s)
		res := checkCompile(t, src)
		if res == nil || res.Failed() {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("%d.scm", len(configs)))
		os.WriteFile(p, []byte(fileContent(res, "config.scm")), 0o644)
		c, _ := chobolo.LoadBytes("fuzz.yml", []byte(src), chobolo.LoadOptions{})
		configs, chobolos = append(configs, p), append(chobolos, c)
	}
	if len(configs) < 100 {
		t.Fatalf("only %d random Ch-obolos compiled", len(configs))
	}
	summaries := runHarness(t, knownSpecs(t, dir, chobolos...), configs)
	for i, s := range summaries {
		for _, fact := range expectedFacts(t, chobolos[i]) {
			if !strings.Contains(s, fact) && isASCIIPrintable(fact) {
				t.Errorf("config %d lacks %q:\n%s", i, fact, s)
			}
		}
	}
	t.Logf("%d random Ch-obolos compiled and checked by guile", len(configs))
}

func isASCIIPrintable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e })
}

// BenchmarkCompile250 compiles a Ch-obolo with 250 packages, the speed target (< 50 ms).
func BenchmarkCompile250(b *testing.B) {
	var src strings.Builder
	src.WriteString("hostname: bench\nusers: [{name: dex, shell: zsh, sudo: true, groups: [video, docker]}]\n")
	src.WriteString("services: [sshd, docker, NetworkManager, cups]\nregion: {timezone: UTC, locale: [en_US.UTF-8], keymap: us, ntp: true}\n")
	src.WriteString("bootloader: {name: grub, firmware: uefi}\npartitioning: {partitions: [{name: ESP, type: vfat, important: boot, mountpoint: /boot/efi}, {name: r, type: ext4, important: root}]}\npackages:\n")
	known := pkgmap.Known("guix")
	if len(known) < 250 {
		b.Fatalf("only %d guix names", len(known))
	}
	for _, n := range known[:250] {
		fmt.Fprintf(&src, "  - %q\n", n)
	}
	c, err := chobolo.LoadBytes("bench.yml", []byte(src.String()), chobolo.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r, err := chimera.Compile(context.Background(), c, "guix", chimera.Options{})
		if err != nil || r.Failed() {
			b.Fatalf("%v %v", err, r.Diagnostics.List)
		}
	}
}
