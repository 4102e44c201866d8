package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// bigProbe is the framed output of a probe with a dpkg-status-sized section (n lines) and n small
// sections, as a host with many packages and resources returns it.
func bigProbe(token string, n int) string {
	var b strings.Builder
	b.WriteString(token + " begin packages.status\n")
	for i := range n {
		fmt.Fprintf(&b, "pkg-%04d\tamd64\tii \toptional\tno\t1.%d-1\t\tlibc6 (>= 2.36), libfoo%d\t\n", i, i, i)
	}
	b.WriteString("\n" + token + " end packages.status 0\n")
	for i := range n {
		fmt.Fprintf(&b, "%s begin files.p%d\nR\t%d\tfile\t1\t644\t0\t0\troot\troot\t12\t%064d\t-\n\n%s end files.p%d 0\n",
			token, i, i, i, token, i)
	}
	return b.String()
}

// BenchmarkParseProbe: splitting one probe's output into sections is linear and cheap next to the
// probe itself (1,000 packages + 1,000 sections).
func BenchmarkParseProbe(b *testing.B) {
	token := newToken()
	out := bigProbe(token, 1000)
	b.SetBytes(int64(len(out)))
	b.ResetTimer()
	for b.Loop() {
		outs, err := parseProbe(token, out)
		if err != nil || len(outs) != 1001 {
			b.Fatalf("parse: %v (%d sections)", err, len(outs))
		}
	}
}

// BenchmarkProbeScript: assembling the script of 1,000 sections.
func BenchmarkProbeScript(b *testing.B) {
	token := newToken()
	secs := make([]ProbeSection, 1000)
	for i := range secs {
		secs[i] = ProbeSection{Name: fmt.Sprintf("files.p%d", i), Script: "st 1 '/etc/x' ''"}
	}
	for b.Loop() {
		_ = probeScript(token, secs)
	}
}

// bigPlan is a plan of n package installs in one step plus n file writes.
func bigPlan(n int) *HostPlan {
	hp := &HostPlan{Target: "@chroot/srv/x", Core: "debian", OS: "Debian GNU/Linux 12 (bookworm)"}
	pk := &RolePlan{Role: "packages"}
	var changes []Change
	argv := []string{"apt-get", "install", "-y"}
	for i := range n {
		name := fmt.Sprintf("pkg-%04d", i)
		changes = append(changes, Change{Kind: Add, Subject: "package " + name})
		argv = append(argv, name)
	}
	pk.Add(changes, Exec(argv...))
	fl := &RolePlan{Role: "files"}
	for i := range n {
		p := fmt.Sprintf("/etc/chaos/%04d.conf", i)
		fl.Add([]Change{{Kind: Modify, Subject: p, Detail: "content (3 lines changed)"}},
			Write(p, []byte(strings.Repeat("x", 200)), 0o644, "root", "root"))
	}
	hp.Roles = []*RolePlan{pk, fl}
	return hp
}

// BenchmarkRenderPlan: the --dry text of 2,000 changes.
func BenchmarkRenderPlan(b *testing.B) {
	hp := bigPlan(1000)
	for b.Loop() {
		RenderPlan(io.Discard, hp, Style{Color: true})
	}
}

// BenchmarkPlanJSON: the --json plan object of 2,000 changes.
func BenchmarkPlanJSON(b *testing.B) {
	hp := bigPlan(1000)
	for b.Loop() {
		if _, err := json.Marshal(hp); err != nil {
			b.Fatal(err)
		}
	}
}
