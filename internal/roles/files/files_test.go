package files

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/golden"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
)

func chob(files ...chobolo.File) *chobolo.Chobolo {
	c := &chobolo.Chobolo{Hostname: "forge", Files: files,
		Users: []chobolo.User{{Name: "alice"}, {Name: "bob"}}}
	c.SetKey("files", chobolo.Pos{File: "c.yml", Line: 10, Col: 1})
	for i := range files {
		c.SetPos(fmt.Sprintf("files[%d]", i), chobolo.Pos{File: "c.yml", Line: 11 + i, Col: 5})
	}
	return c
}

// runProbe runs the role's real probe fragment with /bin/sh on the local machine.
func runProbe(t *testing.T, c *chobolo.Chobolo) *Facts {
	t.Helper()
	secs := Role{}.Probe(&engine.Env{Core: "debian"}, c)
	out, err := exec.CommandContext(context.Background(), "/bin/sh", "-c", secs[0].Script).Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	f, err := ParseFacts(string(out))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProbeAndPlan(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "same"), []byte("same\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "edit"), []byte("a\nb\nc\nd\ne\nf\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "secret"), []byte("old password\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "mode"), []byte("x"), 0o600))
	must(os.Symlink("elsewhere", filepath.Join(dir, "link")))
	must(os.Mkdir(filepath.Join(dir, "gone"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "gone", "x"), nil, 0o644))
	c := chob(
		chobolo.File{Path: dir + "/new", Content: "hello\n"},
		chobolo.File{Path: dir + "/same", Content: "same\n"},
		chobolo.File{Path: dir + "/edit", Content: "a\nb\nC\nd\ne\nf\ng\n"},
		chobolo.File{Path: dir + "/secret", Content: "new password\n"},
		chobolo.File{Path: dir + "/mode", Mode: "0640"},
		chobolo.File{Path: dir + "/link", State: "link", Target: "same"},
		chobolo.File{Path: dir + "/sub", State: "directory", Mode: "0750"},
		chobolo.File{Path: dir + "/sub/t.conf", Template: "t.tmpl",
			TemplateText: "host={{.Hostname}}{{range .Users}} {{.Name}}{{end}}\n"},
		chobolo.File{Path: dir + "/gone", State: "absent"},
	)
	f := runProbe(t, c)
	if s := f.Declared[2]; !s.HasContent || string(s.Content) != "a\nb\nc\nd\ne\nf\n" {
		t.Errorf("probe did not send the changed file's content: %+v", s)
	}
	if s := f.Declared[3]; s.HasContent {
		t.Error("probe sent a secret file's content")
	}
	if s := f.Declared[5]; s.Type != "link" || s.Target != "elsewhere" {
		t.Errorf("link: %+v", s)
	}
	desired, err := Validate(c, "debian")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := BuildPlan(desired, f, map[string][]string{DomainCreated: {dir + "/old-created"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	// uids differ between machines: the golden file uses DIR for the temp dir
	got := strings.ReplaceAll(enginetest.RenderRole(rp), dir, "DIR")
	for _, id := range []string{fmt.Sprint(os.Getuid()), fmt.Sprint(os.Getgid())} {
		got = strings.ReplaceAll(got, "owner "+id+":"+id, "owner ID:ID")
	}
	golden.Check(t, "probe-and-plan", got)
}

func TestLedgerPrune(t *testing.T) {
	// a.conf was created by chaos and left the Ch-obolo: removed. motd existed before: never in
	// the created ledger, so never removed. The directory chaos created is not empty: kept.
	f := &Facts{Declared: map[int]Stat{0: {Known: true, Type: "file", Parent: true, Mode: 0o644, User: "root", Group: "root", SHA256: sha([]byte("x"))}},
		Ledger: map[string]Stat{
			"/etc/app/a.conf": {Known: true, Type: "file", Mode: 0o644},
			"/etc/app":        {Known: true, Type: "dir", Mode: 0o755, Entries: 2},
			"/etc/gone":       {Known: true, Type: "none"},
		}}
	c := chob(chobolo.File{Path: "/etc/keep", Content: "x"})
	desired, err := Validate(c, "debian")
	if err != nil {
		t.Fatal(err)
	}
	ledger := map[string][]string{DomainCreated: {"/etc/app", "/etc/app/a.conf", "/etc/gone", "/etc/keep", "/etc/unknown"}}
	rp, err := BuildPlan(desired, f, ledger, true)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "ledger-prune", enginetest.RenderRole(rp))
}

func TestValidate(t *testing.T) {
	cases := map[string]chobolo.File{
		"not absolute":                {Path: "etc/x"},
		`contains a ".." component`:   {Path: "/etc/../x"},
		"refusing to manage":          {Path: "/proc/sys/x"},
		"chaos never manages":         {Path: "/var/lib/chaos/ledger.tsv"},
		"refusing to remove /etc":     {Path: "/etc", State: "absent"},
		"refusing to remove /usr/bin": {Path: "/usr/bin", State: "absent"},
		"invalid mode":                {Path: "/x", Mode: "rw-r--r--"},
		"invalid state":               {Path: "/x", State: "file"},
		"invalid user name":           {Path: "/x", Owner: "-root"},
		"invalid group name":          {Path: "/x", Group: "a;b"},
		"needs a target":              {Path: "/x", State: "link"},
		"not both":                    {Path: "/x", Content: "a", Template: "t", TemplateText: "b"},
		"template t":                  {Path: "/x", Template: "t", TemplateText: "{{.Nope}}"},
		"takes no content":            {Path: "/x", State: "directory", Content: "a"},
		"shell metacharacter":         {Path: "/tmp/$(reboot)"},
	}
	for want, f := range cases {
		_, err := Validate(chob(f), "debian")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "c.yml:11:5") {
			t.Errorf("%+v: err = %v, want %q with position", f, err, want)
		}
	}
	_, err := Validate(chob(chobolo.File{Path: "/a", State: "absent"}, chobolo.File{Path: "/a/b"}), "debian")
	if err == nil || !strings.Contains(err.Error(), "declared absent") {
		t.Errorf("err = %v", err)
	}
	_, err = Validate(chob(chobolo.File{Path: "/x", Template: "t", TemplateText: "{{range 100000000}}xxxxxxxxxxxxxxxxxxxxxxx{{end}}"}), "debian")
	if err == nil || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("unbounded template: err = %v", err)
	}
}

func TestDiff(t *testing.T) {
	got := Diff([]byte("1\n2\n3\n4\n5\n6\n7\n8\n"), []byte("1\n2\n3\nfour\n5\n6\n7\n8\n9\n"))
	want := " 2\n 3\n-4\n+four\n 5\n 6\n 7\n 8\n+9"
	if got != want {
		t.Errorf("diff:\n%s", got)
	}
	long := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	if got := Diff([]byte(long), []byte(strings.Replace(strings.Replace(long, "2\n", "two\n", 1), "9\n", "nine\n", 1))); got != " 1\n-2\n+two\n 3\n 4\n@@\n 7\n 8\n-9\n+nine\n 10" {
		t.Errorf("diff with gap:\n%s", got)
	}
	if Diff([]byte{0, 1}, []byte("x")) != "" {
		t.Error("binary diff")
	}
}

func TestBuiltinChecks(t *testing.T) {
	cases := map[string]string{
		"/etc/sudoers":                      "visudo",
		"/etc/sudoers.d/ops":                "visudo",
		"/etc/sudoers.d/sub/x":              "", // sudo reads no subdirectory
		"/etc/sudoers.dx":                   "",
		"/etc/ssh/sshd_config":              "sshd",
		"/etc/ssh/sshd_config.d/chaos.conf": "sshd",
		"/etc/ssh/sshd_config.d/README":     "", // sshd includes *.conf only
		"/etc/ssh/ssh_config":               "",
		"/etc/motd":                         "",
	}
	for p, tool := range cases {
		got := ""
		if c := BuiltinCheck(p); c != nil {
			got = c.Tool
		}
		if got != tool {
			t.Errorf("BuiltinCheck(%s) tool = %q, want %q", p, got, tool)
		}
	}
	// validate: cannot replace a built-in check, and needs %s once.
	for want, f := range map[string]chobolo.File{
		"always checked with visudo -c -f %s": {Path: "/etc/sudoers.d/x", Validate: []string{"true", "%s"}},
		"always checked with sshd -t -f %s":   {Path: "/etc/ssh/sshd_config", Validate: []string{"true", "%s"}},
		"needs %s exactly once":               {Path: "/etc/x", Validate: []string{"true"}},
		"only for state: present":             {Path: "/etc/x", State: "directory", Validate: []string{"test", "-d", "%s"}},
	} {
		c := chob(f)
		c.SetPos("files[0].validate", chobolo.Pos{File: "c.yml", Line: 12, Col: 15})
		if _, err := Validate(c, "debian"); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "c.yml:12:15") {
			t.Errorf("%+v: err = %v, want %q at c.yml:12:15", f, err, want)
		}
	}
}

