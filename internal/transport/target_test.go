package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minimalRoot is a directory that passes NewChroot's root check: a shell and /etc/os-release.
func minimalRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"bin/sh", "etc/os-release"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseSpec(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		spec string
		want Spec
		err  string // substring of the error; "" means success
	}{
		{spec: "@local", want: Spec{Kind: KindLocal}},
		{spec: "@chroot/mnt", want: Spec{Kind: KindChroot, Path: "/mnt"}},
		{spec: "@chroot//mnt/root", want: Spec{Kind: KindChroot, Path: "/mnt/root"}},
		{spec: "@chroot/mnt/root/", want: Spec{Kind: KindChroot, Path: "/mnt/root"}},
		{spec: "@chroot/mnt/./x/../root", want: Spec{Kind: KindChroot, Path: "/mnt/root"}},
		{spec: "@pid/42", want: Spec{Kind: KindPID, PID: 42}},
		{spec: "web1", want: Spec{Kind: KindSSH, Host: "web1"}},
		{spec: "root@10.0.0.1:2222", want: Spec{Kind: KindSSH, User: "root", Host: "10.0.0.1", Port: 2222}},
		{spec: "[::1]:22", want: Spec{Kind: KindSSH, Host: "::1", Port: 22}},
		{spec: "[::1]", want: Spec{Kind: KindSSH, Host: "::1"}},
		{spec: "fe80::1", want: Spec{Kind: KindSSH, Host: "fe80::1"}},
		// A Soul's connector: any other @NAME/ARG (whether a Soul provides it is checked where Souls are).
		{spec: "@machines/web1", want: Spec{Kind: KindSoul, Connector: "machines", Arg: "web1"}},
		{spec: "@lxc/host:ct/x", want: Spec{Kind: KindSoul, Connector: "lxc", Arg: "host:ct/x"}},

		// Every spelling that used to fall back to this machine is an error.
		{spec: "", err: "empty target"},
		{spec: "@chroot/", err: `target "@chroot/": no directory after @chroot/ (an empty variable?); the machine chaos runs on is @local`},
		{spec: "@chroot//", err: `target "@chroot//": the directory is /, the machine chaos runs on; a chroot must be another directory (say @local to mean this machine)`},
		{spec: "@chroot/.", err: `target "@chroot/.": the directory is /`},
		{spec: "@chroot/..", err: `target "@chroot/..": the directory is /`},
		{spec: "@chroot/../..", err: `the directory is /`},
		{spec: "@chroot", err: `target "@chroot": @chroot needs a directory: @chroot/PATH`},
		{spec: "@localhost", err: `target "@localhost": unknown connector`},
		{spec: "@local/", err: "unknown connector"},
		{spec: "@LOCAL", err: "unknown connector"},
		{spec: "@LXC/x", err: "unknown connector (known: @local, @chroot/PATH, @pid/N, @podman/NAME, @docker/NAME, @dockerssh/HOST/NAME, @vagrant/BOX, @terraform/DIR[:OUTPUT], or [user@]host[:port] for SSH)"},
		{spec: "@local/x", err: "unknown connector"},
		{spec: "@lxc/", err: "@lxc/ARG needs an argument"},
		{spec: "@lxc/-rf", err: "@lxc/ARG needs an argument"},
		{spec: "@lxc/a;b", err: "@lxc/ARG needs an argument"},

		// Containers and the hosts of tools.
		{spec: "@podman/web1", want: Spec{Kind: KindPodman, Container: "web1"}},
		{spec: "@docker/3f2a9c", want: Spec{Kind: KindDocker, Container: "3f2a9c"}},
		{spec: "@docker/", err: "@docker/NAME needs a container name"},
		{spec: "@podman/a/b", err: "@podman/NAME needs a container name"},
		{spec: "@podman/-rm", err: "@podman/NAME needs a container name"},
		{spec: "@podman/$(x)", err: "@podman/NAME needs a container name"},
		{spec: "@dockerssh/ops@build1:2222/app", want: Spec{Kind: KindDockerSSH, User: "ops", Host: "build1", Port: 2222, Container: "app"}},
		{spec: "@dockerssh/build1/app", want: Spec{Kind: KindDockerSSH, Host: "build1", Container: "app"}},
		{spec: "@dockerssh/app", err: "@dockerssh/HOST/NAME needs an SSH host and a container name"},
		{spec: "@dockerssh/@local/app", err: `"@local" is not an SSH host`},
		{spec: "@dockerssh/a;b/app", err: `"a;b" is not an SSH host`},
		{spec: "@vagrant/default", want: Spec{Kind: KindVagrant, Box: "default"}},
		{spec: "@vagrant/", err: "@vagrant/BOX needs a Vagrant machine name"},
		{spec: "@terraform/infra", want: Spec{Kind: KindTerraform, Path: "infra"}},
		{spec: "@terraform/infra/prod:web_ips", want: Spec{Kind: KindTerraform, Path: "infra/prod", Output: "web_ips"}},
		{spec: "@terraform//srv/infra", want: Spec{Kind: KindTerraform, Path: "/srv/infra"}},
		{spec: "@terraform/:x", err: "needs the directory"},
		{spec: "@terraform/infra:a b", err: `"a b" is not an output name`},
		{spec: "@pid/1", err: "@pid/N needs a process id above 1"},
		{spec: "@pid/x", err: "@pid/N needs a process id above 1"},

		// A path is not an SSH host.
		{spec: "/mnt/root", err: `target "/mnt/root": a path is not a target (an SSH host has no '/'); did you mean @chroot//mnt/root?`},
		{spec: "/", err: `did you mean @chroot//?`},
		{spec: "mnt/root", err: "did you mean @chroot/" + filepath.Join(wd, "mnt/root") + "?"},
		{spec: ".", err: "did you mean @chroot/" + wd + "?"},
		{spec: "~/root", err: "did you mean @chroot/~/root?"},

		{spec: "-oProxyCommand=x@h", err: `invalid user name "-oProxyCommand=x"`},
		{spec: "a;b", err: "not a host name or address: only letters"},
		{spec: "root@", err: "not a host name or address"},
		{spec: "a b", err: "not a host name or address"},
	} {
		got, err := ParseSpec(tc.spec)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSpec(%q) = %+v, %v; want an error containing %q", tc.spec, got, err, tc.err)
		}
	}
}

