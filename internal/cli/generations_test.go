package cli

import (
	"strings"
	"testing"
)

func TestLineDiff(t *testing.T) {
	got := strings.Join(lineDiff([]string{"a", "b", "c"}, []string{"a", "c", "d"}), ",")
	if got != " a,-b, c,+d" {
		t.Fatal(got)
	}
}
