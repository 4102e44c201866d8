package souls

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// DefaultTimeout bounds one request to a Soul whose manifest sets no timeout.
const DefaultTimeout = 30 * time.Second

// deathWait is how long a failed write waits for the Soul's exit to be seen, to report its status.
const deathWait = time.Second

// shutdownGrace is how long a Soul may take to exit after shutdown before it is killed.
const shutdownGrace = 5 * time.Second

// Process is a running Soul: one per run, serving every host. Call is safe for concurrent use.
type Process struct {
	soul    *Soul
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	timeout time.Duration

	wmu    sync.Mutex // one request line at a time
	mu     sync.Mutex
	nextID int64
	wait   map[int64]chan soul.Response
	dead   error // why the process can no longer answer (set once)
	exited chan struct{}
	stderr *tailBuffer
}

// Start starts the Soul's executable in its directory. The process inherits nothing of chaos's
// environment but PATH, HOME, LANG and TMPDIR (a Soul gets secrets only in the requests that
// declare them).
func (s *Soul) Start(ctx context.Context) (*Process, error) {
	if len(s.Manifest.Exec) == 0 {
		return nil, fmt.Errorf("soul %s: %s: exec is empty", s.Manifest.Name, s.File)
	}
	argv := append([]string(nil), s.Manifest.Exec...)
	if !filepath.IsAbs(argv[0]) && filepath.Base(argv[0]) != argv[0] {
		argv[0] = filepath.Join(s.Dir, argv[0]) // bin/x is the Soul's; python3 is looked up on PATH
	}
	// The process outlives ctx's request scope: it serves the whole run and ends at Close.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = passEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Process{soul: s, cmd: cmd, timeout: s.timeout(), wait: map[int64]chan soul.Response{},
		exited: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("soul %s: %w", s.Manifest.Name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("soul %s: %w", s.Manifest.Name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("soul %s: start %s: %w", s.Manifest.Name, argv[0], err)
	}
	p.stdin = stdin
	go p.read(stdout)
	return p, nil
}

// read hands each response line to the request waiting for it; the first malformed line or the
// end of stdout ends the process's usefulness, and every waiting request gets that error.
func (p *Process) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 64<<20) // plans carry file contents
	var why error
	for sc.Scan() {
		var resp soul.Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil || resp.JSONRPC != "2.0" {
			why = fmt.Errorf("soul %s: malformed output (want one JSON-RPC 2.0 response per line): %.200q", p.soul.Manifest.Name, sc.Text())
			break
		}
		p.mu.Lock()
		ch, ok := p.wait[resp.ID]
		delete(p.wait, resp.ID)
		p.mu.Unlock()
		if !ok {
			why = fmt.Errorf("soul %s: a response to no request (id %d)", p.soul.Manifest.Name, resp.ID)
			break
		}
		ch <- resp
	}
	if why == nil && sc.Err() != nil {
		why = fmt.Errorf("soul %s: reading its output: %w", p.soul.Manifest.Name, sc.Err())
	}
	if why != nil { // it may still be running: nothing it says can be trusted now
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	werr := p.cmd.Wait()
	if why == nil {
		why = fmt.Errorf("soul %s exited (%v)%s", p.soul.Manifest.Name, exitText(werr), p.stderr.quoted())
	}
	p.mu.Lock()
	p.dead = why
	for id, ch := range p.wait {
		close(ch)
		delete(p.wait, id)
	}
	p.mu.Unlock()
	close(p.exited)
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Call sends one request and decodes its result into result (may be nil). Errors name the Soul
// and the method: a refusal (*soul.Error, with the Ch-obolo key it is about), a timeout, a crash
// (with the end of its stderr) or malformed output.
func (p *Process) Call(ctx context.Context, method string, params, result any) error {
	data, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("soul %s: %s: %w", p.soul.Manifest.Name, method, err)
	}
	ch := make(chan soul.Response, 1)
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return p.dead
	}
	p.nextID++
	id := p.nextID
	p.wait[id] = ch
	p.mu.Unlock()
	forget := func() {
		p.mu.Lock()
		delete(p.wait, id)
		p.mu.Unlock()
	}
	if err := p.send(soul.Request{JSONRPC: "2.0", ID: &id, Method: method, Params: data}); err != nil {
		forget()
		return err
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case resp, ok := <-ch:
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("%w (during %s)", p.dead, method)
		}
		if resp.Error != nil {
			return &CallError{Soul: p.soul.Manifest.Name, Method: method, Err: resp.Error}
		}
		if result != nil {
			if err := json.Unmarshal(resp.Result, result); err != nil {
				return fmt.Errorf("soul %s: %s: malformed result: %w", p.soul.Manifest.Name, method, err)
			}
		}
		return nil
	case <-timer.C:
		forget()
		return fmt.Errorf("soul %s: %s: no answer within %s", p.soul.Manifest.Name, method, p.timeout)
	case <-ctx.Done():
		forget()
		return fmt.Errorf("soul %s: %s: %w", p.soul.Manifest.Name, method, ctx.Err())
	}
}

// Notify sends a notification (no response).
func (p *Process) Notify(method string, params any) error {
	data, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("soul %s: %s: %w", p.soul.Manifest.Name, method, err)
	}
	return p.send(soul.Request{JSONRPC: "2.0", Method: method, Params: data})
}

func (p *Process) send(req soul.Request) error {
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		// A broken pipe is usually the Soul exiting: its exit status and stderr say why, once the
		// reader has seen it go (a moment after the pipe broke).
		select {
		case <-p.exited:
		case <-time.After(deathWait):
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.dead != nil {
			return p.dead
		}
		return fmt.Errorf("soul %s: %s: %w", p.soul.Manifest.Name, req.Method, err)
	}
	return nil
}

// Close sends shutdown and waits for the process to exit (killing it, and what it started, after
// shutdownGrace).
func (p *Process) Close() error { return p.Shutdown(shutdownGrace) }

// Shutdown is Close with its own grace period; the error says the Soul had to be killed.
func (p *Process) Shutdown(grace time.Duration) error {
	_ = p.Notify(soul.MethodShutdown, nil)
	_ = p.stdin.Close()
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		p.Kill()
		<-p.exited
		return fmt.Errorf("soul %s: still running %s after shutdown; killed", p.soul.Manifest.Name, grace.Round(time.Millisecond))
	}
}

// CallError is a request the Soul answered with an error.
type CallError struct {
	Soul, Method string
	Err          *soul.Error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("soul %s: %s: %s", e.Soul, e.Method, e.Err.Message)
}

func (e *CallError) Unwrap() error { return e.Err }

// tailBuffer keeps the last max bytes written to it (a Soul's stderr, shown when it fails).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

// quoted is ": its stderr: ..." or "" when it wrote nothing.
func (b *tailBuffer) quoted() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := bytes.TrimSpace(b.buf)
	if len(s) == 0 {
		return ""
	}
	return "; its stderr ends with:\n" + string(s)
}

// deadErr is why the process can no longer answer, nil while it runs.
func (p *Process) deadErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// Kill ends the process (and what it started) at once: a Soul that stopped reading must not hold
// chaos up; requests in flight fail.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}
