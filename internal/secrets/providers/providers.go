// Package providers fetches and stores private keys (age key files) in places other than the local
// disk: an environment variable, a file on removable media, any command that prints the key, the
// Bitwarden (`bw`, `bws`, `rbw`), 1Password (`op`), Doppler and Infisical CLIs (or Infisical's HTTP
// API), HashiCorp Vault's KV engine, and the providers of installed Souls. Key material is age
// identities, armored PGP private keys or Vault credentials (secrets.Keyring.AddKeyMaterial).
//
// A fetched key lives in memory only: the caller adds it to a secrets.Keyring and wipes the buffer.
// Key material crosses a process boundary only on stdin or stdout, never in argv, where every user
// of the machine could read it in /proc/PID/cmdline.
package providers

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// NoImportMarker is the line `export --no-import` prefixes to a stored key: `import` refuses such a
// key, so it is only ever used ephemerally (`-p NAME`) and never copied to a disk.
const NoImportMarker = "# NO-IMPORT"

// Provider is one configured key source.
type Provider interface {
	// Name is the configured name (the key under secret_providers).
	Name() string
	// Fetch returns the key material. The caller wipes it after use.
	Fetch(ctx context.Context) ([]byte, error)
	// Store saves key material under the provider's configured item, creating it. Providers that
	// cannot store (env) return an error.
	Store(ctx context.Context, data []byte) error
}

// Config is one entry of `secret_providers:` in config.yml.
type Config struct {
	// Type is env, file, command, bitwarden (bw), 1password (op), bws, rbw, vault, doppler (dp),
	// infisical (in) or soul. The original Ch-aOS's entries have none: their name says it (Set.Get).
	Type string `yaml:"type"`
	// Var is the environment variable holding the key (env).
	Var string `yaml:"var,omitempty"`
	// Path is the key file (file), or the secret's path in Vault's KV engine (vault).
	Path string `yaml:"path,omitempty"`
	// Command prints the key on stdout (command), e.g. [pass, show, chaos/age].
	Command []string `yaml:"command,omitempty"`
	// StoreCommand reads a key on stdin and saves it (command, optional), e.g. [pass, insert, -m, chaos/age].
	StoreCommand []string `yaml:"store_command,omitempty"`
	// Item is the Bitwarden item id (read with `bw get notes ITEM`), or the item title to create;
	// the rbw entry name.
	Item string `yaml:"item,omitempty"`
	// Ref is the 1Password secret reference (op://vault/item/field).
	Ref string `yaml:"ref,omitempty"`
	// Vault is the 1Password vault for `export`.
	Vault string `yaml:"vault,omitempty"`
	// ID is the Bitwarden Secrets Manager secret id (bws); for doppler NAME:PROJECT[:CONFIG] and
	// for infisical NAME[:PROJECT_ID[:ENV[:PATH]]], the original's formats.
	ID string `yaml:"id,omitempty"`
	// Secret is the secret's name (doppler, infisical).
	Secret string `yaml:"secret,omitempty"`
	// Project is the Doppler project; ProjectID the Infisical (or bws) project id.
	Project   string `yaml:"project_name,omitempty"`
	ProjectID string `yaml:"project_id,omitempty"`
	// ConfigName is the Doppler config (dev, prd, ...).
	ConfigName string `yaml:"config_name,omitempty"`
	// Env is the Infisical environment slug (default dev); SecretPath its folder (default /).
	Env        string `yaml:"env_name,omitempty"`
	SecretPath string `yaml:"secret_path,omitempty"`
	// Address is the Vault server (default $VAULT_ADDR); for infisical, the Infisical site whose
	// HTTP API chaos then speaks itself instead of running the CLI. Mount is the KV v2 mount
	// (default secret); Field the field holding the key (default key).
	Address string `yaml:"address,omitempty"`
	Mount   string `yaml:"mount,omitempty"`
	Field   string `yaml:"field,omitempty"`
	// Binary overrides the CLI's path (bw, op, bws, rbw, doppler, infisical); tests point it at a
	// stand-in.
	Binary string `yaml:"binary,omitempty"`
	// Soul names a provider an installed Soul declares (soul); Options is the config sent to it,
	// and all it gets.
	Soul    string         `yaml:"soul,omitempty"`
	Options map[string]any `yaml:"config,omitempty"`

	// The original Ch-aOS's per-key-type items: `-p bw.age` reads age_id (op: age_url), `-p bw.gpg`
	// gpg_id, `-p bw.vault` vault_id (Set.Get).
	AgeID    string `yaml:"age_id,omitempty"`
	GpgID    string `yaml:"gpg_id,omitempty"`
	VaultID  string `yaml:"vault_id,omitempty"`
	AgeURL   string `yaml:"age_url,omitempty"`
	GpgURL   string `yaml:"gpg_url,omitempty"`
	VaultURL string `yaml:"vault_url,omitempty"`
}

// Set is the `secret_providers:` section: providers by name, and `default: NAME`.
type Set struct {
	Default   string
	Providers map[string]Config
	// Souls provide the `type: soul` providers (chaos's Soul runtime); nil: none.
	Souls soul.Kinds
}

