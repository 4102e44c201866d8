package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHConfigUnparsableWarns: a ~/.ssh/config chaos cannot parse is not silently ignored: a
// warning names the file and the line, and none of its settings are used.
func TestSSHConfigUnparsableWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config")
	text := "Host web\n  User deploy\nMatch exec \"test -f /tmp/x\"\n  User other\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var notices []string
	old := Notice
	Notice = func(msg string) { notices = append(notices, msg) }
	defer func() { Notice = old }()

	cc := loadSSHConfig(file)
	if got := cc.get("web", "User"); got != "" {
		t.Errorf("User = %q from a file that did not parse", got)
	}
	_ = loadSSHConfig(file) // cached: warned once
	if len(notices) != 1 || !strings.Contains(notices[0], file+":3:") || !strings.Contains(notices[0], "Match Exec") {
		t.Fatalf("notices = %q, want one warning naming %s:3 and Match Exec", notices, file)
	}
}
