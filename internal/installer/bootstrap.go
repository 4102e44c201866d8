package installer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// bootstrapRecipe versions the way the root is made: change it with NewBootstrap or Argv.
const bootstrapRecipe = "chaos-install-debian-v1"

// Bootstrap is the recipe of the new root's core: a Debian suite from mirrors, minbase plus a
// kernel, an init, the boot loader and the tools of the declared file systems. The Ch-obolo's
// own packages are installed afterwards by its packages role, inside the new root.
type Bootstrap struct {
	Suite string
	// Sources are mmdebstrap's mirror arguments: a deb822 .sources file or one-line entries.
	Sources []string
	// SourcesText is what the sources say (the file's content), part of the cache key.
	SourcesText string
	Packages    []string
}

// basePackages make a bootable, loggable-into system (init, kernel and initramfs, a login).
var basePackages = []string{"linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "kmod", "login", "passwd"}

// NewBootstrap is the recipe for layout l: mirror is the Debian mirror (a deb822 file's path or a
// URL) with its content, and the Ch-obolo's apt repositories without a key (local repositories)
// come along, so that the suite's packages and theirs both resolve.
func NewBootstrap(c *chobolo.Chobolo, l *Layout, suite, mirror, mirrorText string) *Bootstrap {
	b := &Bootstrap{Suite: suite, Sources: []string{mirror}, SourcesText: mirrorText}
	for _, r := range c.Repos.Apt {
		if r.Enabled != nil && !*r.Enabled || r.Key != "" || r.KeyText != "" || !slices.Contains(append([]string{"deb"}, r.Types...), "deb") {
			continue
		}
		opts := ""
		if r.Trusted {
			opts = "[trusted=yes] "
		}
		for _, uri := range r.URIs {
			for _, s := range r.Suites {
				line := strings.TrimSpace(fmt.Sprintf("deb %s%s %s %s", opts, uri, s, strings.Join(r.Components, " ")))
				b.Sources = append(b.Sources, line)
				b.SourcesText += "\n" + line
			}
		}
	}
	pkgs := slices.Clone(basePackages)
	if l.Boot.UEFI {
		pkgs = append(pkgs, "grub-efi-amd64")
	} else {
		pkgs = append(pkgs, "grub-pc")
	}
	for _, p := range l.Partitions {
		switch p.FS {
		case "btrfs":
			pkgs = append(pkgs, "btrfs-progs")
		case "xfs":
			pkgs = append(pkgs, "xfsprogs")
		case "vfat":
			pkgs = append(pkgs, "dosfstools")
		}
	}
	slices.Sort(pkgs)
	b.Packages = slices.Compact(pkgs)
	return b
}

// Key names the recipe's tarball in the cache: debian-SUITE-<sha12>.tar.zst.
func (b *Bootstrap) Key() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{bootstrapRecipe, b.Suite, b.SourcesText,
		strings.Join(b.Sources, "\n"), strings.Join(b.Packages, " "), strings.Join(b.Argv("OUT"), "\x00")}, "\n--\n")))
	return "debian-" + b.Suite + "-" + hex.EncodeToString(sum[:])[:12] + ".tar.zst"
}

// Argv is the mmdebstrap command that writes the root as a tarball to out.
func (b *Bootstrap) Argv(out string) []string {
	argv := []string{"mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar",
		"--include=" + strings.Join(b.Packages, ","),
		// Every install from this tarball gets the same files: nothing of the machine that built it.
		`--customize-hook=echo debian > "$1/etc/hostname"`,
		`--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*`,
		b.Suite, out}
	return append(argv, b.Sources...)
}

// RandomUUID is a random (version 4) UUID.
func RandomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ReadRootFacts reads the kernels of the root at dir (on this machine): /boot/vmlinuz-VERSION.
func ReadRootFacts(dir string) (RootFacts, error) {
	var rf RootFacts
	entries, err := os.ReadDir(filepath.Join(dir, "boot"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rf, err
	}
	for _, e := range entries {
		if v, ok := strings.CutPrefix(e.Name(), "vmlinuz-"); ok {
			rf.Kernels = append(rf.Kernels, v)
		}
	}
	slices.Sort(rf.Kernels) // a fresh root has one kernel
	return rf, nil
}
