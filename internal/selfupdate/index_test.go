package selfupdate

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0}, {"1.0.1", "1.0.0", 1}, {"1.10.0", "1.9.9", 1}, {"0.9.0", "1.0.0", -1},
		{"1.0.0-rc.1", "1.0.0", -1}, {"1.0.0-rc.2", "1.0.0-rc.10", -1}, {"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-1", "1.0.0-alpha", -1}, {"1.0.0-beta", "1.0.0-alpha", 1}, {"10.0.0", "9.99.99", 1},
	} {
		if got, err := Compare(tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"v1.0.0", "1.0", "01.0.0", "(devel)", "1.0.0-"} {
		if _, err := Compare(bad, "1.0.0"); err == nil {
			t.Errorf("Compare accepted %q", bad)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://github.com/ch-aos-ch/chaos/releases/latest/download", "http://127.0.0.1:8080/r", "http://[::1]/r", "http://localhost/r"} {
		if _, err := checkURL(ok); err != nil {
			t.Errorf("checkURL(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{"http://example.com/r", "http://10.0.0.1/r", "ftp://x/r", "file:///srv/r", "https:///r", "r"} {
		if _, err := checkURL(bad); err == nil {
			t.Errorf("checkURL accepted %s", bad)
		}
	}
}

func TestParseSums(t *testing.T) {
	h := strings.Repeat("ab", 32)
	got, err := ParseSums([]byte(h + "  chaos_1.0.0_linux_amd64\n" + strings.Repeat("cd", 32) + "  SHA256SUMS.x\n"))
	if err != nil || got["chaos_1.0.0_linux_amd64"] != h || len(got) != 2 {
		t.Errorf("ParseSums = %v, %v", got, err)
	}
	for _, bad := range []string{h + " one-space\n", "xyz  name\n", h + "  ../etc/passwd\n", h + "  a\n" + h + "  a\n", h[:10] + "  a\n"} {
		if _, err := ParseSums([]byte(bad)); err == nil {
			t.Errorf("ParseSums accepted %q", bad)
		}
	}
}

func TestCheckReplaceable(t *testing.T) {
	if err := checkReplaceable("/usr/bin/chaos"); err == nil || !strings.Contains(err.Error(), "package manager") {
		t.Errorf("checkReplaceable(/usr/bin/chaos) = %v", err)
	}
	if err := checkReplaceable("/usr/local/bin/chaos"); err != nil {
		t.Error(err)
	}
}
