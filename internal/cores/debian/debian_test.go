package debian

import (
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

func TestBaseSet(t *testing.T) {
	for _, n := range []string{"apt", "linux-image-6.1.0-13-amd64", "linux-image-amd64", "grub-efi-amd64-signed", "intel-microcode",
		"amd64-microcode", "firmware-iwlwifi", "openssh-server", "sudo", "systemd-sysv", "task-ssh-server", "shim-signed", "apt:amd64"} {
		if !InBase(n) {
			t.Errorf("%s should be in the base set", n)
		}
	}
	for _, n := range []string{"cowsay", "linux", "grub", "microcode", "nginx", "vim", "task", "xfirmware-x"} {
		if InBase(n) {
			t.Errorf("%s should not be in the base set", n)
		}
	}
	m := NewMatcher([]string{"a?c", "lib[xy]z", "[bad"})
	if !m.Match("abc") || !m.Match("libxz") || m.Match("libzz") || m.Match("[bad") {
		t.Error("glob patterns")
	}
}

func TestValidPackage(t *testing.T) {
	for _, bad := range []string{"-f", "--purge", "a b", "A", "x;y", "$(id)", "", "a", "a\nb", "../x"} {
		if ValidPackage(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, ok := range []string{"g++", "libc6", "libc6:i386", "python3.11", "0ad"} {
		if err := ValidPackage(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

func TestNoServiceStarts(t *testing.T) {
	if b, a := NoServiceStarts(false, PolicyRCAbsent); b != nil || a != nil {
		t.Error("outside a chroot nothing is wrapped")
	}
	if b, a := NoServiceStarts(true, PolicyRCOther); b != nil || a != nil {
		t.Error("the admin's policy-rc.d is never replaced")
	}
	b, a := NoServiceStarts(true, PolicyRCAbsent)
	if len(b) != 1 || b[0].Kind != engine.OpWrite || b[0].Path != PolicyRC || b[0].Mode != 0o755 || len(a) != 1 || a[0].Kind != engine.OpRemove {
		t.Errorf("before %v after %v", b, a)
	}
	for line, want := range map[string]PolicyRCState{"policy-rc.d=absent": PolicyRCAbsent, "policy-rc.d=chaos": PolicyRCChaos, "policy-rc.d=other": PolicyRCOther} {
		if got, ok := ParsePolicyRC(line); !ok || got != want {
			t.Errorf("%s: %v", line, got)
		}
	}
	if _, ok := ParsePolicyRC("policy-rc.d=weird"); ok {
		t.Error("unknown state accepted")
	}
}

func TestAptGet(t *testing.T) {
	op := AptGet("install", "x")
	if op.Argv[0] != "apt-get" || op.Argv[len(op.Argv)-1] != "x" || len(op.Env) != len(AptEnv) {
		t.Errorf("%v", op)
	}
}
