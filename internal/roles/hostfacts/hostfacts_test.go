package hostfacts

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      Facts
	}{
		{name: "empty", out: "", want: Facts{ShellPkgs: map[string][]string{}}},
		{name: "every key",
			out: "shell=zsh /usr/bin/zsh\nshell=bash /bin/bash\nsshd=running\nsshd=enabled\nsudo=alice,bob\nkernel=6.1.0-13-amd64\nkernelpkg=linux\n",
			want: Facts{ShellPkgs: map[string][]string{"zsh": {"/usr/bin/zsh"}, "bash": {"/bin/bash"}}, SSHDRunning: true,
				SSHDEnabled: true, SudoMembers: []string{"alice", "bob"}, Kernel: "6.1.0-13-amd64", KernelPkg: "linux"}},
		{name: "a role's own lines are ignored",
			out:  "lists=1\npolicy-rc.d=absent\ndbpath=/var/lib/pacman/\ncache=1\nboot=grub\nkernel=6.8\n",
			want: Facts{ShellPkgs: map[string][]string{}, Kernel: "6.8"}},
		{name: "one package, two shells, each once",
			out:  "shell=zsh /bin/zsh\nshell=zsh /usr/bin/zsh\nshell=zsh /bin/zsh\n",
			want: Facts{ShellPkgs: map[string][]string{"zsh": {"/bin/zsh", "/usr/bin/zsh"}}}},
		{name: "half lines are dropped",
			out:  "shell=zsh\nshell= /bin/zsh\nshell\nsshd=maybe\nsudo=\nsudo= , \nkernel=\n",
			want: Facts{ShellPkgs: map[string][]string{}}},
		{name: "members trimmed and each once",
			out:  "sudo= alice , bob,alice\n",
			want: Facts{ShellPkgs: map[string][]string{}, SudoMembers: []string{"alice", "bob"}}},
		{name: "kernel release trimmed",
			out:  "kernel=6.8.10-100.fc39.x86_64 \r\nkernelpkg= linux-lts\n",
			want: Facts{ShellPkgs: map[string][]string{}, Kernel: "6.8.10-100.fc39.x86_64", KernelPkg: "linux-lts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.out)
			if !maps.EqualFunc(got.ShellPkgs, tc.want.ShellPkgs, slices.Equal) || got.SSHDRunning != tc.want.SSHDRunning ||
				got.SSHDEnabled != tc.want.SSHDEnabled || !slices.Equal(got.SudoMembers, tc.want.SudoMembers) ||
				got.Kernel != tc.want.Kernel || got.KernelPkg != tc.want.KernelPkg {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.out, got, tc.want)
			}
		})
	}
}

func TestProtected(t *testing.T) {
	debian := Core{AdminGroup: "sudo", SSHD: "openssh-server", Kernel: func(f *Facts) string {
		if f.Kernel == "" {
			return ""
		}
		return "linux-image-" + f.Kernel
	}}
	arch := Core{AdminGroup: "wheel", SSHD: "openssh", Kernel: func(f *Facts) string { return f.KernelPkg }}
	for _, tc := range []struct {
		name           string
		core           Core
		out            string
		sudoUsed, root bool // root: a chroot
		want           []string
	}{
		{name: "nothing", core: debian, out: "", want: nil},
		{name: "every reason", core: debian,
			out:  "shell=zsh /usr/bin/zsh\nsshd=running\nsudo=alice\nkernel=6.1.0-1-amd64\n",
			want: []string{"linux-image-6.1.0-1-amd64: it is the running kernel", "openssh-server: sshd is running or enabled at boot; removing it could lock you out", "sudo: users rely on sudo (the sudo group has members or a declared user has sudo: true)", "zsh: it provides the login shell /usr/bin/zsh of a user on this host"}},
		{name: "in a chroot the running sshd and kernel are the host's", core: debian, root: true,
			out:  "sshd=running\nkernel=6.1.0-1-amd64\n",
			want: nil},
		{name: "in a chroot an enabled sshd still counts", core: arch, root: true,
			out:  "sshd=enabled\nkernelpkg=linux\n",
			want: []string{"openssh: sshd is running or enabled at boot; removing it could lock you out"}},
		{name: "sudo: true alone keeps sudo, wheel named", core: arch, sudoUsed: true,
			want: []string{"sudo: users rely on sudo (the wheel group has members or a declared user has sudo: true)"}},
		{name: "arch: the kernel package is the pkgbase, not the release", core: arch,
			out:  "kernel=6.9.1-arch1-1\nkernelpkg=linux-zen\n",
			want: []string{"linux-zen: it is the running kernel"}},
		{name: "arch: no pkgbase, no kernel package", core: arch, out: "kernel=6.9.1-arch1-1\n", want: nil},
		{name: "two shells of one package", core: debian, out: "shell=zsh /bin/zsh\nshell=zsh /usr/bin/zsh\n",
			want: []string{"zsh: it provides the login shell /bin/zsh, /usr/bin/zsh of a user on this host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse(tc.out)
			var got []string
			for pkg, why := range f.Protected(tc.core, tc.sudoUsed, tc.root) {
				got = append(got, pkg+": "+why)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
