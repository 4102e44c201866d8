package souls

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// keySchema is a Soul role's JSON Schema for its keys: an object schema with one property per
// key, checked on the Ch-obolo without starting the Soul.
type keySchema struct {
	file string
	doc  any // the schema as JSON values (for `chaos schema`)
	sch  *jsonschema.Schema
}

func loadSchema(file string) (*keySchema, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(file, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	sch, err := c.Compile(file)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	return &keySchema{file: file, doc: doc, sch: sch}, nil
}

// Properties are the schemas of the role's keys, by key (for `chaos schema`).
func (k *keySchema) Properties() map[string]any {
	m, _ := k.doc.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	return props
}

// check validates the declared keys; each failure is a diagnostic at the offending value.
func (k *keySchema) check(c *chobolo.Chobolo, keys []string, soulName string) []chobolo.Diagnostic {
	inst := map[string]any{}
	for _, key := range keys {
		n, ok := c.Extra[key]
		if !ok {
			continue
		}
		v, err := nodeValue(n)
		if err != nil {
			return []chobolo.Diagnostic{{Pos: c.NodePos(n), Severity: chobolo.SevError, Message: fmt.Sprintf("%s: %v", key, err)}}
		}
		// through JSON, so the validator sees JSON's types (numbers as json.Number, ...)
		if v, err = roundTrip(v); err != nil {
			return []chobolo.Diagnostic{{Pos: c.NodePos(n), Severity: chobolo.SevError, Message: fmt.Sprintf("%s: %v", key, err)}}
		}
		inst[key] = v
	}
	if len(inst) == 0 {
		return nil
	}
	err := k.sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			return []chobolo.Diagnostic{{Pos: chobolo.Pos{File: c.File}, Severity: chobolo.SevError, Message: err.Error()}}
		}
		return nil
	}
	var out []chobolo.Diagnostic
	seen := map[string]bool{}
	for _, leaf := range leaves(ve) {
		msg := leafMessage(leaf)
		path := "(" + strings.Join(leaf.InstanceLocation, ".") + ")"
		if seen[path+msg] {
			continue
		}
		seen[path+msg] = true
		where := displayPath(leaf.InstanceLocation)
		out = append(out, chobolo.Diagnostic{Pos: keyPos(c, leaf.InstanceLocation), Severity: chobolo.SevError,
			Code: "soul-schema", Message: fmt.Sprintf("%s: %s (schema of the Soul %s)", where, msg, soulName)})
	}
	return out
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// leafMessage is the validator's message for one failure, without its location prefix.
func leafMessage(e *jsonschema.ValidationError) string {
	out := e.BasicOutput()
	for _, u := range append([]jsonschema.OutputUnit{*out}, out.Errors...) {
		if u.Error != nil {
			if s := u.Error.String(); s != "" && !strings.HasPrefix(s, "validation failed") {
				return s
			}
		}
	}
	lines := strings.Split(e.Error(), "\n")
	_, msg, _ := strings.Cut(lines[len(lines)-1], ": ")
	return msg
}

// displayPath renders ["dotfiles", "0", "user"] as dotfiles[0].user.
func displayPath(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		switch {
		case isIndex(s):
			b.WriteString("[" + s + "]")
		case i > 0:
			b.WriteString("." + s)
		default:
			b.WriteString(s)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
