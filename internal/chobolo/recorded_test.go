package chobolo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The Ch-obolo recorded in a generation loads back to the same data: imports resolved, templates
// and key files embedded, declared-but-empty sections kept declared.
func TestRecordedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("tpl/motd.tmpl", "Welcome to {{ .Hostname }}\n")
	write("base.yml", "hostname: forge\nservices: []\n")
	main := write("machine.yml", `imports: [base.yml]
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
    uid: 1500
  - name: old
    state: absent
    purge_home: true
packages: [hello, {name: editor, debian: [nano], arch: [vim]}]
region:
  timezone: Europe/Berlin
  ntp: false
files:
  - path: /etc/motd
    template: tpl/motd.tmpl
    mode: "0644"
  - path: /etc/x
    content: "x\n"
`)
	c, err := Load(main, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := Recorded(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadRecorded("test", src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if !reflect.DeepEqual(back.Users, c.Users) || !reflect.DeepEqual(back.Packages, c.Packages) ||
		!reflect.DeepEqual(back.Region, c.Region) || back.Hostname != "forge" {
		t.Fatalf("round trip differs:\n%s\n%+v\n%+v", src, back, c)
	}
	if len(back.Files) != 2 || back.Files[0].TemplateText != "Welcome to {{ .Hostname }}\n" || back.Files[1].Content != "x\n" {
		t.Fatalf("files: %+v\n%s", back.Files, src)
	}
	if !back.Has("services") || len(back.Services) != 0 {
		t.Fatalf("declared empty services lost:\n%s", src)
	}
	if strings.Contains(string(src), "imports") {
		t.Fatalf("imports not resolved:\n%s", src)
	}
}
