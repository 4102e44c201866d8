package datadir

import "testing"

func TestPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if p, err := Path("limani.db"); err != nil || p != "/xdg/chaos/limani.db" {
		t.Fatalf("XDG_DATA_HOME: %q %v", p, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/alice")
	if p, err := Path("souls"); err != nil || p != "/home/alice/.local/share/chaos/souls" {
		t.Fatalf("HOME: %q %v", p, err)
	}
}
