package pathrules

import (
	"io/fs"
	"testing"
)

func TestRefuse(t *testing.T) {
	for _, c := range []struct {
		path   string
		remove bool
		ok     bool
	}{
		{"/etc/motd", false, true}, {"/etc/motd", true, true}, {"/etc", false, true}, {"/etc", true, false},
		{"/", false, false}, {"/proc/sys/x", false, false}, {"/var/lib/chaos/ledger.tsv", false, false},
		{"/var/lib/chaosx", false, true}, {"/etc/passwd", true, false}, {"/dev", false, false},
	} {
		if err := Refuse(c.path, c.remove); (err == nil) != c.ok {
			t.Errorf("Refuse(%s, remove %v) = %v", c.path, c.remove, err)
		}
	}
}

func TestModes(t *testing.T) {
	for s, want := range map[string]fs.FileMode{"0644": 0o644, "644": 0o644, "0o755": 0o755, "2755": fs.ModeSetgid | 0o755, "1777": fs.ModeSticky | 0o777} {
		m, err := ParseMode(s)
		if err != nil || FileMode(m) != want {
			t.Errorf("%s: %v %v", s, FileMode(m), err)
		}
	}
	for _, s := range []string{"rw-r--r--", "64", "0999", "77777"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
}
