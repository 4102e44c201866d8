// Package providers fetches and stores private keys (age key files) in places other than the local
// disk: an environment variable, a file on removable media, any command that prints the key, and the
// Bitwarden (`bw`) and 1Password (`op`) CLIs, and the providers of installed Souls.
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
	// Type is env, file, command, bitwarden (bw) or 1password (op).
	Type string `yaml:"type"`
	// Var is the environment variable holding the key (env).
	Var string `yaml:"var,omitempty"`
	// Path is the key file (file).
	Path string `yaml:"path,omitempty"`
	// Command prints the key on stdout (command), e.g. [pass, show, chaos/age].
	Command []string `yaml:"command,omitempty"`
	// StoreCommand reads a key on stdin and saves it (command, optional), e.g. [pass, insert, -m, chaos/age].
	StoreCommand []string `yaml:"store_command,omitempty"`
	// Item is the Bitwarden item id (read with `bw get notes ITEM`), or the item title to create.
	Item string `yaml:"item,omitempty"`
	// Ref is the 1Password secret reference (op://vault/item/field).
	Ref string `yaml:"ref,omitempty"`
	// Vault is the 1Password vault for `export`.
	Vault string `yaml:"vault,omitempty"`
	// Binary overrides the CLI's path (bw, op); tests point it at a stand-in.
	Binary string `yaml:"binary,omitempty"`
	// Soul names a provider an installed Soul declares (soul); Options is the config sent to it,
	// and all it gets.
	Soul    string         `yaml:"soul,omitempty"`
	Options map[string]any `yaml:"config,omitempty"`
}

// Set is the `secret_providers:` section: providers by name, and `default:` naming one of them.
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

// Get builds the provider called name ("default" means the configured default).
func (s Set) Get(name string) (Provider, error) {
	if name == "default" && s.Default != "" {
		name = s.Default
	}
	c, ok := s.Providers[name]
	if !ok {
		if len(s.Providers) == 0 {
			return nil, fmt.Errorf("provider %q: no secret_providers in config.yml", name)
		}
		return nil, fmt.Errorf("provider %q is not configured (secret_providers has: %s)", name, strings.Join(s.Names(), ", "))
	}
	return New(name, c, s.Souls)
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
	case "soul":
		if c.Soul == "" {
			return nil, bad("soul")
		}
		return newSoulProvider(name, c, souls)
	case "":
		return nil, fmt.Errorf("provider %s: type is required (env, file, command, bitwarden, 1password, soul)", name)
	}
	return nil, fmt.Errorf("provider %s: unknown type %q (env, file, command, bitwarden, 1password, soul)", name, c.Type)
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
