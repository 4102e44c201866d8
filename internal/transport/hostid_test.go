package transport

import "testing"

// TestSSHHostID: the greeting's fields make the identity only when they identify a root (machine-id,
// boot id and root mount); otherwise the connection's name stands in.
func TestSSHHostID(t *testing.T) {
	const mid, boot = "0123456789abcdef0123456789abcdef", "fc2760fa-b230-43ee-afe6-cf03778c6d5f"
	for _, tc := range []struct {
		fields []string
		want   string
	}{
		{[]string{mid, boot, "27:254:0"}, "machine " + mid + " boot " + boot + " mount 27:254:0"},
		{[]string{"-", boot, "27:254:0"}, "machine  name web1"},
		{[]string{"uninitialized", boot, "27:254:0"}, "machine  name web1"},
		{[]string{mid, "-", "-"}, "machine " + mid + " name web1"},
		{[]string{mid, boot}, "machine " + mid + " name web1"},
		{nil, "machine  name web1"},
	} {
		if got := sshHostID("web1", tc.fields); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.fields, got, tc.want)
		}
	}
}
