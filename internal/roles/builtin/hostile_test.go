package builtin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// A managed host is not trusted: whatever its probe prints, the controller must neither crash nor
// let the host write to the operator's terminal. These tests plan every built-in role against a
// host whose probe answer is chosen by the test: the real answer of each cached test root
// (testdata/hostile/CORE.probe, recorded with -update-hostile), and, under `go test -fuzz`, any
// mutation of it.

var updateHostile = flag.Bool("update-hostile", false, "record the probe answers of the cached test roots into testdata/hostile/*.probe")

// tokenMark stands for the engine's random section token in a recorded answer.
const tokenMark = "@@TOKEN"

var tokenRe = regexp.MustCompile(`@@chaos-[0-9a-f]{24}`)

// hostileCores are the cores with a recorded answer, each with its Ch-obolo and test root.
var hostileCores = []struct {
	core string
	root func(testing.TB) string
}{
	{"debian", testenv.DebianRoot},
	{"arch", testenv.ArchRoot},
	{"fedora", testenv.FedoraRoot},
}

// hostileHost is a target whose probe prints answer (with the token of the script it was sent).
// Planning runs nothing else on a target, so the other operations refuse.
type hostileHost struct{ answer []byte }

var errNotProbe = errors.New("hostile host: a plan runs only the probe")

func (h *hostileHost) Name() string { return "hostile" }
func (h *hostileHost) Run(_ context.Context, cmd transport.Cmd) (transport.Result, error) {
	tok := tokenRe.Find(cmd.Stdin)
	if tok == nil {
		return transport.Result{}, errNotProbe
	}
	return transport.Result{Stdout: bytes.ReplaceAll(h.answer, []byte(tokenMark), tok)}, nil
}
func (h *hostileHost) Stat(context.Context, string) (transport.FileInfo, error) {
	return transport.FileInfo{}, errNotProbe
}
func (h *hostileHost) WriteFile(context.Context, string, []byte, fs.FileMode, int, int, func(string) error) error {
	return errNotProbe
}
func (h *hostileHost) Remove(context.Context, string, bool) error       { return errNotProbe }
func (h *hostileHost) Symlink(context.Context, string, string) error    { return errNotProbe }
func (h *hostileHost) Mkdir(context.Context, string, fs.FileMode) error { return errNotProbe }
func (h *hostileHost) Chown(context.Context, string, int, int) error    { return errNotProbe }
func (h *hostileHost) Chmod(context.Context, string, fs.FileMode) error { return errNotProbe }
func (h *hostileHost) Close() error                                     { return nil }

// recorder passes everything to a real target and keeps the probe's answer, token replaced.
type recorder struct {
	transport.Transport
	answer []byte
}

func (r *recorder) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	res, err := r.Transport.Run(ctx, cmd)
	if tok := tokenRe.Find(cmd.Stdin); tok != nil && err == nil {
		r.answer = bytes.ReplaceAll(res.Stdout, tok, []byte(tokenMark))
	}
	return res, err
}

