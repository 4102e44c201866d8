package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/souls"
)

// An installed Soul shows up in every command that lists or explains roles and keys, and its keys
// are checked by its schema at their positions, without its process (the sh Soul here never runs).
func TestSoulCommands(t *testing.T) {
	isolate(t)
	path := t.TempDir()
	t.Setenv("CHAOS_SOUL_PATH", path)
	if err := souls.Scaffold(filepath.Join(path, "demo"), "demo", "sh"); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(path, "demo", "soul.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "demo", "soul.yaml"), append(manifest, "aliases:\n  every-demo: demo\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "soul", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "demo") || !strings.Contains(r.stdout, "provides: role demo, alias every-demo") {
		t.Fatalf("soul list:\n%s", r)
	}
	var list []map[string]any
	if r := run(t, "", "soul", "list", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 ||
		list[0]["name"] != "demo" || list[0]["version"] != "0.1.0" || list[0]["path"] != filepath.Join(path, "demo") {
		t.Fatalf("soul list --json: %v\n%s", list, r)
	}
	if r := run(t, "", "soul", "info", "demo"); r.code != 0 || !strings.Contains(r.stdout, "role demo: manage /etc/demo.conf") || !strings.Contains(r.stdout, "exec: sh soul.sh") {
		t.Fatalf("soul info:\n%s", r)
	}
	if r := run(t, "", "soul", "info", "dem"); r.code != 1 || !strings.Contains(r.stderr, `no Soul named "dem" is installed; did you mean demo?`) {
		t.Fatalf("soul info of a missing Soul:\n%s", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "roles"}, "manage /etc/demo.conf (Soul demo)"},
		{[]string{"check", "aliases"}, "every-demo   -> demo"},
		{[]string{"explain", "demo"}, "/etc/demo.conf"},
		{[]string{"init", "chobolo"}, "# demo:\n#   text: hello from demo\n"},
		{[]string{"schema"}, `"description": "the text of /etc/demo.conf (Soul demo)"`},
	} {
		if r := run(t, "", c.args...); r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%v lacks %q:\n%s", c.args, c.want, r)
		}
	}
	good := writeChobolo(t, "demo:\n  text: hi\n")
	if r := run(t, "", "check", "chobolo", "-c", good); r.code != 0 {
		t.Fatalf("a Soul's key is an unknown key:\n%s", r)
	}
	bad := writeChobolo(t, "demo:\n  text: [hi]\n")
	if r := run(t, "", "check", "chobolo", "-c", bad); r.code != 1 || !strings.Contains(r.stderr, bad+":2:9: error: demo.text: got array, want string (schema of the Soul demo)") {
		t.Fatalf("check chobolo of a wrong type:\n%s", r)
	}
	// without the Soul the key is unknown again
	t.Setenv("CHAOS_SOUL_PATH", t.TempDir())
	if r := run(t, "", "check", "chobolo", "-c", good); r.code != 1 || !strings.Contains(r.stderr, `unknown top-level key "demo"`) {
		t.Fatalf("check chobolo without the Soul:\n%s", r)
	}
}
