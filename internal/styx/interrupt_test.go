package styx

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/souls"
)

// childEnv carries, to the re-executed test binary, what TestInterruptedInstall's child invokes.
const childEnv = "STYX_TEST_INSTALL_CHILD"

// An install killed with SIGKILL at any moment leaves a working Soul: the previous version, or the
// new one complete, never a mix; receipts agree with what is installed once the next install has
// run, and what the killed installs left in the store is swept.
func TestInterruptedInstall(t *testing.T) {
	if index := os.Getenv(childEnv); index != "" {
		pk, err := ParsePublicKey(os.Getenv(childEnv + "_KEY"))
		if err != nil {
			t.Fatal(err)
		}
		c := New(Options{Registry: "file://" + index, IndexKeys: []PublicKey{pk}, Dir: os.Getenv(childEnv + "_DIR"), SoulDir: os.Getenv(childEnv + "_SOULS")})
		if _, err := c.Invoke(ctx, []string{"x@2.0.0"}, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	f := newFixture(t)
	alice := testSigner(t, "alice")
	f.publish(soulDir(t, "x", "1.0.0", nil), alice)
	big := map[string]string{}
	for i := range 2000 {
		big[fmt.Sprintf("data/%02d/f%d", i%50, i)] = strings.Repeat("x", i%700)
	}
	f.publish(soulDir(t, "x", "2.0.0", big), alice)
	c := f.client()
	if _, err := c.Invoke(ctx, []string{"x@1.0.0"}, nil); err != nil {
		t.Fatal(err)
	}
	trees := map[string]string{}
	trees["1.0.0"], _ = TreeDigest(filepath.Join(f.souls, "x"))
	if _, err := c.Invoke(ctx, []string{"x@2.0.0"}, nil); err != nil { // warms the artifact cache
		t.Fatal(err)
	}
	trees["2.0.0"], _ = TreeDigest(filepath.Join(f.souls, "x"))

	midway := 0
	for round := range 6 {
		if _, err := c.Invoke(ctx, []string{"x@1.0.0"}, nil); err != nil {
			t.Fatal(err)
		}
		var old string
		if target, err := os.Readlink(filepath.Join(f.souls, "x")); err == nil {
			old = filepath.Base(target)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptedInstall$")
		cmd.Env = append(os.Environ(), childEnv+"="+f.index, childEnv+"_DIR="+f.dir, childEnv+"_SOULS="+f.souls,
			childEnv+"_KEY="+f.indexKey.Public().String())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once the new version is being unpacked (or when it has finished, under load).
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.Now().Add(2 * time.Minute)
	wait:
		for time.Now().Before(deadline) {
			select {
			case <-done:
				break wait
			default:
			}
			stored, _ := os.ReadDir(filepath.Join(f.souls, storeDir))
			for _, e := range stored {
				if e.Name() != old {
					if round%2 == 1 { // let it write some files first
						time.Sleep(time.Duration(round) * time.Millisecond)
					}
					cmd.Process.Kill()
					<-done
					break wait
				}
			}
			time.Sleep(time.Millisecond)
		}
		// Whatever the moment: a working Soul, one of the two versions, complete.
		found, errs := souls.Discover([]string{f.souls})
		if len(errs) > 0 || len(found) != 1 {
			t.Fatalf("round %d: discovered %v %v", round, found, errs)
		}
		v := found[0].Manifest.Version
		if tree, err := TreeDigest(filepath.Join(f.souls, "x")); err != nil || tree != trees[v] {
			t.Fatalf("round %d: x %s is not complete: %v", round, v, err)
		}
		if v == "1.0.0" {
			if stored, _ := os.ReadDir(filepath.Join(f.souls, storeDir)); len(stored) > 1 {
				midway++
			}
		}
		// The next install repairs the receipts and sweeps the leftovers.
		if _, err := c.Invoke(ctx, []string{"x@2.0.0"}, nil); err != nil {
			t.Fatal(err)
		}
		if checks, err := c.Verify(); err != nil || len(checks) != 1 || !checks[0].OK {
			t.Fatalf("round %d: verify %+v %v", round, checks, err)
		}
		if stored, _ := os.ReadDir(filepath.Join(f.souls, storeDir)); len(stored) != 1 {
			t.Fatalf("round %d: left in the store: %v", round, stored)
		}
	}
	t.Logf("%d of 6 kills landed while the new version was half unpacked", midway)
	if midway == 0 {
		t.Fatal("no kill landed during an install: the test proved nothing")
	}
}
