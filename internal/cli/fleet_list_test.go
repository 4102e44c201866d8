package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/fleet/fleettest"
)

// TestFleetList: `chaos fleet list` merges static hosts, groups, a file boat and the ec2 boat (the
// real SDK client against the EC2 emulation, credentials from the secrets file), as a table and as
// JSON, with --limit; a failing boat is a warning.
func TestFleetList(t *testing.T) {
	_, dir := isolateSecrets(t)
	fleettest.IsolateAWS(t)
	secrets := filepath.Join(dir, "secrets.yaml")
	mustRun(t, "", "secrets", "init", "-sf", secrets)
	mustRun(t, "AKIDFLEETLIST\n", "secrets", "set", "-sf", secrets, "aws.key")
	mustRun(t, "list-secret-key\n", "secrets", "set", "-sf", secrets, "aws.secret")
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDFLEETLIST", "list-secret-key",
		fleettest.Instance{ID: "i-01", State: "running", PrivateIP: "10.0.0.1", PublicIP: "54.0.0.1", Tags: map[string]string{"Name": "api-1", "role": "api"}},
		fleettest.Instance{ID: "i-02", State: "running", PrivateIP: "10.0.0.2", PublicIP: "54.0.0.2", Tags: map[string]string{"Name": "api-2", "role": "api"}},
		fleettest.Instance{ID: "i-03", State: "stopped", PrivateIP: "10.0.0.3", Tags: map[string]string{"Name": "api-3", "role": "api"}},
		fleettest.Instance{ID: "i-04", State: "running", PrivateIP: "10.0.0.4", Tags: map[string]string{"Name": "worker-1", "role": "worker"}},
	)
	os.WriteFile(filepath.Join(dir, "extra.csv"), []byte("name,ssh_hostname,ssh_user,groups\nlegacy1,192.168.1.9,admin,db\n"), 0o644)
	file := filepath.Join(dir, "fleet.yml")
	os.WriteFile(file, []byte(fmt.Sprintf(`secrets:
  file: secrets.yaml
fleet:
  hosts:
    web1: {ssh_hostname: 10.1.0.1, ssh_user: deploy, ssh_port: 2222, become: true, become_password: {secret: sudo.web1}, groups: [web]}
    web2: {groups: [web]}
    "@local": {}
    "@chroot/mnt/img": {}
  groups:
    db: {become_password: {secret: sudo.db}}
  boats:
    - {provider: file, name: legacy, config: {path: extra.csv}}
    - provider: ec2
      name: aws
      config:
        region: eu-test-1
        endpoint: %s
        access_key_id: {secret: aws.key}
        secret_access_key: {secret: aws.secret}
        address: [public_ip, private_ip]
        group_by_tag: role
        ssh_user: ubuntu
    - {provider: http, name: down, config: {url: "http://127.0.0.1:1/inventory"}}
`, emu.URL)), 0o644)

	r := mustRun(t, "", "fleet", "list", "-c", file)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	wantRows := [][]string{
		{"HOST", "SOURCE", "CONNECTOR", "ADDRESS", "USER", "PORT", "GROUPS"},
		{"web1", "static", "ssh", "10.1.0.1", "deploy", "(sudo)", "2222", "web"},
		{"web2", "static", "ssh", "web2", "-", "-", "web"},
		{"@local", "static", "local", "-", "-", "-", "-"},
		{"@chroot/mnt/img", "static", "chroot", "/mnt/img", "-", "-", "-"},
		{"legacy1", "boat", "legacy", "(file)", "ssh", "192.168.1.9", "admin", "-", "db"},
		{"api-1", "boat", "aws", "(ec2)", "ssh", "54.0.0.1", "ubuntu", "-", "api"},
		{"api-2", "boat", "aws", "(ec2)", "ssh", "54.0.0.2", "ubuntu", "-", "api"},
		{"worker-1", "boat", "aws", "(ec2)", "ssh", "10.0.0.4", "ubuntu", "-", "worker"},
	}
	if len(lines) != len(wantRows)+1 {
		t.Fatalf("fleet list (emulation: %v):\n%s", emu.AuthErrors(), r)
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[i]); !slices.Equal(got, want) {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "8 hosts; boats: legacy (file) 1 in ") ||
		!strings.Contains(last, "aws (ec2) 3 in ") || !strings.Contains(last, "down (http) failed") {
		t.Errorf("totals line = %q", last)
	}
	if !strings.Contains(r.stderr, "boat down (http)") || !strings.Contains(r.stderr, "continuing without its hosts") {
		t.Errorf("the failing boat is not reported:\n%s", r.stderr)
	}

	// --json and --limit: a group of EC2 hosts plus a static host, minus one.
	hosts, boats := fleetListJSON(t, "-c", file, "--limit", "api,web1,!api-2")
	var names []string
	for _, h := range hosts {
		names = append(names, h["name"].(string))
	}
	if !slices.Equal(names, []string{"web1", "api-1"}) {
		t.Fatalf("--limit: hosts %v", names)
	}
	w1, a1 := hosts[0], hosts[1]
	if w1["source"] != "static" || w1["address"] != "10.1.0.1" || w1["user"] != "deploy" || w1["port"] != 2222.0 ||
		w1["become"] != true || w1["become_password_secret"] != "sudo.web1" || w1["connector"] != "ssh" {
		t.Errorf("web1 = %v", w1)
	}
	if a1["source"] != "boat" || a1["boat"] != "aws" || a1["provider"] != "ec2" || a1["address"] != "54.0.0.1" ||
		fmt.Sprint(a1["groups"]) != "[api]" {
		t.Errorf("api-1 = %v", a1)
	}
	if len(boats) != 3 || boats[1]["name"] != "aws" || boats[1]["hosts"] != 3.0 || boats[2]["error"] == nil {
		t.Errorf("boats = %v", boats)
	}
	if r := run(t, "", "fleet", "list", "-c", file, "--limit", "apii"); r.code != 1 || !strings.Contains(r.stderr, `did you mean "api"`) {
		t.Errorf("--limit typo:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "list-secret-key") {
		t.Fatal("a secret value was printed")
	}
}

// fleetListJSON runs `chaos fleet list --json` and decodes it.
func fleetListJSON(t *testing.T, args ...string) (hosts []map[string]any, boats []map[string]any) {
	t.Helper()
	r := mustRun(t, "", append([]string{"fleet", "list", "--json"}, args...)...)
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
		Boats []map[string]any `json:"boats"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, r)
	}
	return doc.Hosts, doc.Boats
}
