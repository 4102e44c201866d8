package souls

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// messageSchemas compiles docs/souls/*.schema.json, by file name.
func messageSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "docs", "souls")
	files, _ := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	c := jsonschema.NewCompiler()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource(filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, f := range files {
		sch, err := c.Compile(filepath.Base(f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = sch
	}
	return out
}

func validate(t *testing.T, schemas map[string]*jsonschema.Schema, name string, data []byte) {
	t.Helper()
	sch := schemas[name]
	if sch == nil {
		t.Errorf("docs/souls has no %s", name)
		return
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v: %s", name, err, data)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s does not describe %s:\n%v", name, data, err)
	}
}

// TestMessageSchemas checks docs/souls' JSON Schemas against what chaos sends and the Go SDK
// answers, recorded from a real exchange (probe, plan, a refusal, shutdown), and against the SDK's
// types for the other kinds.
func TestMessageSchemas(t *testing.T) {
	schemas := messageSchemas(t)
	dir := t.TempDir()
	s := testSoul(t, "record="+dir, "5s")
	rt := NewRuntime([]*Soul{s})
	roles, errs := Roles(rt, []*Soul{s}, builtin.Roles())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := roles[0].(*Role)
	env := &engine.Env{Target: "web1", Core: "debian", OS: map[string]string{"ID": "debian"}, ProtectedUsers: []string{"root"}}
	for _, mode := range []string{"ok", "refuse"} {
		c, err := chobolo.LoadBytes("m.yml", []byte("demo: {plan: "+mode+"}\n"), chobolo.LoadOptions{ExtraKeys: []string{"demo"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ProbeChecked(env, c); err != nil {
			t.Fatal(err)
		}
		_, err = r.Plan(env, c, engine.Facts{"x": {Stdout: "web1\n"}})
		if (err != nil) != (mode == "refuse") {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	methods := map[int64]string{}
	seen := map[string]bool{}
	for _, line := range lines(t, filepath.Join(dir, "in.jsonl")) {
		validate(t, schemas, "request.schema.json", line)
		var req soul.Request
		if err := json.Unmarshal(line, &req); err != nil {
			t.Fatal(err)
		}
		seen[req.Method] = true
		params := []byte(req.Params)
		if params == nil {
			params = []byte("null")
		}
		validate(t, schemas, req.Method+".params.schema.json", params)
		if req.ID != nil {
			methods[*req.ID] = req.Method
		}
	}
	for _, line := range lines(t, filepath.Join(dir, "out.jsonl")) {
		validate(t, schemas, "response.schema.json", line)
		var resp soul.Response
		if err := json.Unmarshal(line, &resp); err != nil {
			t.Fatal(err)
		}
		seen["response "+methods[resp.ID]] = true
		if resp.Result != nil {
			validate(t, schemas, methods[resp.ID]+".result.schema.json", resp.Result)
		}
	}
	for _, want := range []string{"role.probe", "role.plan", "shutdown", "response role.probe", "response role.plan"} {
		if !seen[want] {
			t.Errorf("the exchange had no %s", want)
		}
	}
	// the other kinds, as the SDK's types marshal them
	text := "x"
	for name, v := range map[string]any{
		"role.probe.params.schema.json":      soul.ProbeParams{Role: "r", Env: soul.Env{Target: "t", Core: "arch"}, Keys: map[string]json.RawMessage{"k": json.RawMessage(`[1]`)}, LedgerItems: map[string]string{"links": "{ awk ...; }"}},
		"role.plan.result.schema.json":       soul.PlanResult{Steps: []soul.Step{{Changes: []soul.Change{{Kind: "+", Subject: "s", Key: "k[0]"}}, Ops: []soul.Op{{Kind: "exec", Argv: []string{"a"}, Stdin: "pw", Undo: &soul.Op{Kind: "exec", Argv: []string{"b"}}}, {Kind: "write", Path: "/x", Content: &text, Mode: "0600"}, {Kind: "symlink", Path: "/y", Target: "/x"}}}}, Ledger: map[string][]string{"d": {"i"}}, Guard: "g"},
		"boat.hosts.params.schema.json":      soul.BoatParams{Boat: "cmdb", Config: json.RawMessage(`{"file":"h.json"}`), Secrets: map[string]string{"token": "x"}},
		"boat.hosts.result.schema.json":      soul.BoatResult{Hosts: []soul.BoatHost{{Name: "web1", Address: "10.0.0.1", Port: 22, User: "root", Groups: []string{"web"}, Vars: map[string]any{"hostname": "w"}}}},
		"provider.key.params.schema.json":    soul.KeyParams{Provider: "pass", Config: json.RawMessage(`{"entry":"chaos/age"}`)},
		"provider.key.result.schema.json":    soul.KeyResult{Kind: "age", Key: "AGE-SECRET-KEY-1X"},
		"chimera.compile.params.schema.json": soul.CompileParams{Backend: "nix", System: json.RawMessage(`{"hostname":"h"}`), Options: map[string]any{"x": 1}},
		"chimera.compile.result.schema.json": soul.CompileResult{Files: map[string]string{"configuration.nix": "{}"}, Diagnostics: []soul.Diagnostic{{Severity: "warning", Message: "m", Key: "k"}}},
		"logbook.event.params.schema.json":   map[string]any{"sink": "s", "event": map[string]any{"v": 1, "type": "run-started"}},
		"connector.open.params.schema.json":  soul.ConnectParams{Connector: "machines", Arg: "web1", Target: "@machines/web1", ReadOnly: true},
		"connector.open.result.schema.json":  soul.ConnectResult{Argv: []string{"chroot", "/var/lib/machines/web1"}},
	} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, schemas, name, data)
	}
	// and the schemas are no rubber stamp
	for name, bad := range map[string]string{
		"role.plan.result.schema.json":      `{"steps":[{"changes":[],"ops":[{"kind":"shell","cmd":"rm -rf /"}]}]}`,
		"request.schema.json":               `{"jsonrpc":"1.0","method":"role.probe"}`,
		"connector.open.result.schema.json": `{"argv":["chroot","/m"],"ssh":{"host":"h"}}`,
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if schemas[name].Validate(v) == nil {
			t.Errorf("%s accepts %s", name, bad)
		}
	}
}

func lines(t *testing.T, file string) [][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}
