package providers

import (
	"context"
	"encoding/json"
	"fmt"
)

// bws reads a Bitwarden Secrets Manager secret with `bws secret get ID --output json` (its value);
// the machine account's access token is $BWS_ACCESS_TOKEN, read by bws from the environment.
// It cannot store: `bws secret create` takes the value only as an argument, where every user of the
// machine could read it (the original Ch-aOS did that).
type bws struct{ name, id, bin string }

func (p bws) Name() string { return p.name }

func (p bws) Fetch(ctx context.Context) ([]byte, error) {
	out, err := run(ctx, p.name, []string{p.bin, "secret", "get", p.id, "--output", "json"}, nil, nil)
	if err != nil {
		return nil, err
	}
	defer clear(out)
	var s struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(out, &s); err != nil || s.Value == "" {
		return nil, fmt.Errorf("provider %s: bws secret get %s: no value in its JSON answer", p.name, p.id)
	}
	return []byte(s.Value), nil
}

func (p bws) Store(context.Context, []byte) error {
	return fmt.Errorf("provider %s: bws takes a secret's value only on its command line, where every user of this machine could read it; "+
		"create the secret in the Bitwarden web vault (paste the key file) and set id: to its id", p.name)
}

// rbw reads an item's notes with `rbw get --field notes NAME` (the original's command) and stores a
// new item with `rbw add NAME`, the entry on stdin: rbw takes the first line as the password (left
// empty) and the rest as the notes. rbw-agent keeps the vault unlocked, as for every rbw command.
type rbw struct{ name, item, bin string }

func (p rbw) Name() string { return p.name }

func (p rbw) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, []string{p.bin, "get", "--field", "notes", p.item}, nil, nil)
}

func (p rbw) Store(ctx context.Context, data []byte) error {
	entry := append([]byte("\n"), data...)
	defer clear(entry)
	out, err := run(ctx, p.name, []string{p.bin, "add", p.item}, entry, nil)
	clear(out)
	return err
}

// doppler reads a secret with `doppler secrets get NAME --plain --project P [--config C]` and sets
// it with `doppler secrets set NAME --project P [--config C]`, the value on stdin (the CLI reads
// stdin when no value is given). The token is $DOPPLER_TOKEN or the CLI's login.
type doppler struct{ name, secret, project, config, bin string }

func (p doppler) Name() string { return p.name }

func (p doppler) scope() []string {
	var a []string
	if p.project != "" {
		a = append(a, "--project", p.project)
	}
	if p.config != "" {
		a = append(a, "--config", p.config)
	}
	return a
}

func (p doppler) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, append([]string{p.bin, "secrets", "get", p.secret, "--plain"}, p.scope()...), nil, nil)
}

func (p doppler) Store(ctx context.Context, data []byte) error {
	out, err := run(ctx, p.name, append([]string{p.bin, "secrets", "set", p.secret}, p.scope()...), data, nil)
	clear(out)
	return err
}

// infisical reads a secret with `infisical secrets get NAME --plain --env E --path P
// [--projectId ID]` and sets it with `infisical secrets set NAME=@/dev/stdin ...`, the value on
// stdin. The token is $INFISICAL_TOKEN or the CLI's login.
type infisical struct{ name, secret, project, env, path, bin string }

func (p infisical) Name() string { return p.name }

func (p infisical) scope() []string {
	a := []string{"--env", p.env, "--path", p.path}
	if p.project != "" {
		a = append(a, "--projectId", p.project)
	}
	return a
}

func (p infisical) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, append([]string{p.bin, "secrets", "get", p.secret, "--plain"}, p.scope()...), nil, nil)
}

func (p infisical) Store(ctx context.Context, data []byte) error {
	out, err := run(ctx, p.name, append([]string{p.bin, "secrets", "set", p.secret + "=@/dev/stdin"}, p.scope()...), data, nil)
	clear(out)
	return err
}
