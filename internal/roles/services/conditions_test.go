package services

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func TestParseConditions(t *testing.T) {
	got := ParseConditions("@live\nx.service loaded inactive dead x\n@condfailed systemd-timesyncd.service\n@condfailed \n")
	if len(got) != 1 || !got["systemd-timesyncd.service"] {
		t.Errorf("failed = %v, want only systemd-timesyncd.service", got)
	}
	if got := ParseConditions(""); len(got) != 0 {
		t.Errorf("no output: %v", got)
	}
	p := ConditionProbe([]string{"x y.service", "a.service"})
	if !strings.Contains(p, "-- 'x y.service' a.service ") {
		t.Errorf("names are not quoted:\n%s", p)
	}
	if ConditionProbe(nil) != "" {
		t.Error("a probe for no units")
	}
	if out, err := exec.Command("sh", "-n", "-c", p).CombinedOutput(); err != nil {
		t.Errorf("probe is not valid sh: %v\n%s", err, out)
	}
}

// The awk filter of the probe picks the units whose last check did not pass, in any property order.
func TestConditionProbeFilter(t *testing.T) {
	p := ConditionProbe([]string{"a.service"})
	i, j := strings.Index(p, "awk "), strings.Index(p, " |\n  while")
	show := "Id=a.service\nConditionResult=no\n\nConditionResult=yes\nId=b.service\n\nConditionResult=no\nId=c.service\n"
	cmd := exec.Command("sh", "-c", p[i:j])
	cmd.Stdin = strings.NewReader(show)
	out, err := cmd.Output()
	if err != nil || string(out) != "a.service\nc.service\n" {
		t.Errorf("filter = %q, %v", out, err)
	}
}

// A declared unit whose start conditions fail is not started on every run (it would stay inactive).
func TestComputeConditionFailed(t *testing.T) {
	f := ParseFacts("chaos.service enabled enabled\n", "", "@live\nchaos.service loaded inactive dead x\n@condfailed chaos.service\n")
	wants := []Want{{Unit: "chaos.service", OnBoot: true, Running: true, Pos: chobolo.Pos{}}}
	d, err := ComputeDelta(wants, &f, Target{Live: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Actions) != 0 || len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "start conditions") {
		t.Errorf("actions %+v notes %q", d.Actions, d.Notes)
	}
	f.CondFailed = nil
	if d, _ := ComputeDelta(wants, &f, Target{Live: true}, false); len(d.Actions) != 1 || !d.Actions[0].Start {
		t.Errorf("without a failed condition: %+v", d.Actions)
	}
}
