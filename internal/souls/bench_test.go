package souls_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// dotfilesFacts are the recorded facts of one host for benchDotfiles: alice's clone is there and
// one link is made, the other not yet.
var dotfilesFacts = engine.Facts{
	"entry-0": {Stdout: "home\t/home/alice\ngroup\talice\ngit\nhead\t0123456789abcdef\norigin\tgit://git.example.org/dots.git\n" +
		"link\t0\tlink\t/home/alice/.dotfiles/chaos/dots/bashrc\t\tparent\nlink\t1\tnone\t\t\tparent\n"},
	"ledger": {Stdout: "/home/alice/.bashrc\tlink\t/home/alice/.dotfiles/chaos/dots/bashrc\tbackup\n"},
}

const benchDotfiles = `dotfiles:
  - user: alice
    url: git://git.example.org/dots.git
    links:
      - {from: bashrc, to: .bashrc}
      - {from: nvim, to: .config/nvim}
`

// BenchmarkSoulRole100Hosts is the controller's cost of a Soul role in a fleet run: 100 hosts
// probe and plan at once through one real dotfiles Soul process (recorded facts, no host). The
// target is <= 5 ms of controller time per host; it reports the wall time and chaos's own CPU
// time (the Soul's is its process's) per host.
func BenchmarkSoulRole100Hosts(b *testing.B) {
	const hosts = 100
	dir := filepath.Join(b.TempDir(), "dotfiles")
	if out, err := exec.Command("cp", "-r", filepath.Join(testenv.RepoRoot(b), "examples/souls/dotfiles"), dir).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	build := exec.Command(goTool, "build", "-o", filepath.Join(dir, "dotfiles"), "./examples/souls/dotfiles")
	build.Dir = testenv.RepoRoot(b)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	s, err := souls.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	rt := souls.NewRuntime([]*souls.Soul{s})
	defer rt.Close()
	roles, errs := souls.Roles(rt, []*souls.Soul{s}, builtin.Roles())
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	role := roles[0]
	c, err := chobolo.LoadBytes("bench.yml", []byte(benchDotfiles), chobolo.LoadOptions{ExtraKeys: []string{"dotfiles"}})
	if err != nil {
		b.Fatal(err)
	}
	one := func(i int) error {
		env := &engine.Env{Target: fmt.Sprintf("web%d", i), Core: "debian",
			Ledger: map[string][]string{"soul:dotfiles:links": {"/home/alice/.bashrc"}}}
		if _, err := role.(engine.ProbeChecker).ProbeChecked(env, c); err != nil {
			return err
		}
		rp, err := role.Plan(env, c, dotfilesFacts)
		if err == nil && len(rp.Steps) != 1 {
			err = fmt.Errorf("plan: %d steps, want 1 (the missing link)", len(rp.Steps))
		}
		return err
	}
	if err := one(0); err != nil { // starts the process
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		errc := make(chan error, hosts)
		for i := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := one(i); err != nil {
					errc <- err
				}
			}()
		}
		wg.Wait()
		close(errc)
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perHost := float64(time.Since(start).Microseconds()) / 1000 / float64(b.N*hosts)
	cpuPerHost := float64((cpuTime() - cpu0).Microseconds()) / 1000 / float64(b.N*hosts)
	b.ReportMetric(perHost, "wall-ms/host")
	b.ReportMetric(cpuPerHost, "cpu-ms/host")
	if b.N > 1 {
		fmt.Fprintf(os.Stderr, "souls: %d hosts at once through one Soul process: %.3f ms/host wall, %.3f ms/host of chaos's CPU (target <= 5 ms)\n",
			hosts, perHost, cpuPerHost)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