// Names lists the configured providers, sorted.
func (s Set) Names() []string {
	return slices.Sorted(maps.Keys(s.Providers))
}

// originalTypes are the original Ch-aOS's provider names (its config.yml sections), which are
// also their types.
var originalTypes = map[string]string{"bw": "bitwarden", "bws": "bws", "rbw": "rbw", "op": "1password", "dp": "doppler", "in": "infisical"}

// Get builds the provider called name ("default" means the configured default). NAME.KIND (the
// original's `-p bw.age`, and its `default: bw.age`) picks the item of key type KIND (age, gpg or
// vault) of an entry written in the original's shape, `bw: {age_id: ..., gpg_id: ...}`.
func (s Set) Get(name string) (Provider, error) {
	if name == "default" && s.Default != "" {
		name = s.Default
	}
	c, ok := s.Providers[name]
	base, kind := name, ""
	if !ok {
		if b, k, cut := strings.Cut(name, "."); cut {
			base, kind = b, k
			c, ok = s.Providers[base]
		}
	}
	if !ok {
		if len(s.Providers) == 0 {
			return nil, fmt.Errorf("provider %q: no secret_providers in config.yml", name)
		}
		return nil, fmt.Errorf("provider %q is not configured (secret_providers has: %s)", name, strings.Join(s.Names(), ", "))
	}
	c, err := c.original(base, kind)
	if err != nil {
		return nil, err
	}
	return New(name, c, s.Souls)
}

// original fills an entry written in the original Ch-aOS's shape (no type:, per-key-type ids) for
// key type kind (default age); other entries must not be given a kind.
func (c Config) original(base, kind string) (Config, error) {
	perKind := map[string][2]string{"age": {c.AgeID, c.AgeURL}, "gpg": {c.GpgID, c.GpgURL}, "pgp": {c.GpgID, c.GpgURL}, "vault": {c.VaultID, c.VaultURL}}
	if c.Type == "" {
		c.Type = originalTypes[base]
	}
	if c.AgeID+c.GpgID+c.VaultID+c.AgeURL+c.GpgURL+c.VaultURL == "" {
		if kind != "" {
			return c, fmt.Errorf("provider %s.%s: %s has no %s_id (the original's per-key-type items)", base, kind, base, kind)
		}
		return c, nil
	}
	ids, ok := perKind[cmp.Or(kind, "age")]
	if !ok {
		return c, fmt.Errorf("provider %s.%s: key type %q is not age, gpg or vault", base, kind, kind)
	}
	id, url := ids[0], ids[1]
	if id == "" && url == "" {
		return c, fmt.Errorf("provider %s.%s: %s has no %s_id", base, kind, base, cmp.Or(kind, "age"))
	}
	switch c.Type {
	case "bitwarden", "bw", "rbw":
		c.Item = cmp.Or(c.Item, id)
	case "1password", "op", "onepassword":
		ref := cmp.Or(url, id)
		if c.Field != "" && strings.Count(strings.TrimPrefix(ref, "op://"), "/") == 1 {
			ref += "/" + c.Field
		}
		c.Ref = cmp.Or(c.Ref, ref)
	default:
		c.ID = cmp.Or(c.ID, id)
	}
	return c, nil
}

