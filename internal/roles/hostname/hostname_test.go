package hostname

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
)

const debianHosts = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"

func TestEditHosts(t *testing.T) {
	for _, tc := range []struct {
		name, in, host, want string
		changed              bool
	}{
		{"added after 127.0.0.1", debianHosts, "web1",
			"127.0.0.1\tlocalhost\n127.0.1.1\tweb1\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n", true},
		{"fqdn", "127.0.0.1 localhost\n", "web1.example.com", "127.0.0.1 localhost\n127.0.1.1\tweb1.example.com web1\n", true},
		{"replaced in place", "# c\n127.0.0.1 localhost\n127.0.1.1   old.example.com old  # mine\n10.0.0.1 db\n", "new",
			"# c\n127.0.0.1 localhost\n127.0.1.1\tnew\n10.0.0.1 db\n", true},
		{"same fields, other spacing: kept", "127.0.0.1 localhost\n127.0.1.1   web1.example.com  web1\n", "web1.example.com",
			"127.0.0.1 localhost\n127.0.1.1   web1.example.com  web1\n", false},
		{"no trailing newline", "127.0.0.1 localhost", "h", "127.0.0.1 localhost\n127.0.1.1\th\n", true},
		{"no 127.0.0.1 line: on top", "10.0.0.1 db\n", "h", "127.0.1.1\th\n10.0.0.1 db\n", true},
		{"commented 127.0.1.1 ignored", "#127.0.1.1 x\n127.0.0.1 localhost\n", "h", "#127.0.1.1 x\n127.0.0.1 localhost\n127.0.1.1\th\n", true},
		{"replaced line without newline", "127.0.0.1 localhost\n127.0.1.1 old", "h", "127.0.0.1 localhost\n127.0.1.1\th", true},
		{"empty file", "", "h", "127.0.0.1\tlocalhost\n127.0.1.1\th\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, changed := EditHosts(tc.in, tc.host)
			if got != tc.want || changed != tc.changed {
				t.Fatalf("got %q (changed %v), want %q (changed %v)", got, changed, tc.want, tc.changed)
			}
			if again, _, ch := EditHosts(got, tc.host); ch || again != got {
				t.Fatalf("not idempotent: %q", again)
			}
		})
	}
}

func chob(name string) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "c.yml", Hostname: name}
	c.SetKey("hostname", chobolo.Pos{File: "c.yml", Line: 2, Col: 11})
	return c
}

func facts(hostname, hosts, running string) engine.Facts {
	f := engine.Facts{"hostname": {Stdout: hostname}, "hosts": {Stdout: hosts}}
	if running != "" {
		f["running"] = engine.Output{Stdout: running + "\n"}
	}
	return f
}

