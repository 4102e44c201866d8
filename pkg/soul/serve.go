package soul

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// RoleHandler is a role written in Go: the same two steps as a built-in role. Probe and Plan must
// not touch any host: chaos runs the probe and executes the plan.
type RoleHandler interface {
	Probe(ctx context.Context, p ProbeParams) (ProbeResult, error)
	Plan(ctx context.Context, p PlanParams) (PlanResult, error)
}

// BoatHandler finds hosts for a dynamic inventory.
type BoatHandler interface {
	Hosts(ctx context.Context, p BoatParams) (BoatResult, error)
}

// ProviderHandler hands chaos a secrets key.
type ProviderHandler interface {
	Key(ctx context.Context, p KeyParams) (KeyResult, error)
}

// SinkHandler receives every event of a run (a logbook sink); Event must be quick.
type SinkHandler interface {
	Event(ctx context.Context, sink string, event json.RawMessage) error
}

// CompilerHandler is a Ch-imera back end.
type CompilerHandler interface {
	Compile(ctx context.Context, p CompileParams) (CompileResult, error)
}

// ConnectorHandler says how to reach a target (a connector).
type ConnectorHandler interface {
	Connect(ctx context.Context, p ConnectParams) (ConnectResult, error)
}

// Server answers chaos's requests with the handlers registered on it. The package-level
// functions (Role, Boat, ..., Serve) use a default Server, which is what a Soul's main needs.
type Server struct {
	// mu guards the registrations; requests read them concurrently.
	mu        sync.RWMutex
	roles     map[string]RoleHandler
	boats     map[string]BoatHandler
	providers map[string]ProviderHandler
	sinks     map[string]SinkHandler
	compilers map[string]CompilerHandler
	conns     map[string]ConnectorHandler
}

// NewServer returns a Server with nothing registered.
func NewServer() *Server {
	return &Server{roles: map[string]RoleHandler{}, boats: map[string]BoatHandler{},
		providers: map[string]ProviderHandler{}, sinks: map[string]SinkHandler{}, compilers: map[string]CompilerHandler{},
		conns: map[string]ConnectorHandler{}}
}

// Role registers a role under the name its soul.yaml declares.
func (s *Server) Role(name string, h RoleHandler) { s.mu.Lock(); s.roles[name] = h; s.mu.Unlock() }

// Boat registers a boat.
func (s *Server) Boat(name string, h BoatHandler) { s.mu.Lock(); s.boats[name] = h; s.mu.Unlock() }

// Provider registers a secrets provider.
func (s *Server) Provider(name string, h ProviderHandler) {
	s.mu.Lock()
	s.providers[name] = h
	s.mu.Unlock()
}

// Sink registers a logbook sink.
func (s *Server) Sink(name string, h SinkHandler) { s.mu.Lock(); s.sinks[name] = h; s.mu.Unlock() }

// Compiler registers a Ch-imera back end.
func (s *Server) Compiler(name string, h CompilerHandler) {
	s.mu.Lock()
	s.compilers[name] = h
	s.mu.Unlock()
}

// Connector registers a connector.
func (s *Server) Connector(name string, h ConnectorHandler) {
	s.mu.Lock()
	s.conns[name] = h
	s.mu.Unlock()
}

var defaultServer = NewServer()

// Role registers a role on the default server.
func Role(name string, h RoleHandler) { defaultServer.Role(name, h) }

// Boat registers a boat on the default server.
func Boat(name string, h BoatHandler) { defaultServer.Boat(name, h) }

// Provider registers a secrets provider on the default server.
func Provider(name string, h ProviderHandler) { defaultServer.Provider(name, h) }

// Sink registers a logbook sink on the default server.
func Sink(name string, h SinkHandler) { defaultServer.Sink(name, h) }

// Compiler registers a Ch-imera back end on the default server.
func Compiler(name string, h CompilerHandler) { defaultServer.Compiler(name, h) }

// Connector registers a connector on the default server.
func Connector(name string, h ConnectorHandler) { defaultServer.Connector(name, h) }

// Serve answers requests on stdin and stdout until chaos sends shutdown or closes stdin, then
// exits the process (status 1 when the stream broke).
func Serve() {
	if err := defaultServer.Serve(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soul:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Serve answers the requests read from r on w, each in its own goroutine (chaos may send several
// at once, e.g. the plans of many hosts), until shutdown or the end of r. Logbook events are the
// exception: a sink handles them one at a time, in the run's order.
func (s *Server) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := bufio.NewReader(r)
	var wmu sync.Mutex
	enc := json.NewEncoder(w)
	reply := func(resp Response) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(resp)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var req Request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				return fmt.Errorf("a request that is not JSON: %w", jerr)
			}
			if req.Method == MethodShutdown {
				return nil
			}
			if req.Method == MethodLogbookEvent && req.ID == nil {
				// A sink gets a run's events in order: one at a time, before the next is read.
				_, _ = s.handle(ctx, req)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				result, err := s.handle(ctx, req)
				if req.ID == nil { // a notification: no response
					return
				}
				resp := Response{JSONRPC: "2.0", ID: *req.ID}
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						e = &Error{Code: CodeFailed, Message: err.Error()}
					}
					resp.Error = e
				} else if resp.Result, err = json.Marshal(result); err != nil {
					resp.Error = &Error{Code: CodeFailed, Message: err.Error()}
				}
				reply(resp)
			}()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Invalid is an error about one Ch-obolo value of the role's keys (key is its path, e.g.
// "dotfiles[0].url"): chaos reports it at that value's FILE:LINE:COL.
func Invalid(key, format string, args ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...), Key: key}
}

func (s *Server) handle(ctx context.Context, req Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	decode := func(v any) error {
		if err := json.Unmarshal(req.Params, v); err != nil {
			return &Error{Code: CodeInvalidParams, Message: fmt.Sprintf("%s: %v", req.Method, err)}
		}
		return nil
	}
	missing := func(kind, name string) error {
		return &Error{Code: CodeMethodNotFound, Message: fmt.Sprintf("this Soul has no %s %q", kind, name)}
	}
	switch req.Method {
	case MethodRoleProbe:
		var p ProbeParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.roles[p.Role]
		if !ok {
			return nil, missing("role", p.Role)
		}
		return h.Probe(ctx, p)
	case MethodRolePlan:
		var p PlanParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.roles[p.Role]
		if !ok {
			return nil, missing("role", p.Role)
		}
		return h.Plan(ctx, p)
	case MethodBoatHosts:
		var p BoatParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.boats[p.Boat]
		if !ok {
			return nil, missing("boat", p.Boat)
		}
		return h.Hosts(ctx, p)
	case MethodProviderKey:
		var p KeyParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.providers[p.Provider]
		if !ok {
			return nil, missing("provider", p.Provider)
		}
		return h.Key(ctx, p)
	case MethodLogbookEvent:
		var p struct {
			Sink  string          `json:"sink"`
			Event json.RawMessage `json:"event"`
		}
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.sinks[p.Sink]
		if !ok {
			return nil, missing("logbook sink", p.Sink)
		}
		return nil, h.Event(ctx, p.Sink, p.Event)
	case MethodChimeraCompile:
		var p CompileParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.compilers[p.Backend]
		if !ok {
			return nil, missing("Ch-imera back end", p.Backend)
		}
		return h.Compile(ctx, p)
	case MethodConnectorOpen:
		var p ConnectParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		h, ok := s.conns[p.Connector]
		if !ok {
			return nil, missing("connector", p.Connector)
		}
		return h.Connect(ctx, p)
	}
	return nil, &Error{Code: CodeMethodNotFound, Message: "unknown method " + req.Method}
}