// TestCheckNeedsTool: the probe says which checkers exist; a write whose checker is missing is
// refused at plan time with the position, and an unchanged file needs no checker.
func TestCheckNeedsTool(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "same"), []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := chob(
		chobolo.File{Path: dir + "/new", Content: "x\n", Validate: []string{"sh", "-n", "%s"}},
		chobolo.File{Path: dir + "/same", Content: "same\n", Validate: []string{"chaos-no-such-checker", "%s"}},
	)
	f := runProbe(t, c)
	if !f.Tools["sh"] || f.Tools["chaos-no-such-checker"] {
		t.Fatalf("tools = %v", f.Tools)
	}
	desired, err := Validate(c, "debian")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := BuildPlan(desired, f, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := enginetest.RenderRole(rp); !strings.Contains(got, "validated by sh -n %s") {
		t.Errorf("plan:\n%s", got)
	}
	c.Files[1].Content = "changed\n"
	desired, _ = Validate(c, "debian")
	_, err = BuildPlan(desired, f, nil, true)
	if err == nil || !strings.Contains(err.Error(), "c.yml:12:5: "+dir+"/same must be checked with chaos-no-such-checker %s before it lands, and chaos-no-such-checker is not installed on the target") {
		t.Errorf("err = %v", err)
	}
}
