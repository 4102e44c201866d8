// Command kindsoul is a Soul written with the Go SDK (pkg/soul) for the tests of the kinds other
// than roles: a logbook sink and a Ch-imera back end, each of which can also misbehave. Its first
// argument (from soul.yaml's exec) picks the behaviour:
//
//	record  the "recorder" sink appends every event to $HOME/sink-events.jsonl; the "toy" back
//	        end writes hosts.txt (one line per user, source-mapped) and a warning per package
//	crash   the sink and the back end exit at their first request
//	stuck   reads nothing at all (a sink that stopped reading its stdin)
//	escape  the back end returns a file outside the output directory
//
// and in every mode the "spy" boat reports what it was given: one host named spy whose address is
// its config's address, whose user is the secret cmdb.token, and whose groups name every secret it
// got ("secret-" + path, dots as dashes), plus "env-leak" when $CHAOS_TEST_MARK reached it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

func main() {
	mode := "record"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if mode == "stuck" {
		time.Sleep(time.Hour)
	}
	for _, name := range []string{"recorder", "crasher", "stuck"} {
		soul.Sink(name, &sink{mode: mode})
	}
	for _, name := range []string{"toy", "crashy", "escaper"} {
		soul.Compiler(name, toy{mode: mode})
	}
	soul.Boat("spy", spy{})
	soul.Serve()
}

type sink struct {
	mode string
	mu   sync.Mutex
}

func (s *sink) Event(_ context.Context, _ string, event json.RawMessage) error {
	if s.mode == "crash" {
		fmt.Fprintln(os.Stderr, "the sink fell over")
		os.Exit(3)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(os.Getenv("HOME"), "sink-events.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(event, '\n'))
	return err
}

type spy struct{}

func (spy) Hosts(_ context.Context, p soul.BoatParams) (soul.BoatResult, error) {
	var cfg struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		return soul.BoatResult{}, err
	}
	h := soul.BoatHost{Name: "spy", Address: cfg.Address, User: p.Secrets["cmdb.token"]}
	for k := range p.Secrets {
		h.Groups = append(h.Groups, "secret-"+strings.ReplaceAll(k, ".", "-"))
	}
	if os.Getenv("CHAOS_TEST_MARK") != "" {
		h.Groups = append(h.Groups, "env-leak")
	}
	return soul.BoatResult{Hosts: []soul.BoatHost{h}}, nil
}

type toy struct{ mode string }

// system is the part of the System JSON the toy reads.
type system struct {
	Hostname string `json:"hostname"`
	Users    []struct {
		Name  string `json:"name"`
		Index int    `json:"index"`
	} `json:"users"`
	Packages []struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"packages"`
}

func (t toy) Compile(_ context.Context, p soul.CompileParams) (soul.CompileResult, error) {
	switch t.mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "the back end fell over")
		os.Exit(4)
	case "escape":
		return soul.CompileResult{Files: map[string]string{"../outside.txt": "x\n"}}, nil
	}
	var sys system
	if err := json.Unmarshal(p.System, &sys); err != nil {
		return soul.CompileResult{}, err
	}
	var b strings.Builder
	res := soul.CompileResult{SourceMap: map[string][]soul.SourceLine{}}
	fmt.Fprintf(&b, "# %s, from %v\n", sys.Hostname, p.Options["source_sha256"])
	res.SourceMap["hosts.txt"] = append(res.SourceMap["hosts.txt"], soul.SourceLine{Line: 1, Key: "hostname"})
	for i, u := range sys.Users {
		fmt.Fprintf(&b, "user %s\n", u.Name)
		res.SourceMap["hosts.txt"] = append(res.SourceMap["hosts.txt"], soul.SourceLine{Line: i + 2, Key: fmt.Sprintf("users[%d]", u.Index)})
	}
	for _, pk := range sys.Packages {
		res.Diagnostics = append(res.Diagnostics, soul.Diagnostic{Severity: "warning", Code: "CHI901", Message: "the toy has no package " + pk.Name, Key: pk.Key})
	}
	res.Files = map[string]string{"hosts.txt": b.String()}
	return res, nil
}
