package souls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// Boilerplate is the Soul's boilerplate for `chaos init chobolo` ("" when it has none).
func (s *Soul) Boilerplate() (string, error) {
	if s.Manifest.Boilerplate == "" {
		return "", nil
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, s.Manifest.Boilerplate))
	if err != nil {
		return "", fmt.Errorf("soul %s: boilerplate: %w", s.Manifest.Name, err)
	}
	return string(data), nil
}

// Explanations are the Soul's `chaos explain` topics, by topic.
func (s *Soul) Explanations() (map[string]string, error) {
	out := map[string]string{}
	for topic, f := range s.Manifest.Explanations {
		data, err := os.ReadFile(filepath.Join(s.Dir, f))
		if err != nil {
			return nil, fmt.Errorf("soul %s: explanation %s: %w", s.Manifest.Name, topic, err)
		}
		out[topic] = string(data)
	}
	return out, nil
}

// KeySchemas are the JSON Schemas of the role's keys, by key (for `chaos schema`); a key without
// a schema gets its description only.
func (r *Role) KeySchemas() map[string]any {
	out := map[string]any{}
	var props map[string]any
	if r.schema != nil {
		props = r.schema.Properties()
	}
	for _, k := range r.spec.Keys {
		if p, ok := props[k]; ok {
			out[k] = p
			continue
		}
		out[k] = map[string]any{"description": r.spec.Summary + " (Soul " + r.soul.Manifest.Name + ")"}
	}
	return out
}

