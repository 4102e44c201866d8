package engine

import (
	"strings"
	"testing"
)

func TestAccessReasons(t *testing.T) {
	w := func(p string) Op { return Write(p, []byte("x"), 0o644, "root", "root") }
	for _, tc := range []struct {
		name string
		op   Op
		user string
		want string // a part of the reason; "" for none
	}{
		{"sshd config", w("/etc/ssh/sshd_config"), "root", "/etc/ssh"},
		{"sshd drop-in", w("/etc/ssh/sshd_config.d/10-deny.conf"), "root", "/etc/ssh"},
		{"pam", w("/etc/pam.d/sshd"), "root", "/etc/pam.d"},
		{"sudoers", w("/etc/sudoers"), "deploy", "/etc/sudoers"},
		{"sudoers.d", w("/etc/sudoers.d/deploy"), "deploy", "/etc/sudoers.d"},
		{"limits", w("/etc/security/access.conf"), "root", "/etc/security"},
		{"passwd", w("/etc/passwd"), "root", "/etc/passwd"},
		{"hosts.deny", w("/etc/hosts.deny"), "root", "/etc/hosts.deny"},
		{"nftables", w("/etc/nftables.conf"), "root", "/etc/nftables.conf"},
		{"iptables rules", w("/etc/iptables/rules.v4"), "root", "/etc/iptables"},
		{"ifupdown", w("/etc/network/interfaces"), "root", "/etc/network"},
		{"netplan", w("/etc/netplan/50-cloud.yaml"), "root", "/etc/netplan"},
		{"networkd", w("/etc/systemd/network/10-eth.network"), "root", "/etc/systemd/network"},
		{"NetworkManager", w("/etc/NetworkManager/system-connections/eth0.nmconnection"), "root", "NetworkManager"},
		{"ssh unit drop-in", w("/etc/systemd/system/ssh.service.d/override.conf"), "root", "a unit of ssh"},
		{"sshd unit", w("/etc/systemd/system/sshd.service"), "root", "a unit of sshd"},
		{"ssh unit disabled", Remove("/etc/systemd/system/multi-user.target.wants/ssh.service"), "root", "a unit of ssh"},
		{"root keys", w("/root/.ssh/authorized_keys"), "root", "connecting user"},
		{"user keys", w("/home/deploy/.ssh/authorized_keys"), "deploy", "connecting user"},
		{"user home", Op{Kind: OpChmod, Path: "/home/deploy", Mode: 0o777}, "deploy", "connecting user"},
		{"other user's keys", w("/srv/git/.ssh/authorized_keys"), "root", ".ssh"},
		{"shell of the connecting user", Exec("usermod", "-s", "/usr/sbin/nologin", "deploy"), "deploy", "account of deploy"},
		{"groups of the connecting user", Exec("usermod", "-G", "wheel", "deploy"), "deploy", "account of deploy"},
		{"group removed", Exec("groupdel", "admins"), "deploy", "group"},
		{"lock of the connecting user", Exec("passwd", "-l", "deploy"), "deploy", "account of deploy"},
		{"restart sshd", Exec("systemctl", "restart", "ssh.service"), "root", "acts on ssh.service"},
		{"reload sshd", Exec("systemctl", "reload", "sshd"), "root", "acts on sshd"},
		{"stop firewall", Exec("systemctl", "stop", "nftables.service"), "root", "acts on nftables.service"},
		{"networking", Exec("systemctl", "restart", "networking"), "root", "acts on networking"},
		{"nft", Exec("nft", "-f", "/tmp/rules"), "root", "firewall"},
		{"env wrapper", Exec("env", "LC_ALL=C", "usermod", "-L", "root"), "root", "account of root"},
		{"visudo of a file", Exec("visudo", "-c", "-f", "/etc/sudoers.d/x"), "root", "/etc/sudoers.d"},

		{"motd", w("/etc/motd"), "root", ""},
		{"a file like sudoers", w("/etc/sudoers-notes.txt"), "root", ""},
		{"another user's shell", Exec("usermod", "-s", "/usr/sbin/nologin", "alice"), "deploy", ""},
		{"another user's home", w("/home/alice/notes"), "deploy", ""},
		{"root's other files", w("/root/notes"), "root", ""},
		{"another service", Exec("systemctl", "restart", "nginx.service"), "root", ""},
		{"a unit named like ssh", w("/etc/systemd/system/sshfs-mount.service"), "root", ""},
		{"package install", Exec("apt-get", "install", "-y", "nginx"), "root", ""},
		{"sshd_config path as a word", Exec("echo", "sshd_config"), "root", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hp := &HostPlan{Roles: []*RolePlan{{Role: "r", Steps: []Step{{Ops: []Op{Write("/etc/motd", nil, 0, "", ""), tc.op}}}}}}
			got := AccessReasons(hp, tc.user)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("want no reason, got %q", got)
			case tc.want != "" && len(got) != 1:
				t.Fatalf("want one reason with %q, got %q", tc.want, got)
			case tc.want != "" && !strings.Contains(got[0], tc.want):
				t.Fatalf("reason %q does not say %q", got[0], tc.want)
			case tc.want != "" && !strings.HasPrefix(got[0], "r: "+tc.op.String()+": "):
				t.Fatalf("reason %q does not name the role and op", got[0])
			}
		})
	}
}
