// Package pathrules holds the rules about paths every file op follows, whoever plans it: the trees
// chaos never manages, the paths a system cannot live without, and octal modes. The files role
// and Soul roles (internal/souls) share them; this package imports nothing of chaos.
package pathrules

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Forbidden are trees chaos never manages files in: kernel interfaces and chaos's own state.
var Forbidden = []string{"/proc", "/sys", "/dev", "/var/lib/chaos"}

// undeletable are paths chaos never removes (state: absent, or a prune): the root, the top-level
// directories, and the files and directories a system cannot live without.
var undeletable = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt
	/proc /root /run /sbin /srv /sys /tmp /usr /var /usr/bin /usr/sbin /usr/lib /usr/lib64 /usr/lib32 /usr/libexec
	/usr/share /usr/include /usr/src /usr/local /usr/local/bin /usr/local/sbin /usr/local/lib /usr/local/share
	/var/lib /var/log /var/cache /var/tmp /var/spool /var/mail /var/backups /var/lib/dpkg /var/lib/apt
	/etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/sudoers /etc/sudoers.d /etc/fstab /etc/ssh /etc/pam.d
	/etc/systemd /etc/apt /etc/default /etc/security /etc/hosts /etc/hostname /etc/resolv.conf /etc/os-release
	/etc/shells /etc/login.defs /etc/nsswitch.conf /boot/efi /boot/grub /etc/ssh/sshd_config`) {
		undeletable[p] = true
	}
}

// Undeletable reports whether chaos must never remove p.
func Undeletable(p string) bool { return undeletable[p] }

// UnderAny reports whether p is one of roots or below one.
func UnderAny(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// Refuse says why chaos never writes path, whoever asks (a Soul's ops are held to the rule of a
// files entry): the root, kernel interfaces and chaos's own state; remove also refuses what a
// system cannot live without.
func Refuse(path string, remove bool) error {
	if path == "/" || UnderAny(path, Forbidden) {
		return fmt.Errorf("refusing to manage %s (chaos never manages /, /proc, /sys, /dev or its own /var/lib/chaos)", path)
	}
	if remove && Undeletable(path) {
		return fmt.Errorf("refusing to remove %s: the system needs it", path)
	}
	return nil
}

// ParseMode reads an octal mode: "0644", "644", "2755".
func ParseMode(s string) (uint32, error) {
	t := strings.TrimPrefix(s, "0o")
	if len(t) < 3 || len(t) > 5 {
		return 0, fmt.Errorf("invalid mode %q: write it in octal, e.g. \"0644\"", s)
	}
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("invalid mode %q: write it in octal, e.g. \"0644\"", s)
	}
	return uint32(v), nil
}

// FileMode converts an octal mode to Go's fs.FileMode.
func FileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}
