package jsonschema

import (
	"strings"
	"testing"
)

// The drafts' meta-schemas are compiled on the first Compile (not at init), and a schema is still
// checked against its draft's meta-schema: an invalid one is refused.
func TestMetaSchemasLoadedOnFirstCompile(t *testing.T) {
	if Draft2020.sch != nil {
		t.Fatal("the meta-schemas were compiled before any Compile")
	}
	c := NewCompiler()
	if err := c.AddResource("bad.json", map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 5.0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile("bad.json"); err == nil || !strings.Contains(err.Error(), "type") {
		t.Fatalf("an invalid schema compiled: %v", err)
	}
	if Draft2020.sch == nil {
		t.Fatal("Compile did not load the meta-schemas")
	}
	if err := c.AddResource("good.json", map[string]any{"type": "integer"}); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("good.json")
	if err != nil {
		t.Fatal(err)
	}
	if sch.Validate(3.0) != nil || sch.Validate("x") == nil {
		t.Fatal("validation")
	}
}
