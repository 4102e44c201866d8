package files

import (
	"reflect"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

func TestCaptureFiles(t *testing.T) {
	out := "R\tL/srv/app\tdir\t1\t750\t1000\t1000\talice\talice\t4096\t-\t1\n" +
		"R\tL/etc/motd\tfile\t1\t644\t0\t0\troot\troot\t6\t" + sha([]byte("hello\n")) + "\t-\n" +
		"R\tL/srv/app/current\tlink\t1\t777\t0\t0\troot\troot\t3\t-\t-\n" +
		"T\tL/srv/app/current\t/opt/v1\n" +
		"R\tL/srv/app/gone\tnone\t1\n" +
		"R\tL/srv/app/orphan\tfile\t1\t600\t4242\t4242\tUNKNOWN\tUNKNOWN\t0\t" + sha(nil) + "\t-\n"
	c := &chobolo.Chobolo{}
	if err := (Role{}).Capture(&engine.Env{}, engine.Facts{"paths": {Stdout: out}}, c); err != nil {
		t.Fatal(err)
	}
	want := []chobolo.File{
		{Path: "/etc/motd", Mode: "0644", Owner: "root", Group: "root"},
		{Path: "/srv/app", State: "directory", Mode: "0750", Owner: "alice", Group: "alice"},
		{Path: "/srv/app/current", State: "link", Target: "/opt/v1", Owner: "root", Group: "root"},
		{Path: "/srv/app/orphan", Mode: "0600", Owner: "4242", Group: "4242"},
	}
	if !c.Has("files") || !reflect.DeepEqual(c.Files, want) {
		t.Fatalf("captured %+v\nwant %+v", c.Files, want)
	}

	// Applying the capture changes nothing and keeps every path in the ledger.
	f, _ := ParseFacts(out)
	ledger := map[string][]string{DomainCreated: {"/etc/motd", "/srv/app", "/srv/app/current", "/srv/app/gone", "/srv/app/orphan"}}
	desired, err := Validate(c, "debian")
	if err != nil {
		t.Fatal(err)
	}
	// The probe of a Ch-obolo that declares the paths reports them by index.
	for i, d := range c.Files {
		f.Declared[i] = f.Ledger[d.Path]
	}
	rp, err := BuildPlan(desired, f, ledger, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Empty() {
		t.Fatalf("the capture's plan is not empty: %+v", rp.Steps)
	}

	// Nothing in the ledger: nothing captured, `files` stays undeclared.
	c = &chobolo.Chobolo{}
	if err := (Role{}).Capture(&engine.Env{}, engine.Facts{"paths": {Stdout: ""}}, c); err != nil || c.Has("files") {
		t.Fatalf("empty ledger: %v, files declared %v", err, c.Has("files"))
	}
}