func hostileChobolo(t testing.TB, core string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.Load(filepath.Join("testdata", "hostile", core+".yml"), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func answerPath(core string) string { return filepath.Join("testdata", "hostile", core+".probe") }

// record plans the core's Ch-obolo on a fresh test root and writes the probe's answer.
func record(t *testing.T, core string, root func(testing.TB) string) {
	tr, err := transport.NewChroot(root(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rec := &recorder{Transport: tr}
	e := &engine.Engine{Registry: builtin.Registry()}
	if _, err := e.Plan(context.Background(), rec, engine.Request{Chobolo: hostileChobolo(t, core)}); err != nil {
		t.Fatalf("%s: plan on the test root: %v", core, err)
	}
	if err := os.WriteFile(answerPath(core), rec.answer, 0o644); err != nil {
		t.Fatal(err)
	}
}

// planHostile plans c against a host answering answer and checks what reaches the terminal.
func planHostile(t *testing.T, c *chobolo.Chobolo, answer []byte) (*engine.HostPlan, error) {
	e := &engine.Engine{Registry: builtin.Registry()}
	hp, err := e.Plan(context.Background(), &hostileHost{answer: answer}, engine.Request{Chobolo: c})
	if err != nil {
		if bad := terminalUnsafe(err.Error()); bad != "" {
			t.Fatalf("error text carries %s from the host: %q", bad, err.Error())
		}
		return nil, err
	}
	for _, color := range []bool{false, true} {
		var out bytes.Buffer
		engine.RenderPlan(&out, hp, engine.Style{Color: color})
		text := out.String()
		if color {
			text = sgr.ReplaceAllString(text, "") // the renderer's own colors
		}
		if bad := terminalUnsafe(text); bad != "" {
			t.Fatalf("rendered plan carries %s from the host:\n%q", bad, text)
		}
	}
	if bad := terminalUnsafe(engine.Summary(hp)); bad != "" {
		t.Fatalf("summary carries %s", bad)
	}
	if _, err := json.Marshal(hp); err != nil {
		t.Fatalf("plan does not marshal: %v", err)
	}
	return hp, nil
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// terminalUnsafe names what in s a terminal would interpret, or "".
func terminalUnsafe(s string) string { return printable.Unsafe(s) }

// TestHostileAnswersPlan plans each core's Ch-obolo against the recorded real answer: it must plan
// (the seeds of the fuzz test are meaningful) and change something.
func TestHostileAnswersPlan(t *testing.T) {
	for _, hc := range hostileCores {
		t.Run(hc.core, func(t *testing.T) {
			if *updateHostile {
				record(t, hc.core, hc.root)
			}
			answer, err := os.ReadFile(answerPath(hc.core))
			if err != nil {
				t.Fatalf("%v (record it with -update-hostile)", err)
			}
			hp, err := planHostile(t, hostileChobolo(t, hc.core), answer)
			if err != nil {
				t.Fatalf("the recorded answer does not plan: %v", err)
			}
			if hp.Core != hc.core || hp.Empty() {
				t.Fatalf("core %q, empty %v: the recorded answer is not the %s root's", hp.Core, hp.Empty(), hc.core)
			}
		})
	}
}

// hostileEdits are hand-made answers from a hostile host, derived from the recorded ones: terminal
// escapes where the host's own text reaches the plan, truncations and garbage in every section.
func hostileEdits(answer []byte) [][]byte {
	var out [][]byte
	esc := []byte("\x1b]0;owned\x07\x1b[2K\r\x9b")
	for _, field := range [][]byte{[]byte("PRETTY_NAME=\""), []byte("hello"), []byte("alice"), []byte("/etc/motd"), []byte("ssh"), []byte("issue")} {
		out = append(out, bytes.ReplaceAll(answer, field, append(append([]byte{}, field...), esc...)))
	}
	for _, cut := range []int{1, 7, len(answer) / 3, len(answer) / 2, len(answer) - 3} {
		if cut > 0 && cut < len(answer) {
			out = append(out, answer[:cut])
		}
	}
	out = append(out, bytes.ReplaceAll(answer, []byte("\n"), []byte("\n\x00\xff\t=:")))
	out = append(out, bytes.ReplaceAll(answer, []byte(" end "), []byte(" end x")))
	return out
}

// FuzzHostileProbe plans against any answer: it must never panic, and nothing the host prints may
// reach the terminal as a control sequence. Seeds: the recorded answers and hostileEdits of them.
func FuzzHostileProbe(f *testing.F) {
	for i, hc := range hostileCores {
		answer, err := os.ReadFile(answerPath(hc.core))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), answer)
		for _, a := range hostileEdits(answer) {
			f.Add(uint8(i), a)
		}
	}
	chobolos := make([]*chobolo.Chobolo, len(hostileCores))
	for i, hc := range hostileCores {
		chobolos[i] = hostileChobolo(f, hc.core)
	}
	f.Fuzz(func(t *testing.T, which uint8, answer []byte) {
		_, _ = planHostile(t, chobolos[int(which)%len(chobolos)], answer)
	})
}
