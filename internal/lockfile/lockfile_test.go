package lockfile

import (
	"reflect"
	"testing"
)

func TestFormatParse(t *testing.T) {
	data := Format("4242 98765\nowner 4100 on forge over ssh", map[int]string{5000: "111", 4300: "99"})
	want := "4242 98765\nowner 4100 on forge over ssh\ngroup 4300 99\ngroup 5000 111\n"
	if data != want {
		t.Fatalf("Format = %q, want %q", data, want)
	}
	got := Parse(data)
	if !reflect.DeepEqual(got, Info{PID: 4242, Start: "98765", Text: "4100 on forge over ssh",
		Groups: []Group{{4300, "99"}, {5000, "111"}}}) || got.Owner() != "pid 4100 on forge over ssh" {
		t.Fatalf("Parse = %+v (%s)", got, got.Owner())
	}
	for _, tc := range []struct {
		in    string
		want  Info
		owner string
	}{
		{"", Info{}, "pid -"},
		{"12\n", Info{PID: 12}, "pid 12"},
		{"sh worker on web1\ngroup 1 5\ngroup x 5\nreleased\n", Info{Text: "sh worker on web1", Released: true}, "pid sh worker on web1"},
	} {
		if got := Parse(tc.in); !reflect.DeepEqual(got, tc.want) || got.Owner() != tc.owner {
			t.Errorf("Parse(%q) = %+v (%s), want %+v (%s)", tc.in, got, got.Owner(), tc.want, tc.owner)
		}
	}
}
