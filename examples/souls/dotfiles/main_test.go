package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

func plan(t *testing.T, keys string, facts map[string]string) (soul.PlanResult, error) {
	t.Helper()
	p := soul.PlanParams{Role: "dotfiles", Env: soul.Env{Target: "web1", Core: "debian"},
		Keys: map[string]json.RawMessage{"dotfiles": json.RawMessage(keys)}, Facts: map[string]soul.Output{}}
	for k, v := range facts {
		p.Facts[k] = soul.Output{Stdout: v}
	}
	return dotfiles{}.Plan(context.Background(), p)
}

func ops(r soul.PlanResult) string {
	var out []string
	for _, s := range r.Steps {
		for _, o := range s.Ops {
			switch o.Kind {
			case "exec":
				out = append(out, strings.Join(o.Argv, " "))
			case "symlink":
				out = append(out, "symlink "+o.Path+" -> "+o.Target)
			default:
				out = append(out, o.Kind+" "+o.Path)
			}
		}
	}
	return strings.Join(out, "\n")
}

const cloned = "home\t/home/alice\ngroup\talice\ngit\nhead\taaaa\norigin\tgit://h/dots.git\n"

// An open link links each child of its directory once the clone exists; before, it says so.
func TestOpenLinks(t *testing.T) {
	keys := `[{"user":"alice","url":"git://h/dots.git","links":[{"from":"bin","to":".local/bin","open":true}]}]`
	r, err := plan(t, keys, map[string]string{"entry-0": cloned + "link\t0\tnone\t\t\tparent\nchild\t0\ta\tnone\t\t\nchild\t0\tb\tlink\t/home/alice/.dotfiles/chaos/dots/bin/b\t\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := "mkdir /home/alice/.local/bin\nsymlink /home/alice/.local/bin/a -> /home/alice/.dotfiles/chaos/dots/bin/a"
	if got := ops(r); got != want {
		t.Fatalf("ops:\n%s\nwant:\n%s", got, want)
	}
	if strings.Join(r.Ledger["links"], " ") != "/home/alice/.local/bin/a /home/alice/.local/bin/b" {
		t.Fatalf("ledger %v", r.Ledger)
	}
	r, err = plan(t, keys, map[string]string{"entry-0": "home\t/home/alice\ngroup\talice\ngit\nlink\t0\tnone\t\t\tparent\n"})
	if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "linked on the next apply") {
		t.Fatalf("before the clone: %v %v", r.Notes, err)
	}
}

// pull: true fast-forwards a clone behind its remote, undone by a reset to where it was; a clone
// of another repository is refused at the url.
func TestPullAndOrigin(t *testing.T) {
	keys := `[{"user":"alice","url":"git://h/dots.git","pull":true}]`
	r, err := plan(t, keys, map[string]string{"entry-0": cloned + "remote\tbbbb\n"})
	if err != nil || ops(r) != "runuser -u alice -- git -C /home/alice/.dotfiles/chaos/dots pull --ff-only --quiet" ||
		strings.Join(r.Steps[0].Ops[0].Undo.Argv, " ") != "runuser -u alice -- git -C /home/alice/.dotfiles/chaos/dots reset --hard --quiet aaaa" {
		t.Fatalf("pull: %v\n%s", err, ops(r))
	}
	if r, err := plan(t, keys, map[string]string{"entry-0": cloned + "remote\taaaa\n"}); err != nil || len(r.Steps) != 0 {
		t.Fatalf("up to date: %v %v", err, r.Steps)
	}
	_, err = plan(t, `[{"user":"alice","url":"git://h/other/dots.git"}]`, map[string]string{"entry-0": cloned})
	var se *soul.Error
	if !errors.As(err, &se) || se.Key != "dotfiles[0].url" {
		t.Fatalf("another origin: %v", err)
	}
}

// A user (or git) that is not there yet, e.g. created by the users role in the same apply, skips
// the entry with a note: the rest of the apply goes on, the next apply clones.
func TestMissingUserSkips(t *testing.T) {
	r, err := plan(t, `[{"user":"bob","url":"git://h/dots.git"}]`, map[string]string{"entry-0": "nouser\n"})
	if err != nil || len(r.Steps) != 0 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "no user bob on web1 yet: skipped") {
		t.Fatalf("%v %+v", err, r)
	}
	r, err = plan(t, `[{"user":"alice","url":"git://h/dots.git"}]`, map[string]string{"entry-0": "home\t/home/alice\ngroup\talice\n"})
	if err != nil || len(r.Steps) != 0 || !strings.Contains(r.Notes[0], "git is not installed on web1") {
		t.Fatalf("%v %+v", err, r)
	}
}
