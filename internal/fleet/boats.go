package fleet

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// A Boat is a dynamic inventory: it returns hosts (and groups) at run time. Boats are the first kind
// of plugin external Souls may provide, so the interface is deliberately small: one call, bounded by
// ctx (the boat's timeout), returning the document it read. The document is JSON or YAML in one of
// the shapes Parse accepts (or CSV); chaos validates it like the Ch-obolo's own fleet.hosts.
type Boat interface {
	Fetch(ctx context.Context) ([]byte, string, error) // document, format hint ("json", "yaml", "csv", ""), error
}

// BoatEnv is what a boat may use besides its config.
type BoatEnv struct {
	// Dir is the directory of the Ch-obolo, for relative paths.
	Dir string
	// Secret returns the value at a dotted path of the secrets file ({secret: PATH} in a config);
	// nil when the run has no secrets.
	Secret func(path string) (string, error)
}

// secret resolves a {secret: PATH} reference for a boat's config key.
func (e BoatEnv) secret(what, path string) (string, error) {
	if e.Secret == nil {
		return "", fmt.Errorf("%s names the secret %s, but no secrets file is available", what, path)
	}
	v, err := e.Secret(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// BoatFactory builds a boat from its `config` mapping (nil when absent). It only checks and keeps
// the config: nothing slow or remote happens before Fetch.
type BoatFactory func(config *yaml.Node, env BoatEnv) (Boat, error)

var (
	boatMu    sync.RWMutex
	providers = map[string]BoatFactory{"exec": newExecBoat, "http": newHTTPBoat, "file": newFileBoat, "ec2": newEC2Boat}
)

// RegisterBoat adds a boat provider.
func RegisterBoat(name string, f BoatFactory) {
	boatMu.Lock()
	defer boatMu.Unlock()
	providers[name] = f
}

// BoatProviders lists the known providers, sorted.
func BoatProviders() []string {
	boatMu.RLock()
	defer boatMu.RUnlock()
	return slices.Sorted(maps.Keys(providers))
}

// BoatResult is what one boat contributed.
type BoatResult struct {
	Name     string        `json:"name"`
	Provider string        `json:"provider"`
	Hosts    int           `json:"hosts"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Err      error         `json:"-"`
}

// LoadBoats runs every boat concurrently (each bounded by its timeout) and merges their hosts and
// groups after the static ones. A host already declared is kept as declared (noted in warnings). A
// failed boat is a warning unless it is required, then LoadBoats fails.
func (f *Fleet) LoadBoats(ctx context.Context, env BoatEnv) (results []BoatResult, warnings []string, err error) {
	if len(f.Boats) == 0 {
		return nil, nil, nil
	}
	type out struct {
		sub     *Fleet
		warns   []string
		err     error
		elapsed time.Duration
	}
	outs := make([]out, len(f.Boats))
	var wg sync.WaitGroup
	for i, b := range f.Boats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			sub, warns, err := runBoat(ctx, b, env, f.Souls)
			outs[i] = out{sub, warns, err, time.Since(t0)}
		}()
	}
	wg.Wait()
	have := map[string]bool{}
	for _, h := range f.Hosts {
		have[h.Name] = true
	}
	var errs []string
	for i, b := range f.Boats {
		o := outs[i]
		res := BoatResult{Name: b.Name, Provider: b.Provider, Err: o.err, Elapsed: o.elapsed}
		for _, w := range o.warns {
			warnings = append(warnings, fmt.Sprintf("%s: boat %s (%s): %s", b.Pos, b.Name, b.Provider, w))
		}
		if o.err != nil {
			msg := fmt.Sprintf("%s: boat %s (%s): %v", b.Pos, b.Name, b.Provider, o.err)
			if b.Required {
				errs = append(errs, msg)
			} else {
				warnings = append(warnings, msg+"; continuing without its hosts")
			}
			results = append(results, res)
			continue
		}
		for _, h := range o.sub.Hosts {
			if have[h.Name] {
				warnings = append(warnings, fmt.Sprintf("boat %s: host %s is already declared; keeping the earlier one", b.Name, h.Name))
				continue
			}
			have[h.Name] = true
			h.Source, h.Boat, h.Provider = "boat "+b.Name, b.Name, b.Provider
			f.Hosts = append(f.Hosts, h)
			res.Hosts++
		}
		for _, g := range o.sub.Groups {
			if cur := f.Group(g.Name); cur != nil {
				cur.Hosts = append(cur.Hosts, g.Hosts...)
				if cur.Vars == nil {
					cur.Vars = g.Vars
				}
				continue
			}
			f.Groups = append(f.Groups, g)
		}
		results = append(results, res)
	}
	if len(errs) > 0 {
		return results, warnings, errors.New(strings.Join(errs, "\n"))
	}
	return results, warnings, nil
}

// boatWarner is a boat with something to say even when it works (a risky setting the user chose).
type boatWarner interface{ Warnings() []string }

// runBoat runs one boat; souls serve the Souls' boats (the run's one process per Soul).
func runBoat(ctx context.Context, b BoatSpec, env BoatEnv, souls soul.Kinds) (*Fleet, []string, error) {
	var boat Boat
	if b.Soul != "" {
		boat = &soulBoat{spec: b, env: env, souls: souls}
	} else {
		boatMu.RLock()
		factory := providers[b.Provider]
		boatMu.RUnlock()
		if factory == nil {
			return nil, nil, fmt.Errorf("unknown provider %q", b.Provider)
		}
		var err error
		if boat, err = factory(b.Config, env); err != nil {
			return nil, nil, err
		}
	}
	var warns []string
	if w, ok := boat.(boatWarner); ok {
		warns = w.Warnings()
	}
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	data, format, err := boat.Fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, warns, fmt.Errorf("timed out after %s", b.Timeout)
		}
		return nil, warns, err
	}
	f, err := Parse(data, format, "boat "+b.Name)
	return f, warns, err
}

// Parse reads an inventory document: JSON or YAML in the fleet's own shape ({hosts: ..., groups:
// ...} or just a list/mapping of hosts), Ansible's dynamic-inventory JSON ({"_meta": {"hostvars":
// ...}, "GROUP": {"hosts": [...], "vars": {...}, "children": [...]}}), or CSV with a header row
// (name, ssh_hostname, ssh_user, ssh_port, ssh_key, become, groups separated by spaces or ';').
func Parse(data []byte, format, source string) (*Fleet, error) {
	if format == "csv" {
		return parseCSV(data, source)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %v", err)
	}
	f := &Fleet{}
	if len(doc.Content) == 0 {
		return f, nil
	}
	root := doc.Content[0]
	d := &decoder{c: &chobolo.Chobolo{File: source}}
	switch {
	case root.Kind == yaml.SequenceNode:
		d.hosts(f, root)
	case root.Kind == yaml.MappingNode && (mapGet(root, "_meta") != nil || isAnsible(root)):
		if err := parseAnsible(f, root); err != nil {
			return nil, err
		}
	case root.Kind == yaml.MappingNode && mapGet(root, "hosts") != nil:
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch k, v := root.Content[i], root.Content[i+1]; k.Value {
			case "hosts":
				d.hosts(f, v)
			case "groups":
				d.groups(f, v)
			default:
				d.errorf(k, "unknown key %q (known: hosts, groups)", k.Value)
			}
		}
	case root.Kind == yaml.MappingNode:
		d.hosts(f, root)
	default:
		return nil, errors.New("expected a list or mapping of hosts")
	}
	d.checkGroups(f)
	if len(d.errs) > 0 {
		var msgs []string
		for _, e := range d.errs {
			msgs = append(msgs, fmt.Sprintf("line %d: %s", e.Pos.Line, e.Msg))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return f, nil
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// isAnsible: every value is a group mapping (hosts/vars/children) or a plain list of hosts.
func isAnsible(root *yaml.Node) bool {
	if mapGet(root, "all") == nil {
		return false
	}
	for i := 1; i < len(root.Content); i += 2 {
		v := root.Content[i]
		if v.Kind != yaml.MappingNode && v.Kind != yaml.SequenceNode {
			return false
		}
	}
	return true
}

// parseAnsible maps Ansible inventory JSON: ansible_host/ansible_user/ansible_port/
// ansible_ssh_private_key_file/ansible_become to the fleet's settings; other host and group vars are
// not Ch-obolo keys and are ignored (Ch-obolo vars can be given under a `chaos_vars` host var).
func parseAnsible(f *Fleet, root *yaml.Node) error {
	type hv = map[string]any
	var raw map[string]any
	if err := root.Decode(&raw); err != nil {
		return err
	}
	hostvars := map[string]hv{}
	if meta, ok := raw["_meta"].(map[string]any); ok {
		if hvs, ok := meta["hostvars"].(map[string]any); ok {
			for name, v := range hvs {
				if m, ok := v.(map[string]any); ok {
					hostvars[name] = m
				}
			}
		}
	}
	var order []string
	seen := map[string]bool{}
	addHost := func(name string) {
		if !seen[name] {
			seen[name] = true
			order = append(order, name)
		}
	}
	groupNames := make([]string, 0, len(raw))
	for g := range raw {
		if g != "_meta" {
			groupNames = append(groupNames, g)
		}
	}
	sort.Strings(groupNames)
	members := map[string][]string{}
	children := map[string][]string{}
	for _, g := range groupNames {
		switch v := raw[g].(type) {
		case []any:
			for _, h := range v {
				if s, ok := h.(string); ok {
					members[g] = append(members[g], s)
					addHost(s)
				}
			}
		case map[string]any:
			if hs, ok := v["hosts"].([]any); ok {
				for _, h := range hs {
					if s, ok := h.(string); ok {
						members[g] = append(members[g], s)
						addHost(s)
					}
				}
			}
			if hs, ok := v["hosts"].(map[string]any); ok { // YAML-inventory shape
				names := slices.Sorted(maps.Keys(hs))
				for _, s := range names {
					members[g] = append(members[g], s)
					addHost(s)
					if m, ok := hs[s].(map[string]any); ok && hostvars[s] == nil {
						hostvars[s] = m
					}
				}
			}
			if cs, ok := v["children"].([]any); ok {
				for _, c := range cs {
					if s, ok := c.(string); ok {
						children[g] = append(children[g], s)
					}
				}
			}
		}
	}
	hostvarNames := slices.Sorted(maps.Keys(hostvars))
	for _, n := range hostvarNames {
		addHost(n)
	}
	// Expand children transitively.
	var expand func(g string, depth int) []string
	expand = func(g string, depth int) []string {
		out := slices.Clone(members[g])
		if depth > 16 {
			return out
		}
		for _, c := range children[g] {
			out = append(out, expand(c, depth+1)...)
		}
		return out
	}
	for _, name := range order {
		h := &Host{Name: name, Source: "ansible"}
		if err := parseConnector(h); err != nil {
			return err
		}
		v := hostvars[name]
		if s, ok := v["ansible_host"].(string); ok {
			h.Address = s
		}
		if s, ok := v["ansible_user"].(string); ok {
			if !transport.ValidUser(s) {
				return fmt.Errorf("host %s: invalid ansible_user %q", name, s)
			}
			h.User = s
		}
		switch p := v["ansible_port"].(type) {
		case int:
			h.Port = p
		case string:
			h.Port, _ = strconv.Atoi(p)
		}
		if h.Port < 0 || h.Port > 65535 {
			return fmt.Errorf("host %s: bad ansible_port", name)
		}
		if s, ok := v["ansible_ssh_private_key_file"].(string); ok {
			h.Key = s
		}
		if b, ok := v["ansible_become"].(bool); ok {
			h.Become = b
		}
		f.Hosts = append(f.Hosts, h)
	}
	for _, g := range groupNames {
		if g == "all" || g == "ungrouped" {
			continue
		}
		hs := expand(g, 0)
		if len(hs) == 0 {
			continue
		}
		f.Groups = append(f.Groups, &Group{Name: g, Hosts: dedupe(hs)})
	}
	return nil
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func parseCSV(data []byte, source string) (*Fleet, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	f := &Fleet{}
	if len(rows) == 0 {
		return f, nil
	}
	head := rows[0]
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.ToLower(h))
		switch h {
		case "name", "ssh_hostname", "ssh_user", "ssh_port", "ssh_key", "become", "groups":
			col[h] = i
		default:
			return nil, fmt.Errorf("CSV header: unknown column %q (known: name, ssh_hostname, ssh_user, ssh_port, ssh_key, become, groups)", h)
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, errors.New("CSV header: a name column is required")
	}
	get := func(row []string, k string) string {
		if i, ok := col[k]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	groups := map[string]*Group{}
	var gorder []string
	for n, row := range rows[1:] {
		h := &Host{Name: get(row, "name"), Source: source}
		if h.Name == "" {
			return nil, fmt.Errorf("CSV line %d: empty name", n+2)
		}
		if err := parseConnector(h); err != nil {
			return nil, fmt.Errorf("CSV line %d: %v", n+2, err)
		}
		h.Address, h.User, h.Key = get(row, "ssh_hostname"), get(row, "ssh_user"), get(row, "ssh_key")
		if h.User != "" && !transport.ValidUser(h.User) {
			return nil, fmt.Errorf("CSV line %d: invalid user %q", n+2, h.User)
		}
		if p := get(row, "ssh_port"); p != "" {
			port, err := strconv.Atoi(p)
			if err != nil || port < 1 || port > 65535 {
				return nil, fmt.Errorf("CSV line %d: bad ssh_port %q", n+2, p)
			}
			h.Port = port
		}
		if b := get(row, "become"); b != "" {
			v, err := strconv.ParseBool(b)
			if err != nil {
				return nil, fmt.Errorf("CSV line %d: become must be true or false", n+2)
			}
			h.Become = v
		}
		for _, g := range strings.FieldsFunc(get(row, "groups"), func(r rune) bool { return r == ';' || r == ' ' }) {
			if groups[g] == nil {
				groups[g] = &Group{Name: g}
				gorder = append(gorder, g)
			}
			groups[g].Hosts = append(groups[g].Hosts, h.Name)
		}
		f.Hosts = append(f.Hosts, h)
	}
	for _, g := range gorder {
		f.Groups = append(f.Groups, groups[g])
	}
	return f, nil
}

// ---- built-in providers --------------------------------------------------------------------

type execBoat struct {
	argv []string
	dir  string
	env  []string
}

func newExecBoat(cfg *yaml.Node, env BoatEnv) (Boat, error) {
	base := env.Dir
	var c struct {
		Command []string          `yaml:"command"`
		Dir     string            `yaml:"dir"`
		Env     map[string]string `yaml:"env"`
	}
	if cfg == nil {
		return nil, errors.New("exec: config.command is required (a list: [program, args...])")
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, fmt.Errorf("exec: config: %v (command is a list: [program, args...])", err)
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, errors.New("exec: config.command is required (a list: [program, args...])")
	}
	b := &execBoat{argv: c.Command, dir: base}
	if c.Dir != "" {
		b.dir = resolvePath(base, c.Dir)
	}
	if strings.Contains(b.argv[0], "/") {
		b.argv[0] = resolvePath(base, b.argv[0])
	}
	for k, v := range c.Env {
		b.env = append(b.env, k+"="+v)
	}
	sort.Strings(b.env)
	return b, nil
}

func resolvePath(base, p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	if filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

func (b *execBoat) Fetch(ctx context.Context) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, b.argv[0], b.argv[1:]...)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), b.env...)
	cmd.WaitDelay = 2e9
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		if msg != "" {
			return nil, "", fmt.Errorf("%s: %v: %s", b.argv[0], err, msg)
		}
		return nil, "", fmt.Errorf("%s: %v", b.argv[0], err)
	}
	return stdout.Bytes(), "", nil
}

type httpBoat struct {
	url      string
	headers  map[string]string
	tokenEnv string
	token    string // from bearer_token: {secret: PATH}
	format   string
	insecure bool
	warnings []string
}

// plainRemote reports whether u is plain http to a host other than this machine's loopback: there the
// bearer token, the headers and the inventory itself (addresses, users, keys, vars) could be read or
// changed on the way.
func plainRemote(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// Warnings implements boatWarner.
func (b *httpBoat) Warnings() []string { return b.warnings }

func newHTTPBoat(cfg *yaml.Node, env BoatEnv) (Boat, error) {
	var c struct {
		URL            string            `yaml:"url"`
		Headers        map[string]string `yaml:"headers"`
		BearerTokenEnv string            `yaml:"bearer_token_env"`
		BearerToken    yaml.Node         `yaml:"bearer_token"`
		Format         string            `yaml:"format"`
		Insecure       bool              `yaml:"insecure"`
	}
	if cfg == nil {
		return nil, errors.New("http: config.url is required")
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, fmt.Errorf("http: config: %v", err)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http: config.url must be an http(s) URL, got %q", c.URL)
	}
	b := &httpBoat{url: c.URL, headers: c.Headers, tokenEnv: c.BearerTokenEnv, format: c.Format, insecure: c.Insecure}
	if plainRemote(u) {
		if !c.Insecure {
			return nil, fmt.Errorf("http: config.url %q is plain http to another machine: the token, the headers and the inventory could be read or changed on the way; use https (or set insecure: true)", u.Redacted())
		}
		b.warnings = append(b.warnings, fmt.Sprintf("%s is plain http (insecure: true): the token, the headers and the inventory travel unprotected", u.Redacted()))
	}
	if c.BearerToken.Kind != 0 {
		path, err := SecretRef(&c.BearerToken, "http: config.bearer_token")
		if err != nil {
			return nil, err
		}
		if b.token, err = env.secret("http: config.bearer_token", path); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *httpBoat) Fetch(ctx context.Context) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, text/csv;q=0.5")
	for k, v := range b.headers {
		req.Header.Set(k, v)
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	} else if b.tokenEnv != "" {
		tok := os.Getenv(b.tokenEnv)
		if tok == "" {
			return nil, "", fmt.Errorf("http: bearer token variable %s is not set", b.tokenEnv)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
		// A redirect must not take the token (kept by Go for the same host) to plain http either.
		if plainRemote(r.URL) && !b.insecure {
			return fmt.Errorf("redirected to plain http %s: refused (use https, or set insecure: true)", r.URL.Redacted())
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", b.url, resp.Status)
	}
	format := b.format
	if format == "" && strings.Contains(resp.Header.Get("Content-Type"), "csv") {
		format = "csv"
	}
	return body, format, nil
}

type fileBoat struct {
	path   string
	format string
}

func newFileBoat(cfg *yaml.Node, env BoatEnv) (Boat, error) {
	base := env.Dir
	var c struct {
		Path   string `yaml:"path"`
		Format string `yaml:"format"`
	}
	if cfg == nil {
		return nil, errors.New("file: config.path is required")
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, fmt.Errorf("file: config: %v", err)
	}
	if c.Path == "" {
		return nil, errors.New("file: config.path is required")
	}
	if c.Format == "" {
		switch strings.ToLower(filepath.Ext(c.Path)) {
		case ".csv":
			c.Format = "csv"
		case ".json":
			c.Format = "json"
		default:
			c.Format = "yaml"
		}
	}
	if !slices.Contains([]string{"csv", "json", "yaml"}, c.Format) {
		return nil, fmt.Errorf("file: format must be yaml, json or csv, got %q", c.Format)
	}
	return &fileBoat{path: resolvePath(base, c.Path), format: c.Format}, nil
}

func (b *fileBoat) Fetch(context.Context) ([]byte, string, error) {
	data, err := os.ReadFile(b.path)
	return data, b.format, err
}
