package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// proc is a started worker process: its stdin and stdout, closed done when it has exited, and kill
// to end it.
type proc struct {
	in   io.WriteCloser
	out  io.Reader
	done chan struct{}
	kill func()
}

// spawn starts argv on the host: in a new SSH session, or, for a container on this machine (no
// SSH client), as a local process (podman/docker exec).
func (s *SSH) spawn(argv []string, stderr io.Writer) (*proc, error) {
	if s.client == nil {
		s.sessions.Add(1)
		return spawnLocal(argv, stderr)
	}
	sess, err := s.newSession()
	if err != nil {
		return nil, err
	}
	in, err := sess.StdinPipe()
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	sess.Stderr = stderr
	if err := sess.Start(shell.Join(argv)); err != nil {
		_ = sess.Close()
		return nil, err
	}
	p := &proc{in: in, out: out, done: make(chan struct{}), kill: func() { _ = sess.Close() }}
	go func() { _ = sess.Wait(); close(p.done) }()
	return p, nil
}

// localCmd is argv as a local process in a process group of its own: a Ctrl-C on the terminal
// reaches chaos (which cancels and undoes through the worker), never the exec that carries the
// worker's stream.
func localCmd(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// spawnLocal starts argv here with pipes. stdout is an os.Pipe rather than StdoutPipe: the worker's
// replies are read after the process may have exited (Wait would close StdoutPipe under the reader).
func spawnLocal(argv []string, stderr io.Writer) (*proc, error) {
	cmd := localCmd(argv)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, err
	}
	_ = w.Close()
	p := &proc{in: in, out: r, done: make(chan struct{}), kill: func() {
		_ = cmd.Process.Kill()
		_ = r.Close()
	}}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// runLocal runs argv here and returns what it printed; a non-zero exit is in Result.Code.
func runLocal(ctx context.Context, argv []string, stdin []byte) (Result, error) {
	cmd := localCmd(argv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	stop()
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Code = 128 + int(ws.Signal())
		}
	default:
		return res, err
	}
	return res, nil
}
