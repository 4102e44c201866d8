package chobolo

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func TestSchemaGolden(t *testing.T) { golden(t, "schema.golden.json", string(Schema())) }

func TestBoilerplateGolden(t *testing.T) { golden(t, "boilerplate.golden.yml", Boilerplate()) }

// uncomment turns the boilerplate into a Ch-obolo that sets every key it shows.
func uncomment(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(strings.TrimPrefix(line, "# "))
	}
	return b.String()
}

// The boilerplate loads as it is (everything commented out: an empty Ch-obolo), and uncommented it
// loads cleanly, sets every key of the table, and validates against the schema.
func TestBoilerplateLoads(t *testing.T) {
	c := mustLoad(t, Boilerplate(), nil)
	if len(c.Keys()) != 0 {
		t.Errorf("the boilerplate must declare nothing until uncommented, got %v", c.Keys())
	}
	src := uncomment(Boilerplate())
	dir := writeTree(t, map[string]string{"c.yml": src, "common.yml": "", "base.yml": "", "keys/docker.asc": "KEY"})
	c, err := Load(filepath.Join(dir, "c.yml"), LoadOptions{})
	if err != nil {
		t.Fatalf("uncommented boilerplate:\n%v\n%s", err, src)
	}
	for _, k := range topKeys {
		if k.name != "imports" && !c.Has(k.name) {
			t.Errorf("boilerplate does not set %s", k.name)
		}
	}
	// Every key of the table reaches the typed struct: nothing in the table is silently dropped
	// by a missing or misspelled struct tag.
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "imports")
	checkDecoded(t, "", doc, reflect.ValueOf(c).Elem())

	validateSchema(t, doc)
}

// checkDecoded walks a generic decode of the YAML next to the typed value and reports keys whose
// value did not arrive in a field.
func checkDecoded(t *testing.T, path string, y any, v reflect.Value) {
	t.Helper()
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch y := y.(type) {
	case map[string]any:
		if v.Kind() == reflect.Map {
			return // Managed, Overrides: decoded whole
		}
		for k, sub := range y {
			f, ok := fieldByTag(v, k)
			switch {
			case ok:
				checkDecoded(t, path+"."+k, sub, f)
			case v.Type() == reflect.TypeFor[Package]() || v.Type() == reflect.TypeFor[Repos]() || v.Type() == reflect.TypeFor[Chobolo]():
				// overrides (inline), repos extras and top-level extras are checked elsewhere
			default:
				t.Errorf("%s.%s: no struct field for this key", path, k)
			}
		}
	case []any:
		if v.Kind() != reflect.Slice || v.Len() != len(y) {
			t.Errorf("%s: decoded %v, want %d items", path, v, len(y))
			return
		}
		for i, sub := range y {
			checkDecoded(t, path+"[]", sub, v.Index(i))
		}
	default:
		if v.IsZero() && y != false && y != 0 {
			t.Errorf("%s: value %v not decoded", path, y)
		}
	}
}

func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	for i := range v.NumField() {
		tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if tag == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func validateSchema(t *testing.T, doc any) {
	t.Helper()
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("chobolo.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := comp.Compile("chobolo.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	// Round-trip through JSON so that the validator sees JSON types.
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("uncommented boilerplate does not validate against the schema: %v", err)
	}
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"users": [{"shel": "zsh"}], "core": "ubuntu"}`))
	if sch.Validate(bad) == nil {
		t.Errorf("schema accepts unknown keys and bad enums")
	}
}

func TestSchemaShape(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	props := s["properties"].(map[string]any)
	for _, k := range append(append([]*key{}, topKeys...), extraKeys...) {
		if props[k.name] == nil {
			t.Errorf("schema misses %s", k.name)
		}
	}
	for _, old := range []string{"pacotes", "aurPkgs", "particoes"} {
		if p, ok := props[old].(map[string]any); !ok || p["deprecated"] != true {
			t.Errorf("legacy %s not marked deprecated", old)
		}
	}
}