func TestSpecStringRoundTrips(t *testing.T) {
	for _, spec := range []string{"@local", "@chroot/mnt/root", "@pid/42", "@podman/web1", "@docker/web1",
		"@dockerssh/ops@build1:2222/app", "@dockerssh/[::1]:22/app", "@vagrant/default", "@terraform/infra:web", "@terraform/infra"} {
		s, err := ParseSpec(spec)
		if err != nil || s.String() != spec {
			t.Errorf("ParseSpec(%q).String() = %q, %v", spec, s.String(), err)
		}
	}
}

func TestNewChrootNeedsARoot(t *testing.T) {
	mk := func(t *testing.T, files []string, links map[string]string) string {
		dir := t.TempDir()
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		files []string
		links map[string]string
		err   string
	}{
		{name: "empty", err: "not a root file system: no /bin/sh (nor /usr/bin/sh) and no /etc/os-release in it"},
		{name: "no shell", files: []string{"etc/os-release"}, err: "not a root file system: no /bin/sh (nor /usr/bin/sh) in it"},
		{name: "no os-release", files: []string{"bin/sh"}, err: "not a root file system: no /etc/os-release in it"},
		{name: "classic", files: []string{"bin/sh", "etc/os-release"}},
		{name: "usr only", files: []string{"usr/bin/sh", "etc/os-release"}},
		{name: "merged usr", files: []string{"usr/bin/sh", "usr/lib/os-release"},
			links: map[string]string{"bin": "usr/bin", "etc": "usr/lib"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mk(t, tc.files, tc.links)
			h, err := NewChroot(dir)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("NewChroot: %v", err)
				}
				h.Close()
				return
			}
			if err == nil || err.Error() != "chroot "+dir+": "+tc.err {
				t.Fatalf("NewChroot = %v; want %q", err, "chroot "+dir+": "+tc.err)
			}
		})
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for dir, want := range map[string]string{
		"/":                     "chroot /: that is the machine chaos runs on, not a chroot (say @local)",
		"/nonexistent-chaos-x/": "chroot /nonexistent-chaos-x: stat /nonexistent-chaos-x: no such file or directory",
		file:                    "chroot " + file + ": not a directory",
		"relative":              "chroot relative: not an absolute path",
	} {
		if _, err := NewChroot(dir); err == nil || err.Error() != want {
			t.Errorf("NewChroot(%q) = %v; want %q", dir, err, want)
		}
	}
}