// Uncomment turns a commented boilerplate into YAML: "## " lines are prose and become empty (so
// positions keep their line), "# " is taken off the others (chaos's own boilerplate's convention).
func Uncomment(text string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		t := strings.TrimLeft(line, " ")
		switch {
		case strings.HasPrefix(t, "##"):
			line = ""
		case strings.HasPrefix(t, "# "):
			line = line[:len(line)-len(t)] + t[2:]
		case t == "#":
			line = ""
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// Check is one conformance check of `chaos soul test` and how it went.
type Check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what was seen, or what broke.
	Detail string `json:"detail,omitempty"`
}

// Conformance runs a Soul against the protocol: its manifest loads, its roles take no built-in
// name or key, the process answers for every other kind it declares (kindChecks), the
// boilerplate's keys pass its schemas, and for every role the process answers
// role.probe and role.plan with the boilerplate's keys against the real root under root, whose
// probe runs on a read-only overlay of it (a write by a probe fragment fails the test). builtins
// are the roles a Soul may not shadow. Checks stop at the first failure that makes the next ones
// meaningless; the error says which check failed.
func Conformance(ctx context.Context, dir, root string, builtins []engine.Role) ([]Check, error) {
	var checks []Check
	fail := func(name string, err error) ([]Check, error) {
		checks = append(checks, Check{Name: name, Detail: err.Error()})
		return checks, fmt.Errorf("%s: %w", name, err)
	}
	ok := func(name, detail string) { checks = append(checks, Check{Name: name, OK: true, Detail: detail}) }

	s, err := Load(dir)
	if err != nil {
		return fail("manifest", err)
	}
	ok("manifest", fmt.Sprintf("%s %s, protocol %d", s.Manifest.Name, s.Manifest.Version, s.Manifest.Protocol))
	bin := s.Manifest.Exec[0]
	if !filepath.IsAbs(bin) && filepath.Base(bin) != bin {
		bin = filepath.Join(s.Dir, bin) // as Start resolves it
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fail("executable", fmt.Errorf("%s: %w (build it first?)", s.Manifest.Exec[0], err))
	}
	rt := NewRuntime([]*Soul{s})
	defer rt.Close()
	roles, errs := Roles(rt, []*Soul{s}, builtins)
	if len(errs) > 0 {
		return fail("roles", errors.Join(errs...))
	}
	ok("roles", fmt.Sprintf("%d role(s), no clash with the built-in roles", len(roles)))
	if err := kindChecks(ctx, rt, s, ok); err != nil {
		return fail(err.name, err.err)
	}
	if len(roles) == 0 {
		if rt.Started() > 0 { // it had kinds to answer
			if err := oneProcess(rt, ok); err != nil {
				return fail("one process", err)
			}
		}
		return checks, nil
	}
	bp, err := s.Boilerplate()
	if err != nil {
		return fail("boilerplate", err)
	}
	if bp == "" {
		return fail("boilerplate", errors.New("soul.yaml names no boilerplate: the roles cannot be tried without keys"))
	}
	reg := engine.NewRegistry(append(append([]engine.Role(nil), builtins...), roles...)...)
	c, err := chobolo.LoadBytes(filepath.Join(s.Dir, s.Manifest.Boilerplate), []byte(Uncomment(bp)),
		chobolo.LoadOptions{ExtraKeys: Keys(roles)})
	if err != nil {
		return fail("boilerplate", err)
	}
	for _, r := range roles {
		if ds := r.(*Role).CheckStatic("", c); len(ds) > 0 {
			return fail("schema", chobolo.Errors(ds))
		}
	}
	ok("boilerplate", "its keys pass the roles' schemas")

	merged, upper, cleanup, err := readOnlyOverlay(root)
	if err != nil {
		return fail("overlay", err)
	}
	defer cleanup()
	baseline, err := listTree(upper)
	if err != nil {
		return fail("overlay", err)
	}
	t, err := transport.NewChroot(merged)
	if err != nil {
		return fail("overlay", err)
	}
	defer t.Close() // before cleanup: it holds the mount
	for _, r := range roles {
		name := r.Meta().Name
		_, err := (&engine.Engine{Registry: reg}).Plan(ctx, t, engine.Request{Chobolo: c, Tags: []string{name}, ReadOnly: true})
		var ce *CallError
		var ds chobolo.Errors
		switch {
		case err == nil:
			ok("role "+name, "answered role.probe and role.plan on "+root+"; the plan's ops are valid")
		case errors.As(err, &ce) && ce.Err.Code == soul.CodeInvalid, errors.As(err, &ds):
			// a refusal of a boilerplate value on this root (a user it does not have) is an answer
			ok("role "+name, "answered, refusing a boilerplate value on "+root+": "+err.Error())
		default:
			return fail("role "+name, err)
		}
	}
	if after, err := listTree(upper); err != nil {
		return fail("read-only probe", err)
	} else if gained := slices.DeleteFunc(after, func(p string) bool { return slices.Contains(baseline, p) }); len(gained) > 0 {
		return fail("read-only probe", fmt.Errorf("the probe wrote to the host: %s", strings.Join(gained, ", ")))
	}
	ok("read-only probe", "the probe wrote nothing to "+root)
	if err := oneProcess(rt, ok); err != nil {
		return fail("one process", err)
	}
	return checks, nil
}

// oneProcess checks that one process served the whole run.
func oneProcess(rt *Runtime, ok func(name, detail string)) error {
	if n := rt.Started(); n != 1 {
		return fmt.Errorf("%d processes started for one run", n)
	}
	ok("one process", "one process served every request")
	return nil
}

// kindCheckError is the check that failed, and why.
type kindCheckError struct {
	name string
	err  error
}

// kindChecks asks the Soul's process once for each kind its manifest declares besides roles, with
// empty settings: any answer counts (a refusal of the empty config is an answer), but not "no
// such method or name", a crash, a timeout or malformed output. A connector's argv or address
// must pass chaos's checks; a logbook sink gets one event, and the process must still answer after
// it.
func kindChecks(ctx context.Context, rt *Runtime, s *Soul, ok func(name, detail string)) *kindCheckError {
	answered := func(err error) error {
		var ce *CallError
		if err == nil || errors.As(err, &ce) && ce.Err.Code != soul.CodeMethodNotFound {
			return nil
		}
		return err
	}
	for _, k := range []struct {
		kind, method string
		params       func(name string) any
		result       func() any
	}{
		{soul.KindBoat, soul.MethodBoatHosts, func(n string) any { return soul.BoatParams{Boat: n, Config: json.RawMessage("{}")} },
			func() any { return &soul.BoatResult{} }},
		{soul.KindProvider, soul.MethodProviderKey, func(n string) any { return soul.KeyParams{Provider: n, Config: json.RawMessage("{}")} },
			func() any { return &soul.KeyResult{} }},
		{soul.KindChimera, soul.MethodChimeraCompile, func(n string) any {
			return soul.CompileParams{Backend: n, System: json.RawMessage("{}"), Options: map[string]any{}}
		}, func() any { return &soul.CompileResult{} }},
		{soul.KindConnector, soul.MethodConnectorOpen, func(n string) any {
			return soul.ConnectParams{Connector: n, Arg: "chaos-soul-test", Target: "@" + n + "/chaos-soul-test", ReadOnly: true}
		}, func() any { return &soul.ConnectResult{} }},
	} {
		for _, sp := range s.specs(k.kind) {
			name := k.kind + " " + sp.Name
			res := k.result()
			err := rt.Call(ctx, k.kind, sp.Name, k.method, k.params(sp.Name), res)
			if err := answered(err); err != nil {
				return &kindCheckError{name, err}
			}
			if cr, isConn := res.(*soul.ConnectResult); isConn && err == nil {
				if err := cr.Check(); err != nil {
					return &kindCheckError{name, fmt.Errorf("%s: %w", k.method, err)}
				}
			}
			detail := "answered " + k.method
			if err != nil {
				detail += ", refusing the empty settings: " + err.Error()
			}
			ok(name, detail)
		}
	}
	for _, sp := range s.Manifest.Limanis {
		name := soul.KindSink + " " + sp.Name
		p, err := rt.Process(ctx, s.Manifest.Name)
		if err == nil {
			err = p.Notify(soul.MethodLogbookEvent, sinkEvent{Sink: sp.Name, Event: map[string]any{"v": 1, "type": "run.start"}})
		}
		if err == nil { // still reading: a method it does not know gets its answer all the same
			var ce *CallError
			if err = p.Call(ctx, soul.MethodPing, nil, nil); errors.As(err, &ce) {
				err = nil
			}
		}
		if err != nil {
			return &kindCheckError{name, err}
		}
		ok(name, "took a logbook.event and still answers")
	}
	return nil
}

// readOnlyOverlay mounts an overlay of root whose writes go to a fresh upper directory, so that a
// probe's writes are seen and root stays as it was.
func readOnlyOverlay(root string) (merged, upper string, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "chaos-soul-test-")
	if err != nil {
		return "", "", nil, err
	}
	upper, work, merged := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(tmp)
			return "", "", nil, err
		}
	}
	opts := "lowerdir=" + root + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		os.RemoveAll(tmp)
		return "", "", nil, fmt.Errorf("overlay of %s (needs root and overlayfs): %w", root, err)
	}
	cleanup = func() {
		// never remove through a live mount; a busy one is detached first
		if syscall.Unmount(merged, 0) == nil || syscall.Unmount(merged, syscall.MNT_DETACH) == nil {
			_ = os.RemoveAll(tmp)
		}
	}
	// A root file system's /dev is another mount (devtmpfs) that the overlay does not show:
	// fragments need /dev/null and friends. They are made before the probe, so they are no write of it.
	for _, d := range []struct {
		name  string
		minor uint32
	}{{"null", 3}, {"zero", 5}, {"random", 8}, {"urandom", 9}} {
		p := filepath.Join(merged, "dev", d.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			cleanup()
			return "", "", nil, err
		}
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(1<<8|d.minor) /* makedev(1, minor) */); err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return merged, upper, cleanup, nil
}

// listTree lists what is under dir (relative paths).
func listTree(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, "/"+rel)
		}
		return nil
	})
	return out, err
}
