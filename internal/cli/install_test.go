package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chaos install refuses, before any disk is read, what no disk can make work (with every
// problem at its FILE:LINE:COL) and flags that do not go together.
func TestInstallRefusals(t *testing.T) {
	dir := isolate(t)
	file := filepath.Join(dir, "m.yml")
	if err := os.WriteFile(file, []byte(`bootloader: grub
partitioning:
  partitions:
    - {name: a, important: root, type: ext4, size: 1G}
    - {name: b, type: ext4, mount_point: /}
    - {name: c, type: zfs}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	r := run(t, "", "install", "-c", file, "--image", img, "--size", "2G", "--dry")
	for _, want := range []string{
		file + ":5:7: mountpoint / is declared twice (also at " + file + ":4:7)",
		file + `:6:7: partitioning.partitions[2].type "zfs": unknown`,
	} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("want %q:\n%s", want, r)
		}
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Errorf("a refused install made the image: %v", err)
	}
	for args, want := range map[string]string{
		"--image " + img:                        `--size "": expected a size like 8G`,
		"--disk /dev/null --size 1G":            "--size goes with --image",
		"--disk /dev/null --image " + img:       "give --disk DEVICE or --image FILE --size SIZE",
		"--image " + img + " --size 2G":         "install erases the disk: confirm with -y",
		"--image " + img + " --size 100% --dry": `--size "100%": expected a size like 8G`,
	} {
		r := run(t, "", append([]string{"install", "-c", file}, strings.Fields(args)...)...)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("install %s: want %q:\n%s", args, want, r)
		}
	}
}
