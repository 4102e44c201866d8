package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// exampleSouls is the repository's examples/souls: a Soul path holding the cmdb boat (Python) and
// the keyfile provider (sh), used as installed.
func exampleSouls(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "souls"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// chaosExec runs the chaos binary with env (and nothing else of this process's environment but
// PATH); it returns the exit code and the combined output.
func chaosExec(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testenv.ChaosBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaos %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String()
}

// TestSoulBoat: the cmdb example Soul (Python, through the chaos binary) is the only source of the
// fleet's hosts, from a JSON file and from a command's output, with one Python process for both
// boats; `fleet list` shows them, `apply -f --dry` probes and plans them over SSH. A boat that fails
// contributes no host (required: the run stops, naming the Soul); check chobolo places a boat
// no Soul provides at FILE:LINE:COL.
func TestSoulBoat(t *testing.T) {
	testenv.RequireTool(t, "python3", "python3")
	hs := testenv.StartSSHHosts(t, 2)
	dir := t.TempDir()
	env := []string{"CHAOS_CONFIG_DIR=" + dir, "CHAOS_LIMANI=" + filepath.Join(dir, "limani.db"), "HOME=" + dir,
		"CHAOS_SOUL_PATH=" + exampleSouls(t)}
	// The CMDB's own record shape; the boat maps it (ip -> address, roles -> groups) and leaves
	// retired machines out.
	record := func(i int, extra string) string {
		h := hs.Hosts[i]
		return fmt.Sprintf(`{"hostname": %q, "ip": %q, "ssh_user": "root", "ssh_key": %q, "roles": ["web"]%s}`, h.Name, h.Addr, hs.KeyFile, extra)
	}
	fileDB := filepath.Join(dir, "cmdb.json")
	os.WriteFile(fileDB, []byte(`{"records": [`+record(0, `, "vars": {"hostname": "from-cmdb"}`)+`, {"hostname": "old1", "ip": "192.0.2.9", "retired": true}]}`), 0o644)
	cmdDB := filepath.Join(dir, "export.json")
	os.WriteFile(cmdDB, []byte(`[`+record(1, "")+`]`), 0o644)
	pids := filepath.Join(dir, "pids") // the process each command ran under: the Soul's
	chobolo := func(boats string) string {
		p := filepath.Join(t.TempDir(), "fleet.yml")
		os.WriteFile(p, []byte(fmt.Sprintf(`files:
  - path: /etc/motd
    content: "found by the cmdb boat\n"
fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}
  boats:
%s`, hs.KnownHosts, boats)), 0o644)
		return p
	}
	file := chobolo(fmt.Sprintf(`    - soul: cmdb
      name: inventory
      config: {file: %s}
    - soul: cmdb
      name: exported
      config: {command: [sh, -c, 'echo $PPID >> %[3]s; cat %[2]s']}
    - soul: cmdb
      name: empty
      config: {command: [sh, -c, 'echo $PPID >> %[3]s; echo []']}
`, fileDB, cmdDB, pids))

	code, out := chaosExec(t, env, "fleet", "list", "-c", file, "--json")
	if code != 0 {
		t.Fatalf("fleet list: exit %d\n%s", code, out)
	}
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
		Boats []map[string]any `json:"boats"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("fleet list --json: %v\n%s", err, out)
	}
	if len(doc.Hosts) != 2 {
		t.Fatalf("hosts: want h1 and h2 (old1 is retired): %v", doc.Hosts)
	}
	for i, h := range doc.Hosts {
		want := hs.Hosts[i]
		if h["name"] != want.Name || h["address"] != want.Addr || h["user"] != "root" || h["provider"] != "soul:cmdb" ||
			fmt.Sprint(h["groups"]) != "[web]" {
			t.Errorf("host %d = %v", i, h)
		}
	}
	if len(doc.Boats) != 3 || doc.Boats[0]["name"] != "inventory" || doc.Boats[1]["name"] != "exported" || doc.Boats[2]["hosts"] != 0.0 {
		t.Errorf("boats = %v", doc.Boats)
	}
	if ps := strings.Fields(testenv.ReadFile(t, "/", pids)); len(ps) != 2 || ps[0] != ps[1] {
		t.Errorf("the two command boats ran under Soul processes %v: want one process for the run", ps)
	}

	code, out = chaosExec(t, env, "apply", "-c", file, "-f", "--dry")
	if code != 2 || !strings.Contains(out, "2 hosts") || !strings.Contains(out, "h1") || !strings.Contains(out, "h2") {
		t.Fatalf("apply -f --dry: want exit 2 (changes pending on both hosts): exit %d\n%s", code, out)
	}
	for _, h := range hs.Hosts {
		if testenv.ReadFile(t, h.Root, "/etc/motd") == "found by the cmdb boat\n" {
			t.Fatalf("%s: a dry run wrote /etc/motd", h.Name)
		}
	}

	// A boat whose source is gone: required, the run stops before any host, naming the Soul; the
	// error is the Soul's own message.
	broken := chobolo(`    - soul: cmdb
      required: true
      config: {file: /nonexistent/cmdb.json}
`)
	code, out = chaosExec(t, env, "fleet", "list", "-c", broken)
	if code != 1 || !strings.Contains(out, "boat soul:cmdb#1 (soul:cmdb): soul cmdb: boat.hosts: config.file:") ||
		!strings.Contains(out, "No such file") {
		t.Fatalf("broken boat: exit %d\n%s", code, out)
	}

	// A boat no installed Soul provides: check chobolo names its position.
	unknown := chobolo("    - soul: cmdbx\n")
	code, out = chaosExec(t, env, "check", "chobolo", "-c", unknown)
	if code == 0 || !strings.Contains(out, unknown+":7:13:") || !strings.Contains(out, `no installed Soul provides the boat "cmdbx" (installed: cmdb)`) {
		t.Fatalf("check chobolo with an unknown soul boat: exit %d\n%s", code, out)
	}
}

// TestSoulProvider: `chaos apply -s` decrypts a sops file whose only key is handed over by the
// keyfile example Soul (sh, through the chaos binary): alice gets her password in a throwaway
// Debian root. Without the provider, or when the Soul cannot read its key, the key is missing, the
// error says so, and nothing is applied.
func TestSoulProvider(t *testing.T) {
	testenv.RequireRoot(t)
	pw := "Soul-Provided-" + rand.Text()[:10]
	s := newSecretEnv(t, "user_secrets:\n  alice:\n    password: "+pw+"\n")
	// Move chaos's own key out of reach: only the Soul can find it now.
	keys, _ := filepath.Glob(filepath.Join(s.cfg, "keys", "*.txt"))
	if len(keys) != 1 {
		t.Fatalf("chaos keys: %v", keys)
	}
	keyFile := filepath.Join(t.TempDir(), "usb-stick-age.txt")
	if err := os.Rename(keys[0], keyFile); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`secret_providers:
  stick: {type: soul, soul: keyfile, config: {file: %s}}
  lost: {type: soul, soul: keyfile, config: {file: /nonexistent/age.txt}}
`, keyFile)
	if err := os.WriteFile(filepath.Join(s.cfg, "config.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "CHAOS_SOUL_PATH="+exampleSouls(t))
	root := testenv.DebianRoot(t)
	cfile := filepath.Join(s.dir, "machine.yml")
	if err := os.WriteFile(cfile, []byte("users:\n  - name: alice\n    shell: bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	apply := func(extra ...string) (string, error) {
		return s.run(t, "", append([]string{"apply", "-s", "-sf", s.file, "-c", cfile, "--target", "@chroot" + root, "-y"}, extra...)...)
	}
	if out, err := apply(); err == nil || !strings.Contains(out, "no available key can decrypt this file") {
		t.Fatalf("apply -s without the provider: want no key: %v\n%s", err, out)
	}
	if out, err := apply("-p", "lost"); err == nil || !strings.Contains(out, "provider lost: soul keyfile: provider.key: config.file /nonexistent/age.txt: not readable; no key from it") {
		t.Fatalf("apply -s -p lost: %v\n%s", err, out)
	}
	if strings.Contains(testenv.ReadFile(t, root, "/etc/passwd"), "alice:") {
		t.Fatal("alice was created without the key")
	}
	out, err := apply("-p", "stick")
	if err != nil {
		t.Fatalf("apply -s -p stick: %v\n%s", err, out)
	}
	if strings.Contains(out, pw) || strings.Contains(out, "AGE-SECRET-KEY") {
		t.Fatalf("the output shows a secret:\n%s", out)
	}
	if h := shadowHash(t, root, "alice"); !verifyCrypt(t, h, pw) {
		t.Fatalf("alice's hash does not verify the password from the secrets file (%q)", h)
	}
}

// kindSoulPath builds testdata/kindsoul (a Go SDK Soul) and installs it as one Soul per behaviour:
// recorder (sink recorder, back end toy), crasher (sink crasher, back end crashy), stuck (sink
// stuck), escaper (back end escaper) and spy (boat spy, declaring the secret cmdb.token). It
// returns the Soul path.
func kindSoulPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kindsoul")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goTool, "build", "-o", bin, "./testdata/kindsoul")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/kindsoul: %v\n%s", err, out)
	}
	for _, s := range []struct{ name, mode, kinds string }{
		{"recorder", "record", "limanis: [{name: recorder}]\nchimera: [{name: toy}]\n"},
		{"crasher", "crash", "limanis: [{name: crasher}]\nchimera: [{name: crashy}]\n"},
		{"stuck", "stuck", "limanis: [{name: stuck}]\n"},
		{"escaper", "escape", "chimera: [{name: escaper}]\n"},
		{"spy", "record", "boats: [{name: spy, secrets: [cmdb.token]}]\n"},
	} {
		sd := filepath.Join(dir, "souls", s.name)
		os.MkdirAll(sd, 0o755)
		manifest := fmt.Sprintf("name: %s\nversion: 1.0.0\nprotocol: 1\nexec: [%s, %s]\ntimeout: 10s\n%s", s.name, bin, s.mode, s.kinds)
		if err := os.WriteFile(filepath.Join(sd, "soul.yaml"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "souls")
}

// TestSoulSinkAndBackend: a logbook sink and a Ch-imera back end written with the Go SDK, through
// the chaos binary. The recorder sink gets every event of an apply, in order; a sink that crashes,
// one that stops reading and one that is not installed are warnings, and the apply succeeds. The
// toy back end's files land with their source map and its diagnostics at the Ch-obolo's positions;
// a back end that crashes or returns a path outside the output directory writes nothing.
func TestSoulSinkAndBackend(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	env := []string{"CHAOS_CONFIG_DIR=" + dir, "CHAOS_LIMANI=off", "HOME=" + dir, "CHAOS_SOUL_PATH=" + kindSoulPath(t)}
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte("limanis: [recorder, crasher, stuck, missing]\n"), 0o600)
	root := testenv.DebianRoot(t)
	file := filepath.Join(t.TempDir(), "machine.yml")
	os.WriteFile(file, []byte("hostname: toybox\nusers:\n  - name: alice\n  - name: bob\npackages:\n  - htop\nfiles:\n  - path: /etc/motd\n    content: \"sunk\\n\"\n"), 0o644)

	start := time.Now()
	code, out := chaosExec(t, env, "apply", "-c", file, "--target", "@chroot"+root, "-y", "files")
	t.Logf("apply with 4 sinks (one stuck): %s", time.Since(start).Round(time.Millisecond))
	if code != 0 || testenv.ReadFile(t, root, "/etc/motd") != "sunk\n" {
		t.Fatalf("apply with sinks: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		`logbook sink missing: no installed Soul provides the logbook sink "missing"`,
		"logbook sink crasher: soul crasher exited (exit status 3)", "the sink fell over",
		// the stuck Soul's events fit in its pipe: it is killed at the end of the command, with
		// every Soul of the run (its one process could be serving more than the sink)
		"chaos: warning: soul stuck: still running 5s after shutdown; killed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(testenv.ReadFile(t, dir, "sink-events.jsonl")), "\n") {
		var ev struct {
			V    int    `json:"v"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.V == 0 {
			t.Fatalf("sink event %q: %v", line, err)
		}
		types = append(types, ev.Type)
	}
	if len(types) < 4 || types[0] != "run.start" || types[len(types)-1] != "run.done" || !strings.Contains(strings.Join(types, " "), "op.end") {
		t.Errorf("the recorder got %v: want run.start, the ops and run.done, in order", types)
	}

	out1 := filepath.Join(t.TempDir(), "toy")
	code, out = chaosExec(t, env, "chimera", "compile", "-c", file, "--to", "toy", "-o", out1)
	if code != 0 || !strings.Contains(out, file+":6:5: warning[CHI901]: the toy has no package htop") {
		t.Fatalf("chimera compile --to toy: exit %d\n%s", code, out)
	}
	if got := testenv.ReadFile(t, out1, "hosts.txt"); !strings.HasPrefix(got, "# toybox, from ") || !strings.HasSuffix(got, "user alice\nuser bob\n") {
		t.Errorf("hosts.txt = %q", got)
	}
	var manifest struct {
		Target    string `json:"target"`
		SourceMap map[string][]struct {
			Line int `json:"line"`
			Pos  struct {
				Line int `json:"line"`
			} `json:"pos"`
		} `json:"source_map"`
	}
	if err := json.Unmarshal([]byte(testenv.ReadFile(t, out1, "chimera.json")), &manifest); err != nil {
		t.Fatal(err)
	}
	if m := manifest.SourceMap["hosts.txt"]; manifest.Target != "toy" || len(m) != 3 || m[0].Pos.Line != 1 || m[1].Line != 2 || m[1].Pos.Line != 3 || m[2].Pos.Line != 4 {
		t.Errorf("chimera.json: %+v", manifest)
	}
	// --deny turns the Soul's warning into an error: nothing is written.
	out2 := filepath.Join(t.TempDir(), "denied")
	if code, out = chaosExec(t, env, "chimera", "compile", "-c", file, "--to", "toy", "-o", out2, "--deny", "CHI901"); code != 1 || testenv.Exists(t, "/", out2) {
		t.Errorf("--deny CHI901: exit %d\n%s", code, out)
	}
	for _, c := range []struct{ to, want string }{
		{"crashy", "soul crasher exited (exit status 4)"},
		{"escaper", `soul escaper: chimera.compile: malformed result: file path "../outside.txt"`},
		{"nowhere", `no installed Soul provides the Ch-imera back end "nowhere" (installed: crashy, escaper, toy)`},
	} {
		o := filepath.Join(t.TempDir(), c.to)
		code, out = chaosExec(t, env, "chimera", "compile", "-c", file, "--to", c.to, "-o", o)
		if code == 0 || !strings.Contains(out, c.want) || testenv.Exists(t, "/", o) || testenv.Exists(t, "/", filepath.Join(filepath.Dir(o), "outside.txt")) {
			t.Errorf("--to %s: exit %d, want %q and nothing written:\n%s", c.to, code, c.want, out)
		}
	}
}

