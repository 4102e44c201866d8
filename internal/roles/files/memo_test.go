package files

import (
	"reflect"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// TestValidateMemo: a second Validate of the same Ch-obolo gives the same entries (from the memo),
// and one changed in place in between is validated again: a mode made invalid is refused, made
// valid again accepted with the new mode.
func TestValidateMemo(t *testing.T) {
	c := chob(chobolo.File{Path: "/etc/a", Content: "a\n", Mode: "0640"}, chobolo.File{Path: "/etc/b", State: "directory"})
	first, err := Validate(c, "debian")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Validate(c, "arch")
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("second Validate: %v, %+v; first %+v", err, again, first)
	}
	again[0].Path = "/changed/by/a/caller"
	c.Files[0].Mode = "9999"
	if _, err := Validate(c, "debian"); err == nil {
		t.Fatal("an invalid mode set in place was accepted (stale memo)")
	}
	c.Files[0].Mode = "0600"
	d, err := Validate(c, "debian")
	if err != nil || d[0].Mode != 0o600 || d[0].Path != "/etc/a" {
		t.Fatalf("after the fix: %v, %+v", err, d)
	}
}

// TestOwnsMemo: the claims of a Ch-obolo changed in place follow the change.
func TestOwnsMemo(t *testing.T) {
	c := chob(chobolo.File{Path: "/etc/a", Content: "a\n"})
	if cl := (Role{}).Owns("debian", c); len(cl) != 1 || cl[0].Path != "/etc/a" || cl[0].Tree {
		t.Fatalf("claims: %+v", cl)
	}
	c.Files[0].Path, c.Files[0].State, c.Files[0].Content = "/etc/b", "absent", ""
	if cl := (Role{}).Owns("arch", c); len(cl) != 1 || cl[0].Path != "/etc/b" || !cl[0].Tree {
		t.Fatalf("claims after a change in place: %+v", cl)
	}
}

// TestSameFileEveryField: sameFile compares every field of chobolo.File, so that a field added to
// it cannot be missed by the memo.
func TestSameFileEveryField(t *testing.T) {
	typ := reflect.TypeFor[chobolo.File]()
	for i := range typ.NumField() {
		var a, b chobolo.File
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"x"}))
		default:
			t.Fatalf("chobolo.File.%s is a %s: teach sameFile and this test", typ.Field(i).Name, f.Kind())
		}
		if sameFile(a, b) {
			t.Errorf("sameFile misses a change of chobolo.File.%s", typ.Field(i).Name)
		}
	}
}
