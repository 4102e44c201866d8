package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

func writeChobolo(t *testing.T, text string) *chaos.Chobolo {
	t.Helper()
	p := filepath.Join(t.TempDir(), "machine.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := chaos.Load(p, chaos.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newController(t *testing.T) *chaos.Controller {
	t.Helper()
	ctl, err := chaos.New(chaos.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ctl
}

// Two applies of different Ch-obolos, at once, in one process, against the same host: the second
// finds the host busy while the first holds it, and only the first applies.
func TestTwoAppliesOneHost(t *testing.T) {
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	ctl := newController(t)
	first := writeChobolo(t, "files:\n  - path: /etc/chaos-first\n    content: \"one\\n\"\n")
	second := writeChobolo(t, "files:\n  - path: /etc/chaos-second\n    content: \"two\\n\"\n")

	holding := make(chan struct{})
	secondDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var firstRun *chaos.Run
	go func() {
		defer wg.Done()
		var err error
		// The first apply's approval is asked under the host lock: it lets the second apply run to
		// its end before saying yes.
		firstRun, err = ctl.Apply(context.Background(), chaos.ApplyRequest{Chobolo: first, Targets: []string{target}, Yes: true,
			Approve: func(context.Context, *chaos.Plan) (chaos.Approval, error) {
				close(holding)
				<-secondDone
				return chaos.Approve, nil
			}})
		if err != nil {
			t.Error(err)
		}
	}()
	<-holding
	run, err := newController(t).Apply(context.Background(), chaos.ApplyRequest{Chobolo: second, Targets: []string{target}, Yes: true})
	if err != nil {
		t.Fatal(err)
	}
	close(secondDone)
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := firstRun.Hosts[0]; got.Status != chaos.StatusChanged {
		t.Fatalf("first apply: %+v", got)
	}
	got := run.Hosts[0]
	if got.Status != chaos.StatusFailed || !strings.Contains(got.Error, "is applying to this host") {
		t.Fatalf("second apply while the first held the host: %+v", got)
	}
	if !testenv.Exists(t, root, "/etc/chaos-first") || testenv.Exists(t, root, "/etc/chaos-second") {
		t.Fatal("want only the first Ch-obolo applied")
	}
	// Once the first is done, the second applies.
	run, err = ctl.Apply(context.Background(), chaos.ApplyRequest{Chobolo: second, Targets: []string{target}, Yes: true})
	if err != nil || run.Hosts[0].Status != chaos.StatusChanged {
		t.Fatalf("second apply after the first: %v %+v", err, run)
	}
}

// A fleet apply through the API whose approver refuses one host's plan: that host is untouched and
// failed, the other applied.
func TestFleetApprovalRefusesOneHost(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 2)
	c := writeChobolo(t, fmt.Sprintf(`files:
  - path: /etc/motd
    content: "managed by chaos\n"
fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}
  hosts:
    one: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
    two: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, hs.KnownHosts, hs.Hosts[0].Addr, hs.KeyFile, hs.Hosts[1].Addr, hs.KeyFile))
	ctl := newController(t)
	inv, _, _, err := ctl.LoadInventory(context.Background(), c, chaos.InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	var events []chaos.Event
	run, err := ctl.ApplyFleet(context.Background(), chaos.FleetRequest{ApplyRequest: chaos.ApplyRequest{
		Chobolo: c, Inventory: inv, Yes: true,
		Approve: func(_ context.Context, p *chaos.Plan) (chaos.Approval, error) {
			mu.Lock()
			asked = append(asked, p.Target)
			mu.Unlock()
			if p.Target == "two" {
				return chaos.Refuse, nil
			}
			return chaos.Approve, nil
		},
		Events: func(ev chaos.Event) { events = append(events, ev) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]chaos.HostOutcome{}
	for _, h := range run.Hosts {
		status[h.Name] = h
	}
	if status["one"].Status != chaos.StatusChanged || status["two"].Status != chaos.StatusFailed ||
		!strings.Contains(status["two"].Error, "two: not applied") {
		t.Fatalf("outcomes: %+v", run.Hosts)
	}
	if len(asked) != 2 {
		t.Fatalf("approver asked about %v", asked)
	}
	if got := testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd"); got != "managed by chaos\n" {
		t.Fatalf("one: motd %q", got)
	}
	if testenv.ReadFile(t, hs.Hosts[1].Root, "/etc/motd") == "managed by chaos\n" {
		t.Fatal("two: applied although its plan was refused")
	}
	if events[0].Type != engine.EventRunStart || events[len(events)-1].Type != engine.EventRunDone {
		t.Fatalf("events: first %s, last %s", events[0].Type, events[len(events)-1].Type)
	}
}

// Every event a real apply, its no-change rerun, a refused plan and a rollback send is valid
// against docs/events.schema.json, and every event type the engine names is in the schema.
func TestEventsMatchSchema(t *testing.T) {
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	schemaPath := filepath.Join(testenv.RepoRoot(t), "docs", "events.schema.json")
	comp := jsonschema.NewCompiler()
	comp.AssertFormat()
	sch, err := comp.Compile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	seen := map[chaos.EventType]bool{}
	collect := func(ev chaos.Event) {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, data)
		seen[ev.Type] = true
	}
	ctl := newController(t)
	v1 := writeChobolo(t, "files:\n  - path: /etc/chaos-a\n    content: \"a\\n\"\n")
	v2 := writeChobolo(t, "files:\n  - path: /etc/chaos-a\n    content: \"b\\n\"\n")
	for _, req := range []chaos.ApplyRequest{
		{Chobolo: v1, Yes: true},
		{Chobolo: v1, Yes: true},
		{Chobolo: v2, Dry: true},
		{Chobolo: v2, Approve: func(context.Context, *chaos.Plan) (chaos.Approval, error) { return chaos.Refuse, errors.New("no") }},
		{Chobolo: v2, Yes: true},
	} {
		req.Targets, req.Events = []string{target}, collect
		if _, err := ctl.Apply(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ctl.Rollback(context.Background(), chaos.RollbackRequest{Target: target,
		ApplyRequest: chaos.ApplyRequest{Yes: true, Events: collect}}); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos-a"); got != "a\n" {
		t.Fatalf("after the rollback: %q", got)
	}
	for _, l := range lines {
		var v any
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s\n%v", l, err)
		}
	}
	for _, want := range []chaos.EventType{engine.EventRunStart, engine.EventPhase, engine.EventConnected, engine.EventProbed,
		engine.EventPlan, engine.EventOpStart, engine.EventOpEnd, engine.EventDone, engine.EventResult,
		engine.EventGeneration, engine.EventError, engine.EventRunDone} {
		if !seen[want] {
			t.Errorf("no %s event in the runs", want)
		}
	}
	// The schema names every event type the engine declares.
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal", "engine", "event.go"))
	if err != nil {
		t.Fatal(err)
	}
	schema, _ := os.ReadFile(schemaPath)
	for _, line := range strings.Split(string(src), "\n") {
		if i := strings.Index(line, "EventType = \""); i >= 0 {
			name := strings.TrimSuffix(line[i+len("EventType = \""):], "\"")
			if !strings.Contains(string(schema), "\""+name+"\"") {
				t.Errorf("event type %q is not in docs/events.schema.json", name)
			}
		}
	}
}

// A cancelled apply undoes what it did and reports like a failed one.
func TestCancelledApplyUndoes(t *testing.T) {
	root := testenv.DebianRoot(t)
	before := testenv.HostState(t, root)
	c := writeChobolo(t, "files:\n  - path: /etc/chaos-1\n    content: \"1\\n\"\n  - path: /etc/chaos-2\n    content: \"2\\n\"\n  - path: /etc/chaos-3\n    content: \"3\\n\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var undone int
	run, err := newController(t).Apply(ctx, chaos.ApplyRequest{Chobolo: c, Targets: []string{"@chroot" + root}, Yes: true,
		Events: func(ev chaos.Event) {
			switch ev.Type {
			case chaos.EventOpEnd:
				cancel() // after the first op: the rest must not run, the first is undone
			case chaos.EventUndo:
				undone++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := run.Hosts[0]
	if h.Status != chaos.StatusFailed || !strings.Contains(h.Error, "context canceled") || undone == 0 {
		t.Fatalf("outcome %+v, %d undone", h, undone)
	}
	if diff := testenv.StateDiff(before, testenv.HostState(t, root)); diff != "" {
		t.Fatalf("the cancelled apply left changes:\n%s", diff)
	}
}

// An apply with a Job records it in the generation; a second apply of the same job (a retry after
// the server died) applies nothing, even with another Ch-obolo, and a third of another job does.
func TestJobAppliedOnce(t *testing.T) {
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	ctl := newController(t)
	apply := func(job, content string) *chaos.Run {
		t.Helper()
		c := writeChobolo(t, "files:\n  - path: /etc/chaos-job\n    content: \""+content+"\\n\"\n")
		run, err := ctl.Apply(context.Background(), chaos.ApplyRequest{Chobolo: c, Targets: []string{target}, Yes: true, Job: job})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	if run := apply("job-1", "one"); run.Hosts[0].Status != chaos.StatusChanged {
		t.Fatalf("first apply: %+v", run.Hosts)
	}
	if run := apply("job-1", "two"); run.Hosts[0].Status != chaos.StatusChanged || run.Hosts[0].Error != "" {
		t.Fatalf("retried apply: %+v", run.Hosts)
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos-job"); got != "one\n" {
		t.Fatalf("a retry of job-1 applied again: %q", got)
	}
	apply("job-2", "two")
	if got := testenv.ReadFile(t, root, "/etc/chaos-job"); got != "two\n" {
		t.Fatalf("job-2 not applied: %q", got)
	}
	tr, err := chaos.Open(context.Background(), target, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	gens, err := chaos.Generations(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, g := range gens {
		jobs = append(jobs, g.Job)
	}
	if strings.Join(jobs, ",") != "job-1,job-2" {
		t.Fatalf("generations' jobs: %v", jobs)
	}
}
