package chobolo

import (
	"encoding/json"
	"slices"
)

// Schema returns the JSON Schema (draft 2020-12) of a Ch-obolo, generated from the key table, for
// editors. It describes shapes and enumerations; name and path rules that need code are enforced by
// the loader and mirrored here only as descriptions.
func Schema() []byte {
	props := map[string]any{}
	for _, k := range topKeys {
		props[k.name] = keySchema(k)
	}
	for _, k := range extraKeys {
		props[k.name] = map[string]any{"description": k.doc + " (owned by the " + k.owner + ")"}
	}
	for old, now := range legacyTop {
		s := map[string]any{"description": "old spelling of " + now + "; rename it", "deprecated": true}
		if k := topKey(now); k != nil {
			s = keySchema(k)
			s["description"], s["deprecated"] = "old spelling of "+now+"; rename it", true
		}
		props[old] = s
	}
	root := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "Ch-obolo",
		"description":          "Declarative description of one machine for chaos (Ch-aOS).",
		"type":                 "object",
		"properties":           props,
		"patternProperties":    map[string]any{"^x-": map[string]any{"description": "ignored; room for YAML anchors"}},
		"additionalProperties": false,
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only maps, slices and strings: cannot fail
	}
	return append(out, '\n')
}

func keySchema(k *key) map[string]any {
	s := map[string]any{}
	switch k.kind {
	case kindString, kindText:
		s["type"] = []string{"string", "number"} // the loader reads a number as its text (priority: 1)
		if k.enum != nil {
			s["enum"] = slices.Clone(k.enum)
		}
	case kindBool:
		s["type"] = "boolean"
	case kindInt:
		s["type"] = "integer"
		s["minimum"] = 0
	case kindMode:
		// A string only: JSON sees an unquoted 644 as the number 644, which the loader refuses (YAML
		// reads it as decimal), so editors should ask for the quoted "0644" too.
		s["type"] = "string"
		s["pattern"] = "^(0[oO])?0?[0-7]{1,4}$"
	case kindList:
		item := keySchema(k.item)
		if k.enum != nil {
			item["enum"] = slices.Clone(k.enum)
		}
		s["type"] = "array"
		s["items"] = item
		if k.oneItem {
			s = map[string]any{"anyOf": []any{item, s}}
		}
	case kindMap:
		props := map[string]any{}
		var req []string
		for _, f := range k.fields {
			props[f.name] = keySchema(f)
			if f.required {
				req = append(req, f.name)
			}
		}
		s["type"] = "object"
		s["properties"] = props
		s["additionalProperties"] = k.open
		if req != nil {
			s["required"] = req
		}
		if k.shorthand != "" {
			s = map[string]any{"anyOf": []any{keySchema(&key{kind: kindString}), s}}
		}
	}
	if k.doc != "" {
		s["description"] = k.doc
	}
	return s
}
