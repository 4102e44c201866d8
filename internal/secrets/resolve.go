package secrets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
)

// ErrNoFile is returned when no secrets file is named anywhere (see Resolve).
var ErrNoFile = errors.New("no secrets file")

// Sources name a secrets file and its sops configuration.
type Sources struct {
	File string // the sops-encrypted secrets file
	Sops string // the sops configuration; "" = the nearest .sops.yaml (FindSopsConfig)
}

// Defaults are the caller's settings below explicit Sources: for chaos, config.yml
// (config.Config.SecretDefaults).
type Defaults struct {
	File string // secrets_file
	Sops string // sops_file
	// Chobolo is the Ch-obolo whose `secrets:` section Resolve reads (only that section, without
	// validating the rest) when it is given no loaded Ch-obolo.
	Chobolo string
	// ConfigDir may hold the original Ch-aOS's sops-config.yml, used when no .sops.yaml is found.
	ConfigDir string
}

// Resolve fills in the secrets file and the sops configuration, each from the first that names
// it:
//
//	file: src.File (-sf), d.File (secrets_file), the Ch-obolo's secrets.file (or sec_file)
//	sops: src.Sops (-ss), d.Sops (sops_file), the Ch-obolo's secrets.sops (or sec_sops); else,
//	      when no .sops.yaml is found from the file or the working directory,
//	      d.ConfigDir/sops-config.yml if it exists
//
// The Ch-obolo's paths are relative to it. c is the loaded Ch-obolo, or nil: then d.Chobolo's
// secrets section is read when the file is still unknown. The result's File is "" when nothing
// names one (OpenFile then fails with ErrNoFile).
func Resolve(c *chobolo.Chobolo, src Sources, d Defaults) Sources {
	if c == nil && d.Chobolo != "" && src.File == "" && d.File == "" {
		c = lightChobolo(d.Chobolo)
	}
	cf, cs := choboloSecrets(c)
	src.File = cmp.Or(src.File, d.File, cf)
	src.Sops = cmp.Or(src.Sops, d.Sops, cs)
	if src.Sops == "" && d.ConfigDir != "" {
		// The original kept its sops config in the config directory.
		p := filepath.Join(d.ConfigDir, "sops-config.yml")
		if _, err := os.Stat(p); err == nil {
			if found, _ := FindSopsConfig(cmp.Or(src.File, "."), ""); found == "" {
				src.Sops = p
			}
		}
	}
	return src
}

// secretsSection is the Ch-obolo's `secrets:` key: the file and sops config, relative to the
// Ch-obolo. The original's spellings (sec_file, sec_sops) are accepted.
type secretsSection struct {
	File    string `yaml:"file"`
	SecFile string `yaml:"sec_file"`
	Sops    string `yaml:"sops"`
	SecSops string `yaml:"sec_sops"`
}

// choboloSecrets returns the Ch-obolo's secrets file and sops configuration ("" when not set or c
// is nil), made absolute against the Ch-obolo's directory.
func choboloSecrets(c *chobolo.Chobolo) (file, sopsFile string) {
	if c == nil || c.Extra["secrets"] == nil {
		return "", ""
	}
	var s secretsSection
	if err := c.Extra["secrets"].Decode(&s); err != nil {
		return "", ""
	}
	base := filepath.Dir(c.File)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return rel(cmp.Or(s.File, s.SecFile)), rel(cmp.Or(s.Sops, s.SecSops))
}

// lightChobolo reads only the `secrets:` section of the Ch-obolo at path; nil when it cannot be
// read or has none (its other problems are for the command that loads it in full).
func lightChobolo(path string) *chobolo.Chobolo {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc struct {
		Secrets yaml.Node `yaml:"secrets"`
	}
	if yaml.Unmarshal(data, &doc) != nil || doc.Secrets.Kind == 0 {
		return nil
	}
	return &chobolo.Chobolo{File: path, Extra: map[string]*yaml.Node{"secrets": &doc.Secrets}}
}

// KeyringOptions say where LoadKeyring finds private keys: for chaos, config.yml
// (config.Config.KeyringOptions).
type KeyringOptions struct {
	// ConfigDir holds chaos's own keys (DiscoverKeyring).
	ConfigDir string
	// Providers returns the configured secret providers; nil means none. Its error matters only when
	// Provider is set: a broken provider entry does not stop reading a file other keys open.
	Providers func() (providers.Set, error)
	// Provider, when set, is a provider whose key is fetched into the keyring ("default" for the
	// set's default).
	Provider string
}

// LoadKeyring gathers chaos's age keys (DiscoverKeyring) and the key of o.Provider, in memory; the
// configured providers' names are kept for the message when no key fits a file.
func LoadKeyring(ctx context.Context, o KeyringOptions) (*Keyring, error) {
	k, err := DiscoverKeyring(o.ConfigDir)
	if err != nil {
		return nil, err
	}
	set, setErr := providers.Set{}, error(nil)
	if o.Providers != nil {
		set, setErr = o.Providers()
	}
	if setErr == nil {
		k.SetProviders(slices.Collect(maps.Keys(set.Providers)))
	}
	if o.Provider == "" {
		return k, nil
	}
	if setErr != nil {
		return nil, setErr
	}
	p, err := set.Get(o.Provider)
	if err != nil {
		return nil, err
	}
	data, err := p.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	defer Wipe(data)
	if _, err := k.AddKeyMaterial("provider "+p.Name(), data); err != nil {
		return nil, err
	}
	return k, nil
}

// OpenFile reads and decrypts the resolved secrets file with k; ErrNoFile when src names none.
func OpenFile(ctx context.Context, src Sources, k *Keyring) (*File, error) {
	if src.File == "" {
		return nil, ErrNoFile
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return Open(src.File, Options{Keys: k, SopsConfig: src.Sops})
}

// LoadValues decrypts the resolved secrets file and returns its values, in memory only (what
// `chaos apply -s` hands to the roles); the file's data key is wiped before it returns.
func LoadValues(ctx context.Context, src Sources, k *Keyring) (*Values, error) {
	f, err := OpenFile(ctx, src, k)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Values(), nil
}
