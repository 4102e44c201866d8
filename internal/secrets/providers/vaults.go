package providers

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// bitwarden reads the key from an item's notes with `bw get notes ITEM` and stores it as a secure
// note with `bw create item`, the base64 JSON on stdin (the original passed it in argv, where any
// user could read the key). The vault must be unlocked: BW_SESSION comes from the environment.
type bitwarden struct{ name, item, bin string }

func (p bitwarden) Name() string { return p.name }

func (p bitwarden) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, []string{p.bin, "get", "notes", p.item}, nil, nil)
}

func (p bitwarden) Store(ctx context.Context, data []byte) error {
	item, err := json.Marshal(map[string]any{
		"type":       2, // secure note
		"name":       p.item,
		"notes":      string(data),
		"secureNote": map[string]any{"type": 0},
	})
	if err != nil {
		return err
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(item)))
	base64.StdEncoding.Encode(enc, item)
	clear(item)
	defer clear(enc)
	out, err := run(ctx, p.name, []string{p.bin, "create", "item"}, enc, nil)
	clear(out)
	return err
}

// onePassword reads the key with `op read REF` and stores it with `op item create --vault V -`, the
// item JSON (a secure note) on stdin.
type onePassword struct{ name, ref, vault, bin string }

func (p onePassword) Name() string { return p.name }

func (p onePassword) Fetch(ctx context.Context) ([]byte, error) {
	return run(ctx, p.name, []string{p.bin, "read", "--no-newline", p.ref}, nil, nil)
}

func (p onePassword) Store(ctx context.Context, data []byte) error {
	// op://VAULT/ITEM/FIELD names where the key will be read from; create that item.
	parts := strings.Split(strings.TrimPrefix(p.ref, "op://"), "/")
	if !strings.HasPrefix(p.ref, "op://") || len(parts) != 3 {
		return fmt.Errorf("provider %s: ref %q is not op://VAULT/ITEM/FIELD", p.name, p.ref)
	}
	vault := p.vault
	vault = cmp.Or(vault, parts[0])
	item, err := json.Marshal(map[string]any{
		"title":    parts[1],
		"category": "SECURE_NOTE",
		"fields": []map[string]any{{
			"id": parts[2], "label": parts[2], "type": "CONCEALED", "value": string(data),
		}},
	})
	if err != nil {
		return err
	}
	defer clear(item)
	out, err := run(ctx, p.name, []string{p.bin, "item", "create", "--vault", vault, "-"}, item, nil)
	clear(out)
	return err
}