func TestPlan(t *testing.T) {
	r := New()
	chrootEnv := &engine.Env{Chroot: true}
	liveEnv := &engine.Env{Systemd: true}

	p, err := r.Plan(chrootEnv, chob("web1"), facts("localhost\n", debianHosts, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := "~ /etc/hostname: localhost -> web1 [c.yml:2:11]\n" +
		"  $ write /etc/hostname (5 bytes, mode 0644, owner root:root)\n" +
		"+ /etc/hosts: 127.0.1.1 line: 127.0.1.1 web1 [c.yml:2:11]\n" +
		"  $ write /etc/hosts (" + strconv.Itoa(len(debianHosts)+len("127.0.1.1\tweb1\n")) + " bytes, mode 0644, owner root:root)\n"
	if got := enginetest.RenderRole(p); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	// In sync: nothing, in a chroot and live.
	hosts, _, _ := EditHosts(debianHosts, "web1")
	for _, env := range []*engine.Env{chrootEnv, liveEnv} {
		p, err = r.Plan(env, chob("web1"), facts("web1\n", hosts, "web1"))
		if err != nil || !p.Empty() {
			t.Fatalf("want no changes, got %v\n%s", err, enginetest.RenderRole(p))
		}
	}

	// Live host with files in sync but a different running name: hostnamectl, with undo.
	p, _ = r.Plan(liveEnv, chob("web1"), facts("web1\n", hosts, "localhost"))
	if got := enginetest.RenderRole(p); got != "~ running hostname: localhost -> web1 [c.yml:2:11]\n  $ hostnamectl set-hostname web1\n    undo: hostnamectl set-hostname localhost\n" {
		t.Fatalf("got\n%s", got)
	}
	// Never in a chroot, even if a running name leaked into the facts.
	p, _ = r.Plan(chrootEnv, chob("web1"), facts("web1\n", hosts, "localhost"))
	if strings.Contains(enginetest.RenderRole(p), "hostnamectl") {
		t.Fatalf("chroot plan touches the running hostname:\n%s", enginetest.RenderRole(p))
	}
	// Uppercase is kept as written (RFC 1123; the original's docs use "Dionysus"), in the files and
	// live, and a host already named so is in sync.
	p, err = r.Plan(liveEnv, chob("Dionysus"), facts("localhost\n", debianHosts, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if got := enginetest.RenderRole(p); !strings.Contains(got, "~ /etc/hostname: localhost -> Dionysus") ||
		!strings.Contains(got, "127.0.1.1 line: 127.0.1.1 Dionysus") || !strings.Contains(got, "$ hostnamectl set-hostname Dionysus") {
		t.Fatalf("got\n%s", got)
	}
	upper, _, _ := EditHosts(debianHosts, "Dionysus")
	if p, err = r.Plan(liveEnv, chob("Dionysus"), facts("Dionysus\n", upper, "Dionysus")); err != nil || !p.Empty() {
		t.Fatalf("want no changes, got %v\n%s", err, enginetest.RenderRole(p))
	}
	// Missing files are created.
	p, _ = r.Plan(chrootEnv, chob("h"), engine.Facts{"hostname": {Code: 3}, "hosts": {Code: 3}})
	if got := enginetest.RenderRole(p); !strings.Contains(got, "+ /etc/hostname: create: h") || !strings.Contains(got, "+ /etc/hosts: create with localhost") {
		t.Fatalf("got\n%s", got)
	}
}

func TestProbeNeverCallsHostnameInChroot(t *testing.T) {
	for _, s := range New().Probe(&engine.Env{Chroot: true}, chob("x")) {
		if s.Name == "running" || strings.Contains(s.Script, "hostname ") && !strings.Contains(s.Script, "/etc/hostname") {
			t.Fatalf("chroot probe reads the running hostname: %+v", s)
		}
	}
	var live bool
	for _, s := range New().Probe(&engine.Env{}, chob("x")) {
		live = live || s.Name == "running"
	}
	if !live {
		t.Fatal("live probe does not read the running hostname")
	}
}

func TestRefusals(t *testing.T) {
	for _, name := range []string{"", "-x", "a_b", "$(id)", "a..b", "a.", strings.Repeat("a", 64), "a b", "x\ny", "Web_1"} {
		_, err := New().Plan(&engine.Env{Chroot: true}, chob(name), facts("a\n", debianHosts, ""))
		if err == nil || !strings.Contains(err.Error(), "c.yml:2:11") {
			t.Errorf("%q: got %v", name, err)
		}
	}
}

func TestCapture(t *testing.T) {
	c := &chobolo.Chobolo{}
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\tweb1\n"
	if err := New().(engine.Capturer).Capture(&engine.Env{}, facts("web1\n", hosts, ""), c); err != nil {
		t.Fatal(err)
	}
	if !c.Has("hostname") || c.Hostname != "web1" {
		t.Fatalf("captured %q", c.Hostname)
	}
	// Applying a captured name must change nothing: a name /etc/hosts lacks (a fresh root's
	// "localhost") or that differs from the running one is left out.
	for _, tc := range []struct {
		env            *engine.Env
		hosts, running string
	}{
		{&engine.Env{Chroot: true}, debianHosts, ""},
		{&engine.Env{Systemd: true}, hosts, "other"},
	} {
		c := &chobolo.Chobolo{}
		if err := New().(engine.Capturer).Capture(tc.env, facts("web1\n", tc.hosts, tc.running), c); err != nil {
			t.Fatal(err)
		}
		if c.Has("hostname") {
			t.Errorf("hosts %q, running %q: captured %q, whose apply would change the host", tc.hosts, tc.running, c.Hostname)
		}
	}
}