// TestSoulBoatGetsOnlyItsOwn: a Soul boat gets its own entry's config and exactly the secrets its
// manifest declares (cmdb.token, not other.password from the same file), and none of chaos's
// environment.
func TestSoulBoatGetsOnlyItsOwn(t *testing.T) {
	s := newSecretEnv(t, "cmdb:\n  token: spyuser\nother:\n  password: hunter2\n")
	s.env = append(s.env, "CHAOS_SOUL_PATH="+kindSoulPath(t), "CHAOS_TEST_MARK=1")
	file := filepath.Join(s.dir, "fleet.yml")
	os.WriteFile(file, []byte("fleet:\n  boats:\n    - soul: spy\n      config: {address: 192.0.2.7}\n"), 0o644)
	out, err := s.run(t, "", "fleet", "list", "-c", file, "-sf", s.file, "--json")
	if err != nil {
		t.Fatalf("fleet list: %v\n%s", err, out)
	}
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Hosts) != 1 || doc.Hosts[0]["address"] != "192.0.2.7" || doc.Hosts[0]["user"] != "spyuser" ||
		fmt.Sprint(doc.Hosts[0]["groups"]) != "[secret-cmdb-token]" {
		t.Fatalf("the spy boat was given: %v", doc.Hosts)
	}
}
