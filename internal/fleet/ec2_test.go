package fleet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/fleet/fleettest"
)

var ec2Instances = []fleettest.Instance{
	{ID: "i-0001", State: "running", PrivateIP: "10.0.0.1", PublicIP: "54.0.0.1", PublicDNS: "ec2-54-0-0-1.example.com",
		Tags: map[string]string{"Name": "web-1", "role": "web", "env": "prod"}},
	{ID: "i-0002", State: "running", PrivateIP: "10.0.0.2", Tags: map[string]string{"Name": "web 2 (canary)", "role": "web", "env": "prod"}},
	{ID: "i-0003", State: "stopped", PrivateIP: "10.0.0.3", Tags: map[string]string{"Name": "db-1", "role": "db", "env": "prod"}},
	{ID: "i-0004", State: "running", PrivateIP: "10.0.0.4", Reservation: "r-shared", Tags: map[string]string{"Name": "dup", "role": "db", "env": "prod"}},
	{ID: "i-0005", State: "running", PrivateIP: "10.0.0.5", Reservation: "r-shared", Tags: map[string]string{"Name": "dup", "env": "prod"}},
	{ID: "i-0006", State: "running", PrivateIP: "10.0.0.6", Tags: map[string]string{"env": "prod", "role": "all"}},
	{ID: "i-0007", State: "running", PrivateIP: "10.9.0.7", Tags: map[string]string{"Name": "staging-1", "env": "staging"}},
}

func ec2Fleet(t *testing.T, config string, env BoatEnv) (*Fleet, []BoatResult, []string, error) {
	t.Helper()
	c := load(t, "fleet:\n  hosts:\n    static1: {}\n  boats:\n    - provider: ec2\n      name: aws\n"+config)
	f, err := Decode(c, canonical, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, warn, err := f.LoadBoats(context.Background(), env)
	if err == nil {
		err = f.Resolve()
	}
	return f, res, warn, err
}

func host(t *testing.T, f *Fleet, name string) *Host {
	t.Helper()
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no host %s in %v", name, names(f.Hosts))
	return nil
}

// TestEC2Boat lists instances against the EC2 emulation (aws-sdk-go-v2 credentials and signer):
// credentials from secrets (the emulation checks the SigV4 signature), tag filters, only running
// instances, pagination, names and groups from tags, the address choice.
func TestEC2Boat(t *testing.T) {
	fleettest.IsolateAWS(t)
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDTESTCHAOS", "s3cr3t/key+value", ec2Instances...)
	vals := map[string]string{"aws.ec2.key": "AKIDTESTCHAOS", "aws.ec2.secret": "s3cr3t/key+value"}
	var asked []string
	env := BoatEnv{Dir: t.TempDir(), Secret: func(p string) (string, error) {
		asked = append(asked, p)
		if v, ok := vals[p]; ok {
			return v, nil
		}
		return "", fmt.Errorf("secret %s not found", p)
	}}
	cfg := fmt.Sprintf(`      config:
        region: eu-test-1
        endpoint: %s
        access_key_id: {secret: aws.ec2.key}
        secret_access_key: {secret: aws.ec2.secret}
        tags: {env: prod}
        group_by_tag: role
        ssh_user: admin
        ssh_port: 2222
`, emu.URL)
	f, res, warn, err := ec2Fleet(t, cfg, env)
	if err != nil || len(warn) > 0 {
		t.Fatalf("LoadBoats: %v %v (emulation: %v)", err, warn, emu.AuthErrors())
	}
	want := []string{"static1", "web-1", "web-2-canary", "dup-i-0004", "dup-i-0005", "i-0006"}
	if got := names(f.Hosts); !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v", got, want)
	}
	if res[0].Hosts != 5 || res[0].Provider != "ec2" || res[0].Name != "aws" {
		t.Fatalf("results = %+v", res)
	}
	w1 := host(t, f, "web-1")
	if w1.Address != "10.0.0.1" || w1.User != "admin" || w1.Port != 2222 || w1.Boat != "aws" || w1.Provider != "ec2" || w1.Source != "boat aws" {
		t.Fatalf("web-1 = %+v", w1)
	}
	if !slices.Equal(w1.Groups, []string{"web"}) || !slices.Equal(host(t, f, "dup-i-0004").Groups, []string{"db"}) ||
		len(host(t, f, "dup-i-0005").Groups) != 0 || !slices.Equal(host(t, f, "i-0006").Groups, []string{"all_"}) {
		t.Fatalf("groups: %v %v %v", w1.Groups, host(t, f, "dup-i-0004").Groups, host(t, f, "i-0006").Groups)
	}
	if got, err := Limit(f, "web", nil); err != nil || !slices.Equal(names(got), []string{"web-1", "web-2-canary"}) {
		t.Fatalf("--limit web = %v, %v", names(got), err)
	}
	reqs := emu.Requests()
	if len(reqs) != 3 || reqs[0].Get("NextToken") != "" || reqs[1].Get("NextToken") != "page-2" || reqs[2].Get("NextToken") != "page-4" {
		t.Fatalf("pagination: %d requests %v", len(reqs), reqs)
	}
	filters := map[string]string{}
	for k, v := range reqs[0] {
		if strings.HasPrefix(k, "Filter.") && strings.HasSuffix(k, ".Name") {
			filters[v[0]] = reqs[0].Get(strings.TrimSuffix(k, "Name") + "Value.1")
		}
	}
	if filters["tag:env"] != "prod" || filters["instance-state-name"] != "running" || len(filters) != 2 {
		t.Fatalf("filters sent: %v", filters)
	}
	if !slices.Equal(asked, []string{"aws.ec2.key", "aws.ec2.secret"}) {
		t.Fatalf("secrets asked: %v", asked)
	}

	// The standard credential chain, public addresses first, stopped instances too, a custom name tag.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTCHAOS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t/key+value")
	t.Setenv("AWS_REGION", "eu-test-1")
	cfg = fmt.Sprintf(`      config:
        endpoint: %s
        filters: {"tag:role": [web, db], instance-state-name: [running, stopped]}
        address: [public_ip, private_ip]
        group_by_tag: [role, env]
`, emu.URL)
	f, _, warn, err = ec2Fleet(t, cfg, BoatEnv{})
	if err != nil || len(warn) > 0 {
		t.Fatalf("default chain: %v %v (emulation: %v)", err, warn, emu.AuthErrors())
	}
	if got := names(f.Hosts); !slices.Equal(got, []string{"static1", "web-1", "web-2-canary", "db-1", "dup"}) {
		t.Fatalf("hosts = %v", got)
	}
	if host(t, f, "web-1").Address != "54.0.0.1" || host(t, f, "web-2-canary").Address != "10.0.0.2" {
		t.Fatalf("addresses: %+v", f.Hosts)
	}
	if g := host(t, f, "db-1").Groups; !slices.Equal(g, []string{"db", "prod"}) {
		t.Fatalf("db-1 groups = %v", g)
	}
	// An address kind no instance has is an error naming the instance.
	_, _, warn, _ = ec2Fleet(t, fmt.Sprintf("      config: {endpoint: %s, address: public_dns, tags: {Name: \"web 2*\"}}\n", emu.URL), BoatEnv{})
	if len(warn) != 1 || !strings.Contains(warn[0], "instance i-0002 (web-2-canary) has no public_dns address") {
		t.Fatalf("missing address: %v", warn)
	}
}

