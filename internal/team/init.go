package team

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// SopsConfigName is the team's sops configuration, in the team directory.
const SopsConfigName = "sops-config.yml"

// Groups are the secrets groups init creates (-t company.team.dev).
var Groups = []string{"dev", "prod"}

// Keys are the recipients of a new team's creation rules: the team's own key group and an
// optional backup group (for instance a key kept offline), each of age recipients and PGP
// fingerprints.
type Keys struct {
	Age, PGP             []string
	BackupAge, BackupPGP []string
	// Vault are HashiCorp Vault transit key URIs (https://VAULT:8200/v1/ENGINE/keys/KEY), a key
	// group of their own (hc_vault), as the original's optional Vault groups.
	Vault []string
	// Shamir, when >= 2, is the number of key groups needed to decrypt (at most the number of
	// groups). 0 needs every group, sops's default. The original wrote 3 and 4 for two groups,
	// which sops rejects.
	Shamir int
}

func (k Keys) groups() []map[string][]string {
	var gs []map[string][]string
	for _, g := range [][2][]string{{k.Age, k.PGP}, {k.BackupAge, k.BackupPGP}} {
		m := map[string][]string{}
		if len(g[0]) > 0 {
			m["age"] = g[0]
		}
		if len(g[1]) > 0 {
			m["pgp"] = g[1]
		}
		if len(m) > 0 {
			gs = append(gs, m)
		}
	}
	if len(k.Vault) > 0 {
		gs = append(gs, map[string][]string{"hc_vault": k.Vault})
	}
	return gs
}

// Validate checks the keys' syntax (age recipients, 40-hex PGP fingerprints) and the threshold.
func (k Keys) Validate() error {
	for _, a := range append(append([]string{}, k.Age...), k.BackupAge...) {
		if _, err := secrets.MasterKey("age", a); err != nil {
			return err
		}
	}
	for _, p := range append(append([]string{}, k.PGP...), k.BackupPGP...) {
		if _, err := secrets.MasterKey("pgp", p); err != nil {
			return err
		}
	}
	for _, v := range k.Vault {
		if _, err := secrets.MasterKey("hc_vault", v); err != nil {
			return err
		}
	}
	if len(k.Age)+len(k.PGP) == 0 {
		return errors.New("no team keys: give at least one age recipient or PGP fingerprint")
	}
	n := len(k.groups())
	if k.Shamir != 0 && (k.Shamir < 2 || k.Shamir > n) {
		return fmt.Errorf("shamir %d: it must be 0 (all groups) or 2..%d with %d key group(s)", k.Shamir, n, n)
	}
	return nil
}

func (k Keys) engines() []string {
	var e []string
	if len(k.Age)+len(k.BackupAge) > 0 {
		e = append(e, "age")
	}
	if len(k.PGP)+len(k.BackupPGP) > 0 {
		e = append(e, "gpg")
	}
	return e
}

// sopsConfig renders the team's creation rules. path_regex is matched by sops against the path
// relative to this file's directory, so the rules hold wherever the repository is cloned.
func (k Keys) sopsConfig(ref Ref) ([]byte, error) {
	type rule struct {
		PathRegex string                `yaml:"path_regex"`
		Shamir    int                   `yaml:"shamir_threshold,omitempty"`
		KeyGroups []map[string][]string `yaml:"key_groups"`
	}
	var doc struct {
		Rules []rule `yaml:"creation_rules"`
	}
	for _, g := range Groups {
		doc.Rules = append(doc.Rules, rule{PathRegex: `^secrets/` + g + `/.*\.(ya?ml|json)$`, Shamir: k.Shamir, KeyGroups: k.groups()})
	}
	doc.Rules = append(doc.Rules, rule{PathRegex: `^ramblings/.*\.ya?ml$`, Shamir: k.Shamir, KeyGroups: k.groups()})
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("team: %w", err)
	}
	head := fmt.Sprintf("# sops creation rules of team %s (chaos team init). Add members' keys with\n"+
		"# chaos secrets rotate-add -t %s.dev age KEY, or edit this file and run chaos ramble update.\n", ref.Company+"."+ref.Team, ref.Company+"."+ref.Team)
	return append([]byte(head), out...), nil
}

// InitResult says what Init made.
type InitResult struct {
	TeamDir    string // REPO/COMPANY/TEAM
	SopsConfig string // written, or "" when one existed and was kept
	Link       string // the activation symlink
}

// Init creates (or completes) team ref.Company.ref.Team in repository repo, with person ref.Group's
// ramblings directory when given, records it in .chaos.yml and activates it. An existing sops
// configuration is kept: its rules are the team's, maybe edited since. gitInit runs `git init` in
// repo first when it is not a repository yet.
func Init(ctx context.Context, repo string, ref Ref, k Keys, gitInit bool) (InitResult, error) {
	var res InitResult
	if err := k.Validate(); err != nil {
		return res, err
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return res, fmt.Errorf("team: %w", err)
	}
	repo, err := realDir(repo)
	if err != nil {
		return res, err
	}
	if gitInit {
		if _, err := os.Stat(filepath.Join(repo, ".git")); errors.Is(err, fs.ErrNotExist) {
			if out, err := exec.CommandContext(ctx, "git", "-C", repo, "init", "--quiet").CombinedOutput(); err != nil {
				return res, fmt.Errorf("git init %s: %v: %s", repo, err, strings.TrimSpace(string(out)))
			}
		}
	}
	m := &Manifest{Company: ref.Company}
	if _, err := os.Lstat(filepath.Join(repo, ManifestName)); err == nil {
		if m, err = ReadManifest(repo); err != nil {
			return res, err
		}
		if m.Company != ref.Company {
			return res, fmt.Errorf("%s belongs to company %q, not %q", repo, m.Company, ref.Company)
		}
	}
	if res.TeamDir, err = Inside(repo, filepath.Join(ref.Company, ref.Team)); err != nil {
		return res, err
	}
	dirs := []string{}
	for _, g := range Groups {
		dirs = append(dirs, filepath.Join("secrets", g))
	}
	if ref.Group != "" {
		dirs = append(dirs, filepath.Join("ramblings", ref.Group))
	}
	for _, d := range dirs {
		p, err := Inside(repo, filepath.Join(ref.Company, ref.Team, d))
		if err != nil {
			return res, err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return res, fmt.Errorf("team: %w", err)
		}
		// git keeps no empty directory.
		if err := keepFile(p); err != nil {
			return res, err
		}
	}
	cfg, err := Inside(repo, filepath.Join(ref.Company, ref.Team, SopsConfigName))
	if err != nil {
		return res, err
	}
	if _, err := os.Lstat(cfg); errors.Is(err, fs.ErrNotExist) {
		data, err := k.sopsConfig(ref)
		if err != nil {
			return res, err
		}
		if err := secrets.WriteFileAtomic(cfg, data, 0o644); err != nil {
			return res, err
		}
		res.SopsConfig = cfg
	}
	m.add(ref.Team, ref.Group, k.engines())
	if err := m.write(repo); err != nil {
		return res, err
	}
	links, err := Activate(repo)
	if err != nil {
		return res, err
	}
	for _, l := range links {
		if filepath.Base(l) == ref.Team {
			res.Link = l
		}
	}
	return res, nil
}

func keepFile(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ".gitkeep"), nil, 0o644)
}
