package chimera

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func load(t *testing.T, src string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.LoadBytes("m.yml", []byte(src), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codes(ds Diagnostics) string {
	var out []string
	for _, d := range ds.List {
		out = append(out, string(d.Severity)+":"+d.Code+"@"+d.Pos.String())
	}
	return strings.Join(out, " ")
}

func TestNewSystem(t *testing.T) {
	c := load(t, `hostname: dionysus
users:
  - {name: alice, shell: zsh, sudo: true}
  - {name: old, state: absent}
services:
  - {name: sshd}
  - {name: getty, dense_service: true}
aurPackages: [yay-bin]
bootloader: grub
partitioning:
  disk: /dev/sda
  partitions:
    - {name: ESP, type: fat32, important: boot, mountpoint: /boot}
    - {name: dionysus_root_partition, type: ext4, important: root}
    - {name: Moira, type: linux-swap, important: swap}
`)
	var ds Diagnostics
	s := NewSystem(c, &ds)
	ds.Sort()
	if s.Hostname != "dionysus" || len(s.Users) != 1 || s.Users[0].Path("shell") != "users[0].shell" {
		t.Errorf("hostname/users: %+v", s)
	}
	if len(s.Services) != 1 || s.Services[0].Unit != "sshd.service" {
		t.Errorf("services: %+v", s.Services)
	}
	if s.Boot == nil || !s.Boot.UEFI || !s.Boot.Inferred || s.Boot.ESP != "/boot" || s.Boot.Device != "/dev/sda" {
		t.Errorf("boot: %+v", s.Boot)
	}
	if s.Disk == nil || len(s.Disk.Partitions) != 3 || s.Disk.Partitions[0].FSType != "vfat" ||
		s.Disk.Partitions[1].Mountpoint != "/" || s.Disk.Partitions[2].FSType != "swap" {
		t.Errorf("disk: %+v", s.Disk)
	}
	want := "info:CHI311@m.yml:4:24 error:CHI304@m.yml:7:34 warning:CHI301@m.yml:8:14 " +
		"warning:CHI103@m.yml:9:13 warning:CHI102@m.yml:14:7"
	if got := codes(ds); got != want {
		t.Errorf("diagnostics:\n got %s\nwant %s", got, want)
	}
}

func TestBootErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"bootloader: {name: grub, firmware: bios}\n", "grub on BIOS needs partitioning.disk"},
		{"bootloader: {name: systemd-boot, firmware: bios}\n", "systemd-boot needs UEFI"},
		{"bootloader: lilo\n", `bootloader "lilo"`},
		{"bootloader: {name: grub, colour: red}\n", `unknown key "colour"`},
		{"partitioning: {partitions: [{name: 'a b', type: ext4}]}\n", `label "a b"`},
		{"partitioning: {partitions: [{name: r, type: ntfs, important: root}]}\n", `unknown file system`},
	} {
		var ds Diagnostics
		NewSystem(load(t, tc.src), &ds)
		if ds.Errors() == 0 || !strings.Contains(codes(ds)+fmtAll(ds), tc.want) {
			t.Errorf("%q: want an error containing %q, got %v", tc.src, tc.want, ds.List)
		}
	}
}

func fmtAll(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds.List {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

func TestApplyStrictAllowDeny(t *testing.T) {
	ds := Diagnostics{List: []Diagnostic{
		{Severity: Warning, Code: "CHI301"}, {Severity: Warning, Code: "CHI302"}, {Severity: Info, Code: "CHI202"},
		{Severity: Error, Code: "CHI201"},
	}}
	ds.Apply(true, []string{"CHI302", "CHI201"}, []string{"CHI202"})
	got := []Severity{ds.List[0].Severity, ds.List[1].Severity, ds.List[2].Severity, ds.List[3].Severity}
	want := []Severity{Error, Info, Error, Error}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("diagnostic %d: %s, want %s", i, got[i], want[i])
		}
	}
}

type fakeBackend struct{ files []File }

func (f fakeBackend) Name() string { return "test" }
func (f fakeBackend) Compile(_ context.Context, _ Input, _ *Diagnostics) ([]File, error) {
	return f.files, nil
}

func TestWriteIsAtomicAndSafe(t *testing.T) {
	w := NewWriter("  ")
	w.Open(chobolo.Pos{File: "m.yml", Line: 1, Col: 1}, "{")
	w.Line(chobolo.Pos{File: "m.yml", Line: 2, Col: 3}, "a = 1;")
	w.Close("}")
	Register(fakeBackend{files: []File{w.File("sub/out.nix")}})
	r, err := Compile(context.Background(), load(t, "hostname: h\n"), "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "sub/out.nix"))
	if string(got) != "{\n  a = 1;\n}\n" {
		t.Errorf("content %q", got)
	}
	if m := r.Manifest(); len(m.SourceMap["sub/out.nix"]) != 2 || m.SourceMap["sub/out.nix"][1].Line != 2 {
		t.Errorf("source map %+v", m.SourceMap)
	}
	// A second write replaces a previous output...
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	// ...but never a directory that is not one.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "precious"), []byte("x"), 0o600)
	if err := r.Write(other); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Write over a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "precious")); err != nil {
		t.Errorf("foreign directory damaged: %v", err)
	}
	// Errors write nothing.
	r.Diagnostics.Add(Diagnostic{Severity: Error, Code: CodeInvalidValue})
	if err := r.Write(filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("Write with errors succeeded")
	}
}