// TestEC2BoatFailures: bad credentials, an API error, a bad config; the run continues without the
// boat unless it is required, and no secret value appears in a message.
func TestEC2BoatFailures(t *testing.T) {
	fleettest.IsolateAWS(t)
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDTESTCHAOS", "right-secret", ec2Instances...)
	env := BoatEnv{Secret: func(p string) (string, error) {
		return map[string]string{"k": "AKIDTESTCHAOS", "s": "wrong-secret"}[p], nil
	}}
	cfg := fmt.Sprintf("      config: {region: eu-test-1, endpoint: %s, access_key_id: {secret: k}, secret_access_key: {secret: s}}\n", emu.URL)
	start := time.Now()
	f, res, warn, err := ec2Fleet(t, cfg, env)
	if err != nil || len(warn) != 1 || res[0].Err == nil {
		t.Fatalf("bad secret: err %v warnings %v", err, warn)
	}
	if !strings.Contains(warn[0], "boat aws (ec2): ec2: DescribeInstances in eu-test-1: AuthFailure: AWS was not able to validate") ||
		!strings.Contains(warn[0], "check the credentials") || !strings.Contains(warn[0], "continuing without its hosts") ||
		strings.Contains(warn[0], "wrong-secret") {
		t.Fatalf("warning = %q", warn[0])
	}
	if !slices.Equal(names(f.Hosts), []string{"static1"}) {
		t.Fatalf("hosts = %v", names(f.Hosts))
	}
	if a := emu.AuthErrors(); len(a) == 0 || a[0] != "signature mismatch" {
		t.Fatalf("the emulation did not refuse the signature: %v", a)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("AuthFailure took %s (retried?)", time.Since(start))
	}
	// required: true stops the run; the error comes from the API (AuthFailure returned by EC2).
	env.Secret = func(p string) (string, error) {
		return map[string]string{"k": "AKIDTESTCHAOS", "s": "right-secret"}[p], nil
	}
	emu.Fail("AuthFailure")
	_, _, _, err = ec2Fleet(t, strings.Replace(cfg, "config:", "required: true\n      config:", 1), env)
	if err == nil || !strings.Contains(err.Error(), "boat aws (ec2): ec2: DescribeInstances in eu-test-1: AuthFailure") {
		t.Fatalf("required boat: %v", err)
	}
	emu.Fail("")
	if _, _, warn, err = ec2Fleet(t, cfg, env); err != nil || len(warn) != 0 {
		t.Fatalf("recovered: %v %v", err, warn)
	}
	for _, tc := range []struct{ config, want string }{
		{"{region: x, access_key_id: AKIDPLAIN, secret_access_key: {secret: s}}", "name a secret"},
		{"{region: x, access_key_id: {secret: k}}", "go together"},
		{"{region: x, adress: public_ip}", `unknown config key "adress"`},
		{"{region: x, address: [elastic_ip]}", `unknown address "elastic_ip"`},
		{"{region: x, endpoint: ftp://x}", "http(s) URL"},
		{"{endpoint: " + emu.URL + "}", "no region"},
		{"{region: eu-test-1, access_key_id: {secret: k}, secret_access_key: {secret: s}, filters: {bogus-filter: 1}, endpoint: " + emu.URL + "}",
			"InvalidParameterValue: The filter 'bogus-filter' is invalid"},
	} {
		_, _, warn, err := ec2Fleet(t, "      config: "+tc.config+"\n", env)
		if err != nil || len(warn) != 1 || !strings.Contains(warn[0], tc.want) {
			t.Errorf("%s: warnings %v err %v, want %q", tc.config, warn, err, tc.want)
		}
	}
	// No secrets file: a clear error.
	_, _, warn, _ = ec2Fleet(t, cfg, BoatEnv{})
	if len(warn) != 1 || !strings.Contains(warn[0], "names the secret k, but no secrets file is available") {
		t.Fatalf("no secrets: %v", warn)
	}
}

