package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// complete runs the real binary's `chaos __complete ARGS...` (what the bash, zsh and fish scripts
// of `chaos completion` call) and returns the candidates without their descriptions.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command(testenv.ChaosBinary(t), append([]string{"__complete"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("__complete %q: %v\n%s", args, err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, ":") { // the directive
			continue
		}
		name, _, _ := strings.Cut(l, "\t")
		got = append(got, name)
	}
	return got
}

// TestCompletion: role names and aliases (built-in and config.yml's), explain topics and
// subtopics, the --target forms, directories after @chroot/, and the hosts and groups of the
// Ch-obolo's fleet section for --target and --limit.
func TestCompletion(t *testing.T) {
	dir := isolate(t)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte("aliases:\n  workstation: users packages\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeChobolo(t, "hostname: x\nfleet:\n  hosts:\n    web1: {groups: [web]}\n    web2: {}\n    db1: {}\n  groups:\n    dbs: {hosts: [db1]}\n")
	chroots := t.TempDir()
	for _, d := range []string{"deb-root", "arch-root"} {
		if err := os.Mkdir(filepath.Join(chroots, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(chroots, "deb-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		want, none []string
	}{
		{[]string{"apply", ""}, []string{"hostname", "packages", "users", "files", "pkgs", "usr", "workstation"}, nil},
		{[]string{"apply", "pk"}, []string{"pkgs"}, []string{"packages"}},
		{[]string{"apply", "users", "us"}, []string{"usr"}, []string{"users"}}, // given once already
		{[]string{"apply", "work"}, []string{"workstation"}, nil},
		{[]string{"explain", "us"}, []string{"users"}, nil},
		{[]string{"explain", "users.se"}, []string{"users.security"}, nil},
		{[]string{"explain", "users."}, []string{"users.security", "users.list"}, nil},
		{[]string{"apply", "-c", file, "--target", ""}, []string{"@local", "@chroot/", "@pid/", "web1", "web2", "db1"}, nil},
		{[]string{"apply", "-c", file, "--target", "we"}, []string{"web1", "web2"}, []string{"db1", "@local"}},
		{[]string{"rollback", "--target", "@"}, []string{"@local", "@chroot/", "@pid/"}, nil},
		{[]string{"apply", "--target", "@chroot" + chroots + "/de"}, []string{"@chroot" + chroots + "/deb-root/"}, []string{"@chroot" + chroots + "/deb-file/"}},
		{[]string{"apply", "-c", file, "--limit", "web1,!d"}, []string{"web1,!db1", "web1,!dbs"}, []string{"web1,!web2"}},
		{[]string{"apply", "--core", ""}, []string{"debian", "arch", "fedora"}, nil},
	} {
		got := complete(t, tc.args...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("complete %q: %q missing from %q", tc.args, w, got)
			}
		}
		for _, n := range tc.none {
			if slices.Contains(got, n) {
				t.Errorf("complete %q: %q offered: %q", tc.args, n, got)
			}
		}
	}
}

// TestCompletionScripts: `chaos completion bash|zsh|fish` print the scripts the docs tell users to
// install, and bash accepts its script.
func TestCompletionScripts(t *testing.T) {
	isolate(t)
	for shell, want := range map[string]string{"bash": "__start_chaos", "zsh": "#compdef chaos", "fish": "complete -c chaos"} {
		r := run(t, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s: want %q\n%s", shell, want, r)
		}
		if shell == "bash" {
			if out, err := exec.Command("bash", "-n", "-c", r.stdout).CombinedOutput(); err != nil {
				t.Errorf("bash -n on the bash script: %v\n%s", err, out)
			}
		}
	}
}
