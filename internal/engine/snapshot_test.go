package engine

import (
	"slices"
	"testing"
)

func TestRewriteFstab(t *testing.T) {
	for _, tc := range []struct{ name, in, want, change string }{
		{"subvol", "# / was on /dev/vda2\nUUID=ab / btrfs defaults,subvol=@,compress=zstd 0 0\nUUID=ab /home btrfs subvol=@home 0 0\n",
			"# / was on /dev/vda2\nUUID=ab / btrfs defaults,subvol=/@/.chaos-snapshots/restored-7,compress=zstd 0 0\nUUID=ab /home btrfs subvol=@home 0 0\n",
			"subvol=@ -> subvol=/@/.chaos-snapshots/restored-7"},
		{"subvolid and tabs", "UUID=ab\t/\tbtrfs\tsubvolid=256,subvol=/@\t0\t1\n",
			"UUID=ab\t/\tbtrfs\tsubvolid=301,subvol=/@/.chaos-snapshots/restored-7\t0\t1\n",
			"subvolid=256 -> subvolid=301, subvol=/@ -> subvol=/@/.chaos-snapshots/restored-7"},
		{"no subvolume for /", "UUID=ab / btrfs defaults 0 0\n", "UUID=ab / btrfs defaults 0 0\n", ""},
		{"commented and short lines", "#UUID=ab / btrfs subvol=@ 0 0\nproc /proc\n", "#UUID=ab / btrfs subvol=@ 0 0\nproc /proc\n", ""},
		{"already the copy", "UUID=ab / btrfs subvol=/@/.chaos-snapshots/restored-7 0 0", "UUID=ab / btrfs subvol=/@/.chaos-snapshots/restored-7 0 0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, change := RewriteFstab(tc.in, "/@/.chaos-snapshots/restored-7", "301")
			if got != tc.want || change != tc.change {
				t.Errorf("RewriteFstab =\n%q (%q)\nwant\n%q (%q)", got, change, tc.want, tc.change)
			}
		})
	}
}

func TestBootPins(t *testing.T) {
	out := "/boot/grub/grub.cfg:118:rootflags=subvol=@\n/boot/loader/entries/arch.conf:3:rootflags=subvolid=256\n"
	want := []string{"/boot/grub/grub.cfg:118: rootflags=subvol=@", "/boot/loader/entries/arch.conf:3: rootflags=subvolid=256"}
	if got := BootPins(out); !slices.Equal(got, want) {
		t.Fatalf("BootPins = %q, want %q", got, want)
	}
	if got := BootPins(""); len(got) != 0 {
		t.Fatalf("BootPins(\"\") = %q", got)
	}
}
