package logbook

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestOpOutputAndSecrets applies a real plan on a Debian root with both stores: op.end events carry
// the tails of stdout and stderr; an op with secret stdin has none recorded; a decrypted secret and
// the data of secret ops are redacted wherever a command prints them, in the output and in the
// error, and in an op string (a role must never put a secret into argv; if one does, the logbook
// still does not keep it). No table holds a secret afterwards.
func TestOpOutputAndSecrets(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	tr, err := transport.NewChroot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const password = "hunter2-is-not-a-password"
	const hash = "$6$rounds$Zq0xkcN5tJzv0L1w"
	store := secrets.NewValues(map[string]any{"db": map[string]any{"password": password}})
	conf := engine.Write("/etc/app.conf", []byte("password="+password+"\n"), 0o600, "", "")
	conf.Secret = true
	chpasswd := engine.Exec("sh", "-c", "cat; echo stdin-was-read >&2")
	chpasswd.Stdin, chpasswd.Secret = []byte("alice:"+hash+"\n"), true
	hp := &engine.HostPlan{Target: tr.Name(), Core: "debian", Roles: []*engine.RolePlan{{Role: "app", Steps: []engine.Step{{
		Changes: []engine.Change{{Kind: engine.Add, Subject: "app"}},
		Ops: []engine.Op{
			engine.Exec("sh", "-c", "echo hello stdout; echo warning on stderr >&2"),
			conf,
			chpasswd,
			engine.Exec("sh", "-c", "sed 's/^password=/pw: /' /etc/app.conf; echo 'the hash was "+hash+"'"),
			engine.Exec("sh", "-c", "echo \"cannot use $(cat /etc/app.conf)\" >&2; exit 3"),
		},
	}}}}}
	pg := testenv.PostgreSQL(t)
	for _, dsn := range []string{filepath.Join(t.TempDir(), "limani.db"), pg} {
		t.Run(map[bool]string{true: "postgres", false: "sqlite"}[IsPostgres(dsn)], func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			run, err := s.StartRun(ctx, RunInfo{Command: "apply"})
			if err != nil {
				t.Fatal(err)
			}
			run.Observe(engine.Event{Type: engine.EventProbed, Target: tr.Name()})
			req := engine.Request{Secrets: store, Observe: run.Observe, Record: engine.RecordOptions{Skip: true}}
			res, err := (&engine.Engine{}).Apply(ctx, tr, hp, req)
			var ee *transport.ExitError
			if !errors.As(err, &ee) || ee.Code != 3 || res == nil || !res.RolledBack {
				t.Fatalf("want the last op to fail with exit 3 and a rollback: %v %+v", err, res)
			}
			if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "cannot use (secret)") {
				t.Fatalf("the error is not redacted: %v", err)
			}
			run.HostDone(tr.Name(), res, err)
			run.Finish(err)
			if err := run.Err(); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Report(ctx, run.ID)
			if err != nil || len(rep.Ops) != 5 {
				t.Fatalf("report: %+v %v", rep, err)
			}
			for i, want := range []struct{ stdout, stderr string }{
				{"hello stdout\n", "warning on stderr\n"},
				{"", ""},
				{"", ""}, // secret stdin: nothing recorded, not even the redacted echo
				{"pw: (secret)\nthe hash was (secret)\n", ""}, // the decrypted value; a field of the secret stdin
				{"", "cannot use (secret)\n"},                 // a whole line of the secret file
			} {
				if o := rep.Ops[i]; o.Stdout != want.stdout || o.Stderr != want.stderr {
					t.Errorf("op %d %s: stdout %q stderr %q, want %q and %q", i+1, o.Op, o.Stdout, o.Stderr, want.stdout, want.stderr)
				}
			}
			for _, q := range []string{`SELECT op || error || stdout || stderr FROM events`, `SELECT error FROM hosts`, `SELECT error FROM runs`} {
				rows, err := s.db.QueryContext(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var text string
					if err := rows.Scan(&text); err != nil {
						t.Fatal(err)
					}
					if strings.Contains(text, password) || strings.Contains(text, "Zq0xkcN5tJzv0L1w") {
						t.Errorf("a secret reached the logbook: %q", text)
					}
				}
				rows.Close()
			}
			if testenv.Exists(t, root, "/etc/app.conf") {
				t.Fatal("the failed apply was not rolled back")
			}
		})
	}
}
