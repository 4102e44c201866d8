package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"

	"go.yaml.in/yaml/v3"
)

func load(t *testing.T, text string) *chobolo.Chobolo {
	t.Helper()
	p := filepath.Join(t.TempDir(), "machine.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := chobolo.Load(p, chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var roleNames = map[string]string{"users": "users", "usr": "users", "packages": "packages", "pkgs": "packages",
	"services": "services", "files": "files", "hostname": "hostname"}

func canonical(s string) string { return roleNames[s] }

func decode(t *testing.T, text string) *Fleet {
	t.Helper()
	f, err := Decode(load(t, text), canonical, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Resolve(); err != nil {
		t.Fatal(err)
	}
	return f
}

func names(hs []*Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

const inv = `
fleet:
  parallelism: 4
  hosts:
    web1: {ssh_hostname: 10.0.0.1, ssh_user: deploy, ssh_port: 2222, ssh_key: ~/.ssh/k, become: true, groups: [web]}
    web2: {groups: [web, eu]}
    db1: {groups: [db, eu]}
    db2: {}
    "@local": {}
    "@chroot/mnt/x": {}
  groups:
    db:
      hosts: [db2]
      vars: {hostname: dbhost}
`

func TestDecodeBothShapes(t *testing.T) {
	f := decode(t, inv)
	if f.Parallelism != 4 || len(f.Hosts) != 6 {
		t.Fatalf("fleet = %+v", f)
	}
	w := f.Hosts[0]
	if w.Address != "10.0.0.1" || w.User != "deploy" || w.Port != 2222 || !w.Become || w.Connector != "ssh" {
		t.Fatalf("web1 = %+v", w)
	}
	if f.Hosts[4].Spec() != "@local" || f.Hosts[5].Spec() != "@chroot/mnt/x" {
		t.Fatalf("connectors: %+v %+v", f.Hosts[4], f.Hosts[5])
	}
	if !slices.Contains(f.Hosts[3].Groups, "db") {
		t.Fatalf("db2 groups = %v", f.Hosts[3].Groups)
	}
	list := decode(t, "fleet:\n  hosts:\n    - web1: {ssh_user: root}\n    - \"@local\": {}\n    - plain\n")
	if got := names(list.Hosts); !slices.Equal(got, []string{"web1", "@local", "plain"}) || list.Hosts[0].User != "root" {
		t.Fatalf("list shape = %v", got)
	}
	if d := decode(t, "hostname: x\n"); len(d.Hosts) != 0 || d.Parallelism != DefaultParallelism {
		t.Fatalf("no fleet = %+v", d)
	}
}

// Container and tool connectors are fleet hosts, by name or with connector:; SSH settings apply
// to the hosts reached over SSH.
func TestDecodeConnectors(t *testing.T) {
	f := decode(t, "fleet:\n  hosts:\n"+
		"    \"@podman/web1\": {}\n"+
		"    db: {connector: \"@docker/db1\", groups: [data]}\n"+
		"    app: {connector: \"@dockerssh/ops@build1:2222/app\", become: true}\n"+
		"    vm: {connector: \"@vagrant/default\", ssh_key: /k}\n"+
		"    \"@terraform/infra:web\": {ssh_user: admin}\n"+
		"    old: {connector: \"root@10.0.0.9:2200\"}\n")
	want := []Host{
		{Name: "@podman/web1", Connector: "podman", Target: "@podman/web1"},
		{Name: "db", Connector: "docker", Target: "@docker/db1"},
		{Name: "app", Connector: "dockerssh", Target: "@dockerssh/ops@build1:2222/app", Become: true},
		{Name: "vm", Connector: "vagrant", Target: "@vagrant/default", Key: "/k"},
		{Name: "@terraform/infra:web", Connector: "terraform", Target: "@terraform/infra:web", User: "admin"},
		{Name: "old", Connector: "ssh", Address: "10.0.0.9", User: "root", Port: 2200},
	}
	if len(f.Hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(f.Hosts), len(want))
	}
	for i, w := range want {
		h := f.Hosts[i]
		if h.Name != w.Name || h.Connector != w.Connector || h.Target != w.Target || h.Become != w.Become ||
			h.Key != w.Key || h.User != w.User || h.Address != w.Address || h.Port != w.Port {
			t.Errorf("host %d = %+v, want %+v", i, *h, w)
		}
	}
}

func TestDecodeErrorsHavePositions(t *testing.T) {
	t.Setenv("CHAOS_SOUL_PATH", t.TempDir())
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // no Soul of the developer's
	for _, tc := range []struct{ text, want string }{
		{"fleet:\n  hosts:\n    web1: {ssh_prot: 22}\n", `machine.yml:3:12: error: fleet.hosts.web1: unknown host setting "ssh_prot"`},
		{"fleet:\n  hosts:\n    web1: {ssh_password: x}\n", "passwords do not belong"},
		{"fleet:\n  hosts:\n    web1: {become: true, become_password: hunter2}\n", "machine.yml:3:43: error: fleet.hosts.web1.become_password: name a secret"},
		{"fleet:\n  hosts:\n    web1: {become_password: {secret: a.b}}\n", "has become_password but not become: true"},
		{"fleet:\n  groups:\n    web: {become_password: {secret: \"\"}}\n", "must be a dotted path"},
		{"fleet:\n  hosts:\n    \"@local\": {become: true, become_password: {secret: a}}\n", "not reached over SSH"},
		{"fleet:\n  parallelism: -1\n", "machine.yml:2:16"},
		{"fleet:\n  hosts:\n    \"@lxc/x\": {}\n", "unknown connector"},
		// Container and tool connectors: in the name or as connector:, checked with positions.
		{"fleet:\n  hosts:\n    web: {connector: \"@podman/\"}\n", `machine.yml:3:22: error: fleet.hosts.web.connector: target "@podman/": @podman/NAME needs a container name`},
		{"fleet:\n  hosts:\n    web: {connector: \"@dockerssh/app\"}\n", `machine.yml:3:22: error: fleet.hosts.web.connector: target "@dockerssh/app": @dockerssh/HOST/NAME needs an SSH host`},
		{"fleet:\n  hosts:\n    web: {connector: \"@pid/42\"}\n", `machine.yml:3:22: error: fleet.hosts.web.connector: "@pid/42": @pid targets cannot be fleet hosts`},
		{"fleet:\n  hosts:\n    \"@podman/x\": {connector: \"@docker/y\"}\n", "machine.yml:3:30: error: fleet.hosts.@podman/x.connector: host @podman/x is already named as a connector"},
		{"fleet:\n  hosts:\n    \"@podman/x\": {ssh_user: a}\n", "machine.yml:3:5: error: fleet.hosts: host @podman/x is not reached over SSH"},
		{"fleet:\n  hosts:\n    web: {connector: \"@docker/x\", become: true}\n", "host web is not reached over SSH"},
		{"fleet:\n  hosts:\n    web: {connector: \"@vagrant/b\", ssh_hostname: h}\n", "vagrant ssh-config gives the address"},
		{"fleet:\n  hosts:\n    \"@pid/42\": {}\n", "@pid targets cannot be fleet hosts"},
		{"fleet:\n  hosts:\n    \"a;b\": {}\n", "only letters"},
		// Fleet hosts share the --target parser: no spelling of a chroot of / is a quiet @local.
		{"fleet:\n  hosts:\n    \"@chroot/\": {}\n", `machine.yml:3:5: error: fleet.hosts: host target "@chroot/": no directory after @chroot/`},
		{"fleet:\n  hosts:\n    \"@chroot//\": {}\n", `target "@chroot//": the directory is /, the machine chaos runs on`},
		{"fleet:\n  hosts:\n    \"@chroot/..\": {}\n", `target "@chroot/..": the directory is /`},
		{"fleet:\n  hosts:\n    \"@localhost\": {}\n", `target "@localhost": unknown connector`},
		{"fleet:\n  hosts:\n    /mnt/root: {}\n", "did you mean @chroot//mnt/root?"},
		{"fleet:\n  hosts:\n    web1: {ssh_user: \"-oProxyCommand=x\"}\n", "invalid user name"},
		{"fleet:\n  restrictions:\n    black_list:\n      web1: {nosuchrole: true}\n", `unknown role "nosuchrole"`},
		{"fleet:\n  boats:\n    - provider: ec9\n", `unknown provider "ec9"`},
		{"fleet:\n  boats:\n    - {provider: file, soul: cmdb}\n", `machine.yml:3:30: error: fleet.boats[0]: provider and soul are exclusive`},
		{"fleet:\n  boats:\n    - soul: cmdb\n", `machine.yml:3:13: error: fleet.boats[0]: no installed Soul provides the boat "cmdb"`},
		{"fleet:\n  hosts: {web1: {}}\n  groups:\n    web: [web9]\n", `host "web9" is not in the fleet`},
	} {
		c := load(t, tc.text)
		f, err := Decode(c, canonical, nil)
		if err == nil {
			err = f.Resolve()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestLimit(t *testing.T) {
	f := decode(t, inv)
	dir := t.TempDir()
	file := filepath.Join(dir, "hosts.txt")
	os.WriteFile(file, []byte("# comment\nweb1\ndb*\n"), 0o644)
	for _, tc := range []struct {
		pat  string
		want []string
	}{
		{"web1", []string{"web1"}},
		{"web", []string{"web1", "web2"}},
		{"web*", []string{"web1", "web2"}},
		{"db1,web2", []string{"web2", "db1"}},
		{"eu,&web", []string{"web2"}},
		{"all,!eu", []string{"web1", "db2", "@local", "@chroot/mnt/x"}},
		{"!eu", []string{"web1", "db2", "@local", "@chroot/mnt/x"}},
		{"~^db[0-9]$", []string{"db1", "db2"}},
		{"@" + file, []string{"web1", "db1", "db2"}},
		{"@" + file + ",!db2", []string{"web1", "db1"}},
		{"@local", []string{"@local"}},
		{"*", []string{"web1", "web2", "db1", "db2", "@local", "@chroot/mnt/x"}},
		{"nomatch*", nil},
	} {
		got, err := Limit(f, tc.pat, nil)
		if err != nil || !slices.Equal(names(got), tc.want) {
			t.Errorf("Limit(%q) = %v, %v; want %v", tc.pat, names(got), err, tc.want)
		}
	}
	// Only the exact connector spellings are hosts: "@localweb" is a file of patterns, as any @FILE.
	readFile := func(p string) ([]byte, error) {
		if p != "localweb" {
			return nil, os.ErrNotExist
		}
		return []byte("web1\n"), nil
	}
	if got, err := Limit(f, "@localweb", readFile); err != nil || !slices.Equal(names(got), []string{"web1"}) {
		t.Errorf("Limit(@localweb) = %v, %v; want the file's web1", names(got), err)
	}
	for _, bad := range []string{"wbe1", "~(", "", "@/no/such/file"} {
		if _, err := Limit(f, bad, nil); err == nil {
			t.Errorf("Limit(%q) succeeded", bad)
		}
	}
	if _, err := Limit(f, "wbe1", nil); !strings.Contains(err.Error(), `did you mean "web1"`) {
		t.Errorf("no suggestion: %v", err)
	}
}

func TestRestrictions(t *testing.T) {
	f := decode(t, inv+`  restrictions:
    allow_list:
      web1: {users: true, files: true}
    black_list:
      web2: {usr: true}
      db: {}
      "@local": {packages: true, services: false}
`)
	skip := func(host, role string) string {
		for _, h := range f.Hosts {
			if h.Name == host {
				fn, err := f.Restrictions.For(h)
				if err != nil {
					t.Fatal(err)
				}
				if fn == nil {
					return ""
				}
				return fn(role)
			}
		}
		t.Fatalf("no host %s", host)
		return ""
	}
	for _, tc := range []struct {
		host, role string
		skipped    bool
	}{
		{"web1", "users", false}, {"web1", "files", false}, {"web1", "packages", true},
		{"web2", "users", true}, {"web2", "packages", false},
		{"db1", "users", true}, {"db2", "files", true},
		{"@local", "packages", true}, {"@local", "services", false},
		{"@chroot/mnt/x", "users", false},
	} {
		if got := skip(tc.host, tc.role) != ""; got != tc.skipped {
			t.Errorf("%s/%s skipped = %v, want %v (%q)", tc.host, tc.role, got, tc.skipped, skip(tc.host, tc.role))
		}
	}
	// The original's top-level spelling still loads.
	top := decode(t, "fleet:\n  hosts: {web1: {}}\nrestrictions:\n  black_list:\n    web1: {users: true}\n")
	fn, _ := top.Restrictions.For(top.Hosts[0])
	if fn == nil || fn("users") == "" {
		t.Fatal("top-level restrictions ignored")
	}
	// Allowed and black-listed at once is an error.
	both := decode(t, "fleet:\n  hosts: {web1: {}}\n  restrictions:\n    allow_list: {web1: {users: true}}\n    black_list: {web1: {users: true}}\n")
	if _, err := both.Restrictions.For(both.Hosts[0]); err == nil || !strings.Contains(err.Error(), "both allowed") {
		t.Fatalf("conflict: %v", err)
	}
}

func TestChoboloForDeepMergesVars(t *testing.T) {
	c := load(t, `hostname: base
users:
  - name: alice
    shell: bash
  - name: bob
files:
  - path: /etc/a
    content: "a\n"
fleet:
  hosts:
    web1:
      groups: [web]
      vars:
        hostname: web-one
        users:
          - name: alice
            shell: sh
    web2: {}
  groups:
    web:
      vars:
        hostname: web-group
        files:
          - path: /etc/b
            content: "b\n"
`)
	f, err := Decode(c, canonical, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Resolve(); err != nil {
		t.Fatal(err)
	}
	hc, err := ChoboloFor(c, f, f.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	if hc.Hostname != "web-one" || len(hc.Users) != 2 || hc.Users[0].Shell != "sh" || len(hc.Files) != 2 {
		t.Fatalf("merged = hostname %q users %+v files %d", hc.Hostname, hc.Users, len(hc.Files))
	}
	if same, _ := ChoboloFor(c, f, f.Hosts[1]); same != c {
		t.Fatal("a host without vars must share the Ch-obolo")
	}
	bad := load(t, "fleet:\n  hosts:\n    web1:\n      vars: {hostname: \"bad name!\"}\n")
	bf, _ := Decode(bad, canonical, nil)
	if _, err := ChoboloFor(bad, bf, bf.Hosts[0]); err == nil || !strings.Contains(err.Error(), "fleet vars of host web1") {
		t.Fatalf("invalid vars: %v", err)
	}
}

func TestRunParallelSerialAndFailures(t *testing.T) {
	var hosts []*Host
	for i := range 10 {
		hosts = append(hosts, &Host{Name: fmt.Sprintf("h%d", i)})
	}
	var running, peak atomic.Int32
	apply := func(ctx context.Context, h *Host) Result {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		switch h.Name {
		case "h3":
			return Result{Status: Unreachable, Error: "dial: timeout"}
		case "h4":
			panic("boom")
		}
		return Result{Status: Changed, Changes: 2}
	}
	res := Run(context.Background(), hosts, RunOptions{Parallelism: 3}, apply, nil)
	if peak.Load() != 3 {
		t.Errorf("peak parallelism %d, want 3", peak.Load())
	}
	if res[3].Status != Unreachable || res[4].Status != Failed || res[9].Status != Changed || res[0].Name != "h0" {
		t.Fatalf("results = %+v", res)
	}
	// Rolling batches of 4 with max_fail_percentage 20: the first batch (h3 unreachable: 25%) stops the run.
	peak.Store(0)
	res = Run(context.Background(), hosts, RunOptions{Parallelism: 50, Serial: 4, MaxFailPercentage: 20}, apply, nil)
	if peak.Load() > 4 || res[2].Status != Changed || res[4].Status != Skipped || !strings.Contains(res[8].Error, "max_fail_percentage") {
		t.Fatalf("serial results = %+v (peak %d)", res, peak.Load())
	}
	var b strings.Builder
	Summary(&b, res)
	if !strings.Contains(b.String(), "10 hosts: 3 changed, 1 unreachable, 6 skipped") {
		t.Fatalf("summary:\n%s", b.String())
	}
}

func TestBoats(t *testing.T) {
	dir := t.TempDir()
	ansible := `{"_meta": {"hostvars": {"a1": {"ansible_host": "10.1.0.1", "ansible_user": "ubuntu", "ansible_port": 2200}}},
 "all": {"children": ["web"]}, "web": {"hosts": ["a1", "a2"], "vars": {"x": 1}}}`
	script := filepath.Join(dir, "inv.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = --list ] || exit 3\ncat <<'EOF'\n"+ansible+"\nEOF\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "hosts.csv"), []byte("name,ssh_hostname,ssh_user,groups\nc1,10.2.0.1,root,db;eu\nc2,,,db\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hosts.yml"), []byte("hosts:\n  y1: {ssh_user: root}\ngroups:\n  yg: [y1]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "slow.sh"), []byte("#!/bin/sh\nsleep 5\n"), 0o755)
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"h1": {"ssh_hostname": "10.3.0.1"}}, "h2"]`)
	}))
	defer srv.Close()
	t.Setenv("CHAOS_TEST_TOKEN", "tok")
	text := fmt.Sprintf(`fleet:
  hosts:
    static1: {}
    a2: {ssh_user: keep}
  boats:
    - {provider: exec, config: {command: [./inv.sh, --list]}}
    - {provider: file, config: {path: hosts.csv}}
    - {provider: file, config: {path: hosts.yml}}
    - {provider: http, config: {url: %q, bearer_token_env: CHAOS_TEST_TOKEN}}
    - {provider: exec, name: slow, timeout: 200ms, config: {command: [./slow.sh]}}
`, srv.URL)
	p := filepath.Join(dir, "machine.yml")
	os.WriteFile(p, []byte(text), 0o644)
	c, err := chobolo.Load(p, chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(c, canonical, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	results, warnings, err := f.LoadBoats(context.Background(), BoatEnv{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("boats took %s: timeout not applied", time.Since(start))
	}
	if err := f.Resolve(); err != nil {
		t.Fatal(err)
	}
	want := []string{"static1", "a2", "a1", "c1", "c2", "y1", "h1", "h2"}
	if got := names(f.Hosts); !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v (results %+v, warnings %v)", got, want, results, warnings)
	}
	if f.Hosts[1].User != "keep" || f.Hosts[2].Address != "10.1.0.1" || f.Hosts[2].User != "ubuntu" || f.Hosts[2].Port != 2200 {
		t.Fatalf("ansible host vars: %+v %+v", f.Hosts[1], f.Hosts[2])
	}
	if f.Hosts[6].Address != "10.3.0.1" || auth.Load() != "Bearer tok" || f.Hosts[2].Source != "boat exec#1" {
		t.Fatalf("http boat: %+v auth %v", f.Hosts[6], auth.Load())
	}
	if !slices.Contains(f.Hosts[2].Groups, "web") || !slices.Contains(f.Hosts[3].Groups, "eu") || !slices.Contains(f.Hosts[5].Groups, "yg") {
		t.Fatalf("groups: %v %v %v", f.Hosts[2].Groups, f.Hosts[3].Groups, f.Hosts[5].Groups)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "\n"), "boat slow (exec): timed out") {
		t.Fatalf("warnings = %q", warnings)
	}
	// required: true turns a failed boat into an error.
	f.Boats = []BoatSpec{{Provider: "exec", Name: "req", Required: true, Timeout: time.Second,
		Config: f.Boats[0].Config}}
	f.Boats[0].Config.Content[1].Content[0].Value = "./no-such"
	if _, _, err := f.LoadBoats(context.Background(), BoatEnv{Dir: dir}); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "boat req") {
		t.Fatalf("required boat: %v", err)
	}
}

func TestBecomeSecret(t *testing.T) {
	f := decode(t, `fleet:
  hosts:
    own: {become: true, become_password: {secret: sudo.own}, groups: [web]}
    member: {become: true, groups: [db, web]}
    nobecome: {groups: [web]}
    plain: {become: true}
  groups:
    db: {}
    web: {become_password: {secret: sudo.web}}
`)
	asked := 0
	o := ConnectOptions{Secret: func(p string) (string, error) {
		asked++
		if p == "sudo.web" {
			return "pw", nil
		}
		return "", fmt.Errorf("secret %s is not in s.yaml", p)
	}}
	for _, tc := range []struct{ host, secret, pass, err string }{
		{"own", "sudo.own", "", "own: become_password: secret sudo.own is not in s.yaml"},
		{"member", "sudo.web", "pw", ""},
		{"nobecome", "sudo.web", "", ""}, // named, but sudo is not used: never asked
		{"plain", "", "", ""},
	} {
		h := host(t, f, tc.host)
		if got := f.BecomeSecret(h); got != tc.secret {
			t.Errorf("%s: BecomeSecret = %q, want %q", tc.host, got, tc.secret)
		}
		pass, err := f.BecomePassword(h, o)
		if string(pass) != tc.pass || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%s: BecomePassword = %q, %v; want %q, %q", tc.host, pass, err, tc.pass, tc.err)
		}
	}
	if asked != 2 {
		t.Errorf("secrets asked %d times, want 2", asked)
	}
	if _, err := f.BecomePassword(host(t, f, "member"), ConnectOptions{}); err == nil || !strings.Contains(err.Error(), "no secrets file is available") {
		t.Errorf("without secrets: %v", err)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		spec, addr, user string
		port             int
	}{
		{"web1", "web1", "", 0}, {"root@10.0.0.1:2222", "10.0.0.1", "root", 2222}, {"[::1]:22", "::1", "", 22}, {"fe80::1", "fe80::1", "", 0},
	} {
		h, err := ParseTarget(tc.spec)
		if err != nil || h.Address != tc.addr || h.User != tc.user || h.Port != tc.port {
			t.Errorf("ParseTarget(%q) = %+v, %v", tc.spec, h, err)
		}
	}
	// A bare path used to become an SSH host named "/mnt/root".
	for spec, want := range map[string]string{
		"/mnt/root": `target "/mnt/root": a path is not a target (an SSH host has no '/'); did you mean @chroot//mnt/root?`,
		"@chroot/":  "no directory after @chroot/",
		"@pid/42":   "not fleet hosts",
	} {
		if h, err := ParseTarget(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %q", spec, h, err, want)
		}
	}
}

// The http boat never sends its token (or fetches an inventory) over plain http to another machine,
// not even after a redirect, unless insecure: true says so, which is then a warning.
func TestHTTPBoatPlainHTTP(t *testing.T) {
	boat := func(cfg string) (Boat, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(cfg), &n); err != nil {
			t.Fatal(err)
		}
		return newHTTPBoat(n.Content[0], BoatEnv{})
	}
	for _, u := range []string{"http://10.213.250.1/inv", "http://inventory.example/inv", "http://[2001:db8::1]:8080/"} {
		if _, err := boat(fmt.Sprintf("{url: %q, bearer_token_env: TOK}", u)); err == nil || !strings.Contains(err.Error(), "plain http to another machine") {
			t.Errorf("%s: err = %v, want a refusal", u, err)
		}
		b, err := boat(fmt.Sprintf("{url: %q, bearer_token_env: TOK, insecure: true}", u))
		if err != nil {
			t.Fatalf("%s with insecure: true: %v", u, err)
		}
		if w := b.(boatWarner).Warnings(); len(w) != 1 || !strings.Contains(w[0], "plain http (insecure: true)") {
			t.Errorf("%s with insecure: true: warnings %q", u, w)
		}
	}
	for _, u := range []string{"https://inventory.example/inv", "http://127.0.0.1:8080/", "http://localhost/", "http://[::1]/"} {
		b, err := boat(fmt.Sprintf("{url: %q, bearer_token_env: TOK}", u))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if w := b.(boatWarner).Warnings(); len(w) != 0 {
			t.Errorf("%s: warnings %q", u, w)
		}
	}

	// A loopback server redirecting to plain http elsewhere: refused before any request goes there.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.213.250.1/inv", http.StatusFound)
	}))
	defer srv.Close()
	t.Setenv("TOK", "secret-token")
	b, err := boat(fmt.Sprintf("{url: %q, bearer_token_env: TOK}", srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := b.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "redirected to plain http http://10.213.250.1/inv: refused") {
		t.Fatalf("redirect: err = %v, want a refusal", err)
	}
}
