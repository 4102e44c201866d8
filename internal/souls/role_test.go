package souls_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// A Soul that crashes, hangs, writes a line that is not JSON-RPC or returns a plan chaos refuses fails the apply before anything is
// applied (the hostname the same Ch-obolo declares stays as it was), with an error naming the
// Soul; a plan that follows the rules applies like a built-in role's.
func TestSoulRoleFailuresApplyNothing(t *testing.T) {
	root := testenv.DebianRoot(t)
	hostname := testenv.ReadFile(t, root, "/etc/hostname")
	s := souls.DemoSoul(t, "serve", "2s")
	for _, c := range []struct{ mode, want string }{
		{"crash", "soul demo exited (exit status 3); its stderr ends with:\npanic: the demo Soul fell over while planning (during role.plan)"},
		{"hang", "soul demo: role.plan: no answer within 2s"},
		{"garbage", `soul demo: malformed output (want one JSON-RPC 2.0 response per line): "this is not JSON"`},
		{"refuse", "demo.yml:2:14: error: plan: not today (Soul demo)"},
		{"shell-string", `soul demo: malformed plan, nothing applied: steps[0].ops[0]: exec: "rm -rf /tmp/x" is a shell string`},
		{"relative", `soul demo: malformed plan, nothing applied: steps[0].ops[0]: write: invalid path "etc/demo.conf": is not absolute`},
		{"forbidden", "refusing to manage /proc/sys/kernel/hostname"},
		{"remove-etc", "refusing to remove /etc: the system needs it"},
		{"protected-user", "refusing to change the protected user root"},
		{"bad-mode", `invalid mode "rw-r--r--"`},
		{"undeclared-secret", `stdin_secret "root_password" is not one of the role's secrets`},
		{"file-undo", "undo belong to exec ops"},
		{"other-ledger", `ledger domain "files" is not one of the role's domains`},
		{"owned", "/demo.yml:1:11: role hostname manages /etc/hostname: the declared hostname; give each path one owner"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			out, err := applyDemo(t, s, root, c.mode)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q\n%s", err, c.want, out)
			}
			if got := testenv.ReadFile(t, root, "/etc/hostname"); got != hostname || testenv.Exists(t, root, "/etc/demo.conf") {
				t.Fatalf("something was applied: hostname %q, demo.conf there: %v", got, testenv.Exists(t, root, "/etc/demo.conf"))
			}
		})
	}
	// a crash while probing: the host is not even probed
	if out, err := applyDemoWith(t, s, root, "{probe: crash}", nil); err == nil || !strings.Contains(err.Error(), "role demo: soul demo exited (exit status 4)") {
		t.Fatalf("a crash while probing: %v\n%s", err, out)
	}
	// a secret only with the secrets (apply -s), only the declared ones, and on stdin
	if out, err := applyDemo(t, s, root, "secret"); err == nil || !strings.Contains(err.Error(), `stdin_secret "demo_token": no such secret (run with -s)`) {
		t.Fatalf("a secret without -s: %v\n%s", err, out)
	}
	store := mapSecrets{"demo_token": "s3cret", "root_password": "not for the Soul"}
	out, err := applyDemoWith(t, s, root, "{plan: secret}", store)
	if err != nil || !strings.Contains(out, "secrets: [demo_token]") || testenv.ReadFile(t, root, "/etc/demo.conf") != "s3cret" {
		t.Fatalf("a secret with -s: %v\n%s", err, out)
	}
	testenv.Chroot(t, root, "rm", "/etc/demo.conf")
	testenv.WriteFile(t, root, "/etc/hostname", hostname)
	// sh -c is the Soul's explicit choice: allowed, and shown with the plan
	out, err = applyDemo(t, s, root, "shell")
	if err != nil || !strings.Contains(out, "the Soul demo runs a shell command: sh -c 'echo hi > /etc/demo.conf'") ||
		testenv.ReadFile(t, root, "/etc/demo.conf") != "hi\n" || testenv.ReadFile(t, root, "/etc/hostname") != "changed\n" {
		t.Fatalf("sh -c: %v\n%s", err, out)
	}
}

// applyDemo applies `hostname: changed` and `demo: {plan: MODE}` to root through the library, with
// a fresh run (one Soul process) each time; it returns the plan's warnings and the error.
func applyDemo(t *testing.T, s *souls.Soul, root, mode string) (string, error) {
	t.Helper()
	return applyDemoWith(t, s, root, "{plan: "+mode+"}", nil)
}

type mapSecrets map[string]string

func (m mapSecrets) Get(k string) (string, bool) { v, ok := m[k]; return v, ok }

// applyDemoWith applies `hostname: changed` and `demo: DEMO` with secrets (nil: no -s); it returns
// the plan's warnings and notes, and the error.
func applyDemoWith(t *testing.T, s *souls.Soul, root, demo string, secrets chaos.SecretStore) (string, error) {
	t.Helper()
	file := t.TempDir() + "/demo.yml"
	c, err := chobolo.LoadBytes(file, []byte("hostname: changed\ndemo: "+demo+"\n"), chobolo.LoadOptions{ExtraKeys: []string{"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	rt := souls.NewRuntime([]*souls.Soul{s})
	defer rt.Close()
	roles, errs := souls.Roles(rt, []*souls.Soul{s}, builtin.Roles())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ctl, err := chaos.New(chaos.Options{Roles: append(builtin.Roles(), roles...)})
	if err != nil {
		t.Fatal(err)
	}
	run, err := ctl.Apply(context.Background(), chaos.ApplyRequest{Chobolo: c, Targets: []string{"@chroot" + root}, Yes: true, Secrets: secrets})
	if err != nil {
		return "", err
	}
	var warnings []string
	for _, p := range run.Plans {
		for _, rp := range p.Roles {
			warnings = append(append(warnings, rp.Warnings...), rp.Notes...)
		}
	}
	if h := run.Hosts[0]; h.Error != "" {
		return strings.Join(warnings, "\n"), errString(h.Error)
	}
	return strings.Join(warnings, "\n"), nil
}

type errString string

func (e errString) Error() string { return string(e) }

// A Soul role may not take a built-in role's name, alias or key, nor another Soul's: that Soul is
// refused at its soul.yaml's positions, and the others load.
func TestRolesClash(t *testing.T) {
	mk := func(name, body string) *souls.Soul {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, souls.ManifestFile), []byte("name: "+name+"\nversion: 1\nprotocol: 1\nexec: [x]\nroles:\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := souls.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bad := mk("bad", "  - name: users\n    summary: s\n    keys: [files]\n")
	ok := mk("ok", "  - name: mine\n    summary: s\n    keys: [mine]\n")
	twin := mk("twin", "  - name: other\n    summary: s\n    aliases: [mine]\n    keys: [mine]\n")
	roles, errs := souls.Roles(souls.NewRuntime(nil), []*souls.Soul{bad, ok, twin}, builtin.Roles())
	if len(roles) != 1 || roles[0].Meta().Name != "mine" || len(errs) != 2 {
		t.Fatalf("roles %v, errors %v", roles, errs)
	}
	for i, want := range []string{
		bad.File + `:6:5: tag "users" is taken by the built-in role users`,
		twin.File + `:8:15: tag "mine" is taken by role mine of the Soul ok`,
	} {
		if !strings.Contains(errs[i].Error(), want) {
			t.Errorf("error %d: %v, want %q", i, errs[i], want)
		}
	}
	if !strings.Contains(errs[0].Error(), bad.File+`:8:12: key "files" is taken by the built-in role files`) {
		t.Errorf("the key clash: %v", errs[0])
	}
}
