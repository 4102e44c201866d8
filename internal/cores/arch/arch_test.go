package arch

import (
	"slices"
	"testing"
)

func TestValidPackage(t *testing.T) {
	for _, ok := range []string{"glibc", "lib32-gcc-libs", "c++utilities", "libc++", "R", "android-sdk@beta", "python3.12", "a", "0ad"} {
		if err := ValidPackage(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-Rcc", ".hidden", "a b", "core/glibc", "glibc>=2", "x;y", "$(id)", "x\n", "é"} {
		if ValidPackage(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPacman(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"-S", "--needed", "--", "a"}, []string{"pacman", "-S", "--needed", "--noconfirm", "--noprogressbar", "--", "a"}},
		{[]string{"-Sy"}, []string{"pacman", "-Sy", "--noconfirm", "--noprogressbar"}},
		{[]string{"-D", "--asexplicit", "--", "a"}, []string{"pacman", "-D", "--asexplicit", "--noconfirm", "--", "a"}},
		{[]string{"-Rn", "--", "a"}, []string{"pacman", "-Rn", "--noconfirm", "--noprogressbar", "--", "a"}},
	} {
		if got := Pacman(tc.args...).Argv; !slices.Equal(got, tc.want) {
			t.Errorf("Pacman(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestEssential(t *testing.T) {
	for _, n := range []string{"glibc", "pacman", "linux-lts", "intel-ucode", "amd-ucode"} {
		if !IsEssential(n) {
			t.Errorf("%s is not essential", n)
		}
	}
	if IsEssential("firefox") {
		t.Error("firefox is essential")
	}
}
