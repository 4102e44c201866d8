package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChimeraCompile(t *testing.T) {
	isolate(t)
	good := writeChobolo(t, `hostname: forge
users:
  - {name: alice, shell: zsh, sudo: true}
packages: [git, neovim]
services: [sshd]
region: {timezone: UTC, locale: [en_US.UTF-8], keymap: us}
bootloader: {name: systemd-boot}
partitioning:
  disk: /dev/vda
  partitions:
    - {name: ESP, important: boot, type: vfat}
    - {name: root, important: root, type: ext4}
`)
	out := filepath.Join(t.TempDir(), "out")

	r := run(t, "", "chimera", "compile", "-c", good, "--to", "nixos", "-o", out, "--state-version", "25.11")
	if r.code != 0 || !strings.Contains(r.stderr, "0 errors, 0 warnings") || !strings.Contains(r.stdout, "wrote "+out) {
		t.Fatalf("compile: %s", r)
	}
	for _, f := range []string{"flake.nix", "configuration.nix", "hardware-configuration.nix", "chimera.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(out, "configuration.nix"))
	if !strings.Contains(string(conf), `system.stateVersion = "25.11";`) || !strings.Contains(string(conf), "pkgs.neovim") {
		t.Errorf("configuration.nix:\n%s", conf)
	}

	// --json prints the manifest; a second run replaces the previous output.
	r = run(t, "", "chimera", "compile", "-c", good, "--to", "nixos", "-o", out, "--json")
	var m struct {
		Target    string                      `json:"target"`
		SourceMap map[string][]map[string]any `json:"source_map"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &m) != nil || m.Target != "nixos" || len(m.SourceMap["configuration.nix"]) == 0 {
		t.Fatalf("--json: %s", r)
	}
	if !strings.Contains(r.stderr, "info[CHI405]") {
		t.Errorf("no state version note: %s", r)
	}

	// Errors: C-compiler style with positions, exit 1, nothing written.
	bad := writeChobolo(t, "hostname: forge\npackages:\n  - neovimm\n")
	out2 := filepath.Join(t.TempDir(), "out")
	r = run(t, "", "chimera", "compile", "-c", bad, "--to", "nixos", "-o", out2)
	if r.code != 1 || !strings.Contains(r.stderr, bad+":3:5: error[CHI201]: package \"neovimm\" has no nix mapping (did you mean neovim?") ||
		!strings.Contains(r.stderr, "1 error, ") {
		t.Errorf("unknown package: %s", r)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("output written despite errors: %v", err)
	}

	// --strict turns warnings into errors; --allow lowers a code back to a note.
	warn := writeChobolo(t, "hostname: forge\nservices: [my-agent]\n")
	if r = run(t, "", "chimera", "compile", "-c", warn, "--to", "nixos", "-o", out2); r.code != 0 || !strings.Contains(r.stderr, "warning[CHI203]") {
		t.Errorf("warning: %s", r)
	}
	if r = run(t, "", "chimera", "compile", "-c", warn, "--to", "nixos", "-o", out2, "--strict"); r.code != 1 || !strings.Contains(r.stderr, "error[CHI203]") {
		t.Errorf("--strict: %s", r)
	}
	if r = run(t, "", "chimera", "compile", "-c", warn, "--to", "nixos", "-o", out2, "--strict", "--allow", "CHI203,CHI408"); r.code != 0 {
		t.Errorf("--strict --allow: %s", r)
	}
	if r = run(t, "", "chimera", "compile", "-c", good, "--to", "nixos", "-o", out2, "--deny", "CHI405"); r.code != 1 || !strings.Contains(r.stderr, "error[CHI405]") {
		t.Errorf("--deny: %s", r)
	}

	// Loader errors are Ch-obolo errors (1); usage and I/O problems are 2.
	if r = run(t, "", "chimera", "compile", "-c", writeChobolo(t, "users: [{name: 'Bad Name'}]\n"), "--to", "nixos", "-o", out2); r.code != 1 {
		t.Errorf("invalid Ch-obolo: %s", r)
	}
	for _, args := range [][]string{
		{"-c", good, "-o", out2},
		{"-c", good, "--to", "nixos"},
		{"-c", good, "--to", "windows", "-o", out2},
		{"-c", good, "--to", "nixos", "-o", out2, "--allow", "nonsense"},
		{"-c", filepath.Join(t.TempDir(), "missing.yml"), "--to", "nixos", "-o", out2},
	} {
		if r = run(t, "", append([]string{"chimera", "compile"}, args...)...); r.code != 2 {
			t.Errorf("%v: want exit 2, got %s", args, r)
		}
	}
	// A directory that is not a previous output is never replaced.
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "precious"), []byte("x"), 0o600)
	if r = run(t, "", "chimera", "compile", "-c", good, "--to", "nixos", "-o", foreign); r.code != 2 {
		t.Errorf("foreign directory: %s", r)
	}

	// The Guix back end is registered through the same command.
	r = run(t, "", "chimera", "compile", "-c", good, "--to", "guix", "-o", filepath.Join(t.TempDir(), "guix"))
	if r.code == 2 || strings.Contains(r.stderr, "unknown target") {
		t.Errorf("--to guix: %s", r)
	}
}

// --inline-hashes reads users' crypt hashes from a real sops file (same flags as apply) and writes
// them into both back ends' output; a plaintext password is refused without being printed.
func TestChimeraInlineHashes(t *testing.T) {
	_, dir := isolateSecrets(t)
	file := filepath.Join(dir, "secrets.yaml")
	mustRun(t, "", "secrets", "init", "-sf", file)
	const hash = "$6$saltsalt$Vd0jZ6Zv0oLz8oH2yYqSx1sM8T6WmJqkO2t0tGk5aQ3WwZg8a9t6yQ2m2b0n4V7c8x1z3p5r7t9v1x3z5b7d9."
	mustRun(t, hash+"\n", "secrets", "set", "-sf", file, "user_secrets.alice.password")
	c := writeChobolo(t, `hostname: forge
users:
  - {name: alice}
bootloader: {name: grub, firmware: uefi}
partitioning:
  partitions:
    - {name: ESP, important: boot, type: vfat}
    - {name: root, important: root, type: ext4}
`)

	out := filepath.Join(t.TempDir(), "nixos")
	r := run(t, "", "chimera", "compile", "-c", c, "--to", "nixos", "-o", out, "--inline-hashes", "-sf", file, "--state-version", "26.05")
	if r.code != 0 {
		t.Fatalf("nixos --inline-hashes: %s", r)
	}
	conf, _ := os.ReadFile(filepath.Join(out, "configuration.nix"))
	if !strings.Contains(string(conf), `hashedPassword = "\$6\$saltsalt\$`) || strings.Contains(string(conf), "hashedPasswordFile") {
		t.Errorf("configuration.nix has no inline hash:\n%s", conf)
	}
	if !strings.Contains(r.stderr, "world-readable") {
		t.Errorf("no warning about the store: %s", r)
	}

	out = filepath.Join(t.TempDir(), "guix")
	if r = run(t, "", "chimera", "compile", "-c", c, "--to", "guix", "-o", out, "--inline-hashes", "-sf", file); r.code != 0 {
		t.Fatalf("guix --inline-hashes: %s", r)
	}
	scm, _ := os.ReadFile(filepath.Join(out, "config.scm"))
	if !strings.Contains(string(scm), `(password "$6$saltsalt$`) {
		t.Errorf("config.scm has no inline hash:\n%s", scm)
	}

	const plain = "correct horse battery staple"
	mustRun(t, plain+"\n", "secrets", "set", "-sf", file, "user_secrets.alice.password")
	for _, to := range []string{"nixos", "guix"} {
		r = run(t, "", "chimera", "compile", "-c", c, "--to", to, "-o", filepath.Join(t.TempDir(), to), "--inline-hashes", "-sf", file)
		if r.code != 1 || strings.Contains(r.stdout+r.stderr, plain) || !strings.Contains(r.stderr, "error[") {
			t.Errorf("%s with a plaintext password: %s", to, r)
		}
	}
}