// New builds a provider from its configuration; souls provide the `type: soul` ones.
func New(name string, c Config, souls soul.Kinds) (Provider, error) {
	bad := func(field string) error {
		return fmt.Errorf("provider %s (%s): %s is required", name, c.Type, field)
	}
	switch c.Type {
	case "env":
		if c.Var == "" {
			return nil, bad("var")
		}
		return envProvider{name, c.Var}, nil
	case "file":
		if c.Path == "" {
			return nil, bad("path")
		}
		return fileProvider{name, c.Path}, nil
	case "command":
		if len(c.Command) == 0 {
			return nil, bad("command")
		}
		return commandProvider{name: name, fetch: c.Command, store: c.StoreCommand}, nil
	case "bitwarden", "bw":
		if c.Item == "" {
			return nil, bad("item")
		}
		return bitwarden{name: name, item: c.Item, bin: cmp.Or(c.Binary, "bw")}, nil
	case "1password", "op", "onepassword":
		if c.Ref == "" {
			return nil, bad("ref")
		}
		return onePassword{name: name, ref: c.Ref, vault: c.Vault, bin: cmp.Or(c.Binary, "op")}, nil
	case "bws", "bitwarden-secrets":
		if c.ID == "" {
			return nil, bad("id")
		}
		return bws{name: name, id: c.ID, bin: cmp.Or(c.Binary, "bws")}, nil
	case "rbw", "bitwarden-rbw":
		if c.Item == "" {
			return nil, bad("item")
		}
		return rbw{name: name, item: c.Item, bin: cmp.Or(c.Binary, "rbw")}, nil
	case "vault", "hashicorp-vault":
		if c.Path == "" {
			return nil, bad("path")
		}
		return vaultKV{name: name, addr: c.Address, mount: cmp.Or(c.Mount, "secret"), path: c.Path, field: cmp.Or(c.Field, "key")}, nil
	case "doppler", "dp":
		// The original's id: NAME:PROJECT[:CONFIG].
		if parts := strings.SplitN(c.ID, ":", 3); c.ID != "" {
			c.Secret = cmp.Or(c.Secret, parts[0])
			c.Project = cmp.Or(c.Project, at(parts, 1))
			c.ConfigName = cmp.Or(c.ConfigName, at(parts, 2))
		}
		if c.Secret == "" {
			return nil, bad("secret (or id: NAME:PROJECT[:CONFIG])")
		}
		return doppler{name: name, secret: c.Secret, project: c.Project, config: c.ConfigName, bin: cmp.Or(c.Binary, "doppler")}, nil
	case "infisical", "in":
		// The original's id: NAME[:PROJECT_ID[:ENV[:PATH]]].
		if parts := strings.SplitN(c.ID, ":", 4); c.ID != "" {
			c.Secret = cmp.Or(c.Secret, parts[0])
			c.ProjectID = cmp.Or(c.ProjectID, at(parts, 1))
			c.Env = cmp.Or(c.Env, at(parts, 2))
			c.SecretPath = cmp.Or(c.SecretPath, at(parts, 3))
		}
		if c.Secret == "" {
			return nil, bad("secret (or id: NAME[:PROJECT_ID[:ENV[:PATH]]])")
		}
		if c.Address != "" {
			if c.ProjectID == "" {
				return nil, bad("project_id (Infisical's API names the project by id)")
			}
			return infisicalAPI{name: name, api: infisicalAPIBase(c.Address), secret: c.Secret, project: c.ProjectID,
				env: cmp.Or(c.Env, "dev"), path: cmp.Or(c.SecretPath, "/")}, nil
		}
		return infisical{name: name, secret: c.Secret, project: c.ProjectID, env: cmp.Or(c.Env, "dev"),
			path: cmp.Or(c.SecretPath, "/"), bin: cmp.Or(c.Binary, "infisical")}, nil
	case "soul":
		if c.Soul == "" {
			return nil, bad("soul")
		}
		return newSoulProvider(name, c, souls)
	case "":
		return nil, fmt.Errorf("provider %s: type is required (%s)", name, typeList)
	}
	return nil, fmt.Errorf("provider %s: unknown type %q (%s)", name, c.Type, typeList)
}

const typeList = "env, file, command, bitwarden, 1password, bws, rbw, vault, doppler, infisical, soul"

func at(parts []string, i int) string {
	if i < len(parts) {
		return parts[i]
	}
	return ""
}

// HasNoImport reports whether stored key material carries the NO-IMPORT marker line.
func HasNoImport(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if string(bytes.TrimSpace(line)) == NoImportMarker {
			return true
		}
	}
	return false
}

// MarkNoImport prefixes the marker line.
func MarkNoImport(data []byte) []byte {
	out := make([]byte, 0, len(NoImportMarker)+1+len(data))
	out = append(out, NoImportMarker+"\n"...)
	return append(out, data...)
}

type envProvider struct{ name, v string }

func (p envProvider) Name() string { return p.name }

func (p envProvider) Fetch(context.Context) ([]byte, error) {
	v, ok := os.LookupEnv(p.v)
	if !ok || v == "" {
		return nil, fmt.Errorf("provider %s: $%s is not set", p.name, p.v)
	}
	return []byte(v), nil
}

func (p envProvider) Store(context.Context, []byte) error {
	return fmt.Errorf("provider %s: an environment variable cannot store a key", p.name)
}

type fileProvider struct{ name, path string }

func (p fileProvider) Name() string { return p.name }

func (p fileProvider) Fetch(context.Context) ([]byte, error) {
	data, err := os.ReadFile(p.path)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.name, err)
	}
	return data, nil
}

func (p fileProvider) Store(_ context.Context, data []byte) error {
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("provider %s: %w", p.name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("provider %s: %w", p.name, err)
	}
	return f.Close()
}

type commandProvider struct {
	name         string
	fetch, store []string
}

func (p commandProvider) Name() string { return p.name }

func (p commandProvider) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, p.fetch, nil, nil)
}

func (p commandProvider) Store(ctx context.Context, data []byte) error {
	if len(p.store) == 0 {
		return fmt.Errorf("provider %s: no store_command configured", p.name)
	}
	_, err := run(ctx, p.name, p.store, data, nil)
	return err
}

// run executes argv with stdin and extra environment, returning stdout. Stderr is reported on
// failure (CLIs print errors there, not keys); stdout never is, since it may hold the key.
func run(ctx context.Context, name string, argv []string, stdin []byte, env []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		clear(out.Bytes())
		msg := strings.TrimSpace(errb.String())
		if stdin != nil && len(stdin) > 8 && bytes.Contains(errb.Bytes(), stdin) {
			// A CLI that echoes its input must not get the key into an error message.
			msg = "(error output withheld: it repeats the key material)"
		}
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("provider %s: %s: %s", name, argv[0], msg)
		}
		return nil, fmt.Errorf("provider %s: %s: %w", name, argv[0], err)
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("provider %s: %s printed nothing", name, argv[0])
	}
	return out.Bytes(), nil
}
