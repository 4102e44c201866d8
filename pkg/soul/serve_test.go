package soul

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

type echoRole struct{ release chan struct{} }

func (r echoRole) Probe(_ context.Context, p ProbeParams) (ProbeResult, error) {
	return ProbeResult{Sections: []Section{{Name: "x", Script: "echo " + p.Env.Target}}}, nil
}

func (r echoRole) Plan(_ context.Context, p PlanParams) (PlanResult, error) {
	if p.Env.Target == "slow" {
		<-r.release
	}
	if p.Facts["x"].Code != 0 {
		return PlanResult{}, Invalid("things[0]", "facts failed")
	}
	content := p.Facts["x"].Stdout
	return PlanResult{Steps: []Step{{Changes: []Change{{Kind: "+", Subject: "/etc/x"}},
		Ops: []Op{{Kind: "write", Path: "/etc/x", Content: &content, Mode: "0644"}}}}}, nil
}

// The server answers concurrent requests out of order (a slow plan does not hold a fast one),
// reports a role's refusal with its key, ignores notifications and stops at shutdown.
func TestServe(t *testing.T) {
	s := NewServer()
	release := make(chan struct{})
	s.Role("echo", echoRole{release: release})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), inR, outW); outW.Close() }()
	send := func(id int64, method string, params any) {
		data, _ := json.Marshal(params)
		req := Request{JSONRPC: "2.0", Method: method, Params: data}
		if id > 0 {
			req.ID = &id
		}
		line, _ := json.Marshal(req)
		if _, err := inW.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	out := bufio.NewScanner(outR)
	next := func() Response {
		if !out.Scan() {
			t.Fatal("no response")
		}
		var r Response
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	send(1, MethodRolePlan, PlanParams{Role: "echo", Env: Env{Target: "slow"}, Facts: map[string]Output{"x": {Stdout: "s"}}})
	send(2, MethodRoleProbe, ProbeParams{Role: "echo", Env: Env{Target: "web1"}})
	if r := next(); r.ID != 2 || !strings.Contains(string(r.Result), "echo web1") {
		t.Fatalf("fast answer first: %+v %s", r, r.Result)
	}
	send(3, MethodRolePlan, PlanParams{Role: "echo", Env: Env{Target: "b"}, Facts: map[string]Output{"x": {Code: 1}}})
	if r := next(); r.ID != 3 || r.Error == nil || r.Error.Key != "things[0]" || r.Error.Code != CodeInvalid {
		t.Fatalf("refusal: %+v", r)
	}
	send(4, MethodRoleProbe, ProbeParams{Role: "nope"})
	if r := next(); r.ID != 4 || r.Error == nil || r.Error.Code != CodeMethodNotFound {
		t.Fatalf("unknown role: %+v", r)
	}
	send(0, MethodLogbookEvent, map[string]any{"sink": "none", "event": map[string]any{}}) // no response
	close(release)
	r := next()
	var plan PlanResult
	if r.ID != 1 || json.Unmarshal(r.Result, &plan) != nil || *plan.Steps[0].Ops[0].Content != "s" {
		t.Fatalf("slow plan: %+v", r)
	}
	send(0, MethodShutdown, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeRejectsGarbage(t *testing.T) {
	err := NewServer().Serve(context.Background(), strings.NewReader("not json\n"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("got %v", err)
	}
	var e *Error
	if !errors.As(Invalid("k", "bad %d", 1), &e) || e.Key != "k" || e.Message != "bad 1" {
		t.Fatal("Invalid")
	}
}

type orderSink struct{ got []int }

func (s *orderSink) Event(_ context.Context, _ string, event json.RawMessage) error {
	var n int
	if err := json.Unmarshal(event, &n); err != nil {
		return err
	}
	s.got = append(s.got, n)
	return nil
}

// A sink gets the run's events one at a time, in order (requests are otherwise concurrent).
func TestServeSinkOrder(t *testing.T) {
	s := NewServer()
	sink := &orderSink{}
	s.Sink("rec", sink)
	var in strings.Builder
	for i := range 500 {
		line, _ := json.Marshal(Request{JSONRPC: "2.0", Method: MethodLogbookEvent, Params: json.RawMessage(`{"sink":"rec","event":` + strconv.Itoa(i) + `}`)})
		in.Write(append(line, '\n'))
	}
	if err := s.Serve(context.Background(), strings.NewReader(in.String()), io.Discard); err != nil {
		t.Fatal(err)
	}
	for i, n := range sink.got {
		if n != i {
			t.Fatalf("event %d arrived as #%d", n, i)
		}
	}
	if len(sink.got) != 500 {
		t.Fatalf("%d of 500 events", len(sink.got))
	}
}
