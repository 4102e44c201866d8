package livetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// boot starts a container and opens the nsenter transport into it.
func boot(t *testing.T, prepare ...func(root string)) (*testenv.Booted, transport.Transport) {
	t.Helper()
	start := time.Now()
	b := testenv.BootedDebian(t, prepare...)
	t.Logf("%s: booted %s in %v (root ready + boot %v)", t.Name(), b.State,
		time.Since(start).Round(time.Millisecond), b.Boot.Round(time.Millisecond))
	return b, enginetest.Nsenter(t, b.PID, "@nspawn/"+b.Name)
}

// state is the output of `systemctl VERB UNIT` inside the container (is-active, is-enabled).
func state(t *testing.T, b *testenv.Booted, verb, unit string) string {
	t.Helper()
	out, _ := b.Run("systemctl", verb, unit)
	return strings.TrimSpace(out)
}

func wantState(t *testing.T, b *testenv.Booted, unit, active, enabled string) {
	t.Helper()
	if got := state(t, b, "is-active", unit); got != active {
		t.Errorf("%s is %q, want %q", unit, got, active)
	}
	if got := state(t, b, "is-enabled", unit); got != enabled {
		t.Errorf("%s is %q, want %q", unit, got, enabled)
	}
}

// plan plans without failing the test, for plans that must be refused.
func plan(tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) (*engine.HostPlan, error) {
	e := &engine.Engine{Registry: engine.NewRegistry(roles...)}
	return e.Plan(context.Background(), tr, engine.Request{Chobolo: c, Assume: true})
}

// changes lists the plan's changes as "KIND SUBJECT: DETAIL" lines.
func changes(hp *engine.HostPlan) []string {
	var out []string
	for _, r := range hp.Roles {
		for _, s := range r.Steps {
			for _, c := range s.Changes {
				out = append(out, fmt.Sprintf("%s %s: %s", c.Kind, c.Subject, c.Detail))
			}
		}
	}
	return out
}

func notes(hp *engine.HostPlan) string {
	var out []string
	for _, r := range hp.Roles {
		out = append(out, r.Notes...)
	}
	return strings.Join(out, "\n")
}

func hasChange(hp *engine.HostPlan, subject, detail string) bool {
	for _, c := range changes(hp) {
		if strings.Contains(c, subject) && strings.Contains(c, detail) {
			return true
		}
	}
	return false
}

// inCgroup is the nsenter transport with every command started inside one of the container's
// cgroups (cgroup2, CLONE_INTO_CGROUP): as seen from the container, chaos then runs inside that
// unit, like a session of an SSH daemon that does not move sessions into logind scopes.
type inCgroup struct {
	*transport.Host
	cgroup string // directory in this machine's cgroup2 hierarchy
}

func (c inCgroup) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	dir, err := os.Open(c.cgroup)
	if err != nil {
		return transport.Result{}, err
	}
	defer dir.Close()
	x := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(c.PID()), "--all", "--"}, cmd.Argv...)...)
	x.Dir = "/"
	x.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "HOME=/root"}, cmd.Env...)
	x.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if cmd.Stdin != nil {
		x.Stdin = bytes.NewReader(cmd.Stdin)
	}
	var o, e bytes.Buffer
	x.Stdout, x.Stderr = &o, &e
	err = x.Run()
	res := transport.Result{Stdout: o.Bytes(), Stderr: e.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		res.Code, err = ee.ExitCode(), nil
	}
	return res, err
}

func unitFile(desc string) string {
	return "[Unit]\nDescription=" + desc + "\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
}

func no() *bool  { f := false; return &f }
func yes() *bool { t := true; return &t }