// TestBoatsMergeWithEC2: static hosts, a file boat and the ec2 boat in one fleet.
func TestBoatsMergeWithEC2(t *testing.T) {
	fleettest.IsolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTCHAOS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sk")
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDTESTCHAOS", "sk", ec2Instances...)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hosts.csv"), []byte("name,ssh_hostname,groups\nweb-1,10.8.0.1,web\nc1,10.8.0.2,db\n"), 0o644)
	p := filepath.Join(dir, "machine.yml")
	os.WriteFile(p, []byte(fmt.Sprintf(`fleet:
  hosts:
    static1: {groups: [web]}
  groups:
    web: {vars: {hostname: webby}}
  boats:
    - {provider: file, name: csv, config: {path: hosts.csv}}
    - {provider: ec2, name: aws, config: {region: eu-test-1, endpoint: %s, tags: {env: prod}, group_by_tag: role}}
`, emu.URL)), 0o644)
	c, err := chobolo.Load(p, chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(c, canonical, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, warn, err := f.LoadBoats(context.Background(), BoatEnv{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Resolve(); err != nil {
		t.Fatal(err)
	}
	// web-1 comes from the file boat first; the EC2 instance of that name is dropped with a warning.
	if got := names(f.Hosts); !slices.Equal(got, []string{"static1", "web-1", "c1", "web-2-canary", "dup-i-0004", "dup-i-0005", "i-0006"}) {
		t.Fatalf("hosts = %v", got)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "boat aws: host web-1 is already declared") {
		t.Fatalf("warnings = %v", warn)
	}
	web, err := Limit(f, "web", nil)
	if err != nil || !slices.Equal(names(web), []string{"static1", "web-1", "web-2-canary"}) {
		t.Fatalf("--limit web = %v %v", names(web), err)
	}
	if h := host(t, f, "web-1"); h.Provider != "file" || h.Address != "10.8.0.1" {
		t.Fatalf("web-1 = %+v", h)
	}
}

// TestEC2BoatRetriesAndEndpointFromEnv: with no endpoint in the config, AWS_ENDPOINT_URL (read by the
// SDK's configuration) is used; a throttled request (EC2's RequestLimitExceeded, HTTP 503) is
// retried, as the SDK's standard retryer did, and credentials come from the environment chain.
func TestEC2BoatRetriesAndEndpointFromEnv(t *testing.T) {
	fleettest.IsolateAWS(t)
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDENVCHAOS", "env-secret", ec2Instances...)
	var mu sync.Mutex
	throttled := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := throttled == 0
		throttled++
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>`)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENVCHAOS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	f, _, warn, err := ec2Fleet(t, "      config:\n        region: eu-test-1\n        tags: {env: prod}\n", BoatEnv{Dir: t.TempDir()})
	if err != nil || len(warn) > 0 {
		t.Fatalf("LoadBoats: %v %v (emulation: %v)", err, warn, emu.AuthErrors())
	}
	if got := names(f.Hosts); len(got) != 6 {
		t.Fatalf("hosts = %v", got)
	}
	mu.Lock()
	n := throttled
	mu.Unlock()
	if n != 4 || len(emu.Requests()) != 3 {
		t.Fatalf("%d requests reached the proxy, %d the emulation; want 4 and 3 (one throttled, retried)", n, len(emu.Requests()))
	}
}
