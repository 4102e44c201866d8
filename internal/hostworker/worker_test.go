package hostworker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/shell"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const tok = "0123456789abcdef0123456789abcdef"

// client drives Serve over pipes with the framing the SSH transport uses.
type client struct {
	t    *testing.T
	in   io.WriteCloser
	out  *bufio.Reader
	done chan error
	// ended is closed when Serve has returned (done is for the test to read once).
	ended chan struct{}
	last  string // the last marker line, after the token
}

func start(t *testing.T) *client {
	t.Helper()
	testenv.RequireRoot(t) // chown
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{t: t, in: inW, out: bufio.NewReader(outR), done: make(chan error, 1), ended: make(chan struct{})}
	go func() {
		err := Serve(inR, outW, Config{Token: tok, Root: true, Path: []string{"/usr/bin", "/bin"}})
		_ = outW.Close()
		c.done <- err
		close(c.ended)
	}()
	greeting, err := c.out.ReadString('\n')
	if err != nil || greeting != fmt.Sprintf("%s ready %d\n", tok, os.Getpid()) {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	// The test's workers all run in this process and so share one RunEnv mark: a worker still
	// cleaning up after its stream ended (it kills what carries the mark) would kill the next
	// test's commands. Each test waits for its worker to end.
	t.Cleanup(func() {
		_ = inW.Close()
		go func() { _, _ = io.Copy(io.Discard, c.out) }()
		select {
		case <-c.ended:
		case <-time.After(time.Minute):
			t.Error("the worker did not end within a minute after its stream closed")
		}
	})
	return c
}

// call sends FN ARGS (and a payload when data is not nil: its length is the first argument) and
// returns stdout, stderr and the code.
func (c *client) call(fn string, data []byte, args ...string) (string, string, int) {
	c.t.Helper()
	if data != nil {
		args = append([]string{strconv.Itoa(len(data))}, args...)
	}
	text := fn
	if len(args) > 0 {
		text += " " + shell.Join(args)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%s\n", strings.Count(text, "\n")+1, text)
	if data != nil {
		b.Write(data)
		b.WriteString(tok + "\n")
	}
	if _, err := c.in.Write(b.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	out := c.record(" 1")
	errb := c.record("")
	code, err := strconv.Atoi(strings.TrimPrefix(c.last, " 2 "))
	if err != nil {
		c.t.Fatalf("marker %q", c.last)
	}
	return out, errb, code
}

// record reads a body up to its marker line.
func (c *client) record(want string) string {
	c.t.Helper()
	var body strings.Builder
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reply: %v (so far %q)", err, body.String())
		}
		if s := body.String(); strings.HasPrefix(line, tok) && (s == "" || strings.HasSuffix(s, "\n")) {
			c.last = strings.TrimSuffix(strings.TrimPrefix(line, tok), "\n")
			if want != "" && c.last != want {
				c.t.Fatalf("marker %q, want %q", c.last, want)
			}
			return strings.TrimSuffix(s, "\n")
		}
		body.WriteString(line)
	}
}

func TestFileRequests(t *testing.T) {
	c := start(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b")

	if out, _, code := c.call("_stat", nil, p); out != "missing\n" || code != 0 {
		t.Fatalf("stat missing = %q %d", out, code)
	}
	if _, e, code := c.call("_mkdir", nil, filepath.Dir(p), "2750"); code != 0 {
		t.Fatalf("mkdir: %s", e)
	}
	if fi, _ := os.Stat(filepath.Dir(p)); fi.Mode()&os.ModeSetgid == 0 || fi.Mode().Perm() != 0o750 {
		t.Fatalf("mkdir mode %v", fi.Mode())
	}
	// A write with owner and mode, set before the data, renamed into place.
	data := []byte("\x00binary\n\nlast")
	if _, e, code := c.call("_write", data, p+".tmp", p, "0022", "12:34", "0640", "before", "rename"); code != 0 {
		t.Fatalf("write: %s", e)
	}
	got, _ := os.ReadFile(p)
	var st syscall.Stat_t
	_ = syscall.Stat(p, &st)
	if !bytes.Equal(got, data) || st.Uid != 12 || st.Gid != 34 || st.Mode&0o7777 != 0o640 {
		t.Fatalf("written %q uid %d gid %d mode %o", got, st.Uid, st.Gid, st.Mode&0o7777)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("the temp file stayed")
	}
	out, _, _ := c.call("_stat", nil, p)
	if out != fmt.Sprintf("%x 12 34\n", st.Mode)+string(data) {
		t.Fatalf("stat = %q", out)
	}
	// "keep" leaves the temp file for a validator; _mv moves it.
	if _, _, code := c.call("_write", nil, "-", p+".v", p, "0077", "", "0600", "before", "keep"); code != 0 {
		t.Fatal("write keep")
	}
	if _, err := os.Stat(p + ".v"); err != nil {
		t.Fatal(err)
	}
	if _, e, code := c.call("_mv", nil, p+".v", p); code != 0 {
		t.Fatalf("mv: %s", e)
	}
	if got, _ := os.ReadFile(p); len(got) != 0 {
		t.Fatalf("after mv: %q", got)
	}
	// A write into a missing directory fails, consumes its payload, and the next request works.
	if _, e, code := c.call("_write", []byte("x"), dir+"/no/t", dir+"/no/f", "0022", "", "", "before", "rename"); code == 0 || !strings.Contains(e, "No such file or directory") {
		t.Fatalf("write into a missing directory: %d %q", code, e)
	}
	// Symlinks, chmod with special bits, chown without following links.
	link := filepath.Join(dir, "l")
	if _, e, code := c.call("_ln", nil, "a/b", link+".tmp", link); code != 0 {
		t.Fatalf("ln: %s", e)
	}
	if out, _, _ := c.call("_stat", nil, link); !strings.HasPrefix(out, "L a1ff 0 0\n") || !strings.HasSuffix(out, "\na/b\n") {
		t.Fatalf("stat link = %q", out)
	}
	if _, _, code := c.call("_chmod", nil, p, "4755"); code != 0 {
		t.Fatal("chmod")
	}
	if _, _, code := c.call("_chown", nil, link, "7:8"); code != 0 {
		t.Fatal("chown")
	}
	_ = syscall.Stat(p, &st)
	var lst syscall.Stat_t
	_ = syscall.Lstat(link, &lst)
	if st.Mode&0o7777 != 0o4755 || lst.Uid != 7 || st.Uid != 0 { // p was replaced by the root-owned "keep" write
		t.Fatalf("chmod/chown: mode %o, link uid %d, target uid %d", st.Mode&0o7777, lst.Uid, st.Uid)
	}
	if _, e, code := c.call("_chmod", nil, p, "u+x"); code == 0 || !strings.Contains(e, "invalid mode") {
		t.Fatalf("symbolic mode accepted: %d %q", code, e)
	}
	// rm -f of a directory fails; rm -rf removes the tree; both ignore what is missing.
	if _, _, code := c.call("_rm", nil, "-f", filepath.Join(dir, "a")); code == 0 {
		t.Fatal("rm -f removed a directory")
	}
	for _, flag := range []string{"-rf", "-rf", "-f"} {
		if _, e, code := c.call("_rm", nil, flag, filepath.Join(dir, "a")); code != 0 {
			t.Fatalf("rm %s: %s", flag, e)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatal("rm -rf left the tree")
	}
}

func TestRun(t *testing.T) {
	c := start(t)
	out, e, code := c.call("_run", []byte("in\x00put"), "sh", "-c", `cat; printf err >&2; exit 3`)
	if out != "in\x00put" || e != "err" || code != 3 {
		t.Fatalf("run = %q %q %d", out, e, code)
	}
	if _, _, code := c.call("_run", nil, "-", "sh", "-c", "kill -TERM $$"); code != 128+15 {
		t.Fatalf("killed by TERM: code %d", code)
	}
	if _, e, code := c.call("_run", nil, "-", "no-such-program"); code != 127 || !strings.Contains(e, "command not found") {
		t.Fatalf("missing program: %d %q", code, e)
	}
	// stdin is /dev/null without a payload; env -- sets variables without starting env.
	out, _, code = c.call("_run", nil, "-", "env", "--", "A=1", "B=x y", "sh", "-c", `printf '%s|%s|' "$A" "$B"; cat; ps -o comm= -p $PPID`)
	if code != 0 || !strings.HasPrefix(out, "1|x y|") || strings.Contains(out, "env") {
		t.Fatalf("env run = %q %d", out, code)
	}
}

func TestLock(t *testing.T) {
	a, b := start(t), start(t)
	p := filepath.Join(t.TempDir(), "d", "lock")
	if _, e, code := a.call("_lock", nil, p, "owner a"); code != 0 {
		t.Fatalf("lock: %s", e)
	}
	if _, _, code := b.call("_lock", nil, p, "owner b"); code != 1 {
		t.Fatalf("second lock: code %d, want 1", code)
	}
	if got, _ := os.ReadFile(p); !strings.HasPrefix(string(got), strconv.Itoa(os.Getpid())+" ") || !strings.HasSuffix(string(got), "\nowner owner a\n") {
		t.Fatalf("lock file %q", got)
	}
	a.call("_unlock", nil)
	if _, _, code := b.call("_lock", nil, p, "owner b"); code != 0 {
		t.Fatalf("lock after unlock: code %d", code)
	}
}

// A payload cut short (connection lost mid-write) ends the worker before it acts on it.
func TestTruncatedPayload(t *testing.T) {
	c := start(t)
	dir := t.TempDir()
	text := "_write " + shell.Join([]string{"10", dir + "/t", dir + "/f", "0022", "", "", "before", "rename"})
	fmt.Fprintf(c.in, "1\n%s\nshort", text)
	_ = c.in.Close()
	if err := <-c.done; err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Serve = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a truncated write left %v", entries)
	}
}

func TestBadHeader(t *testing.T) {
	c := start(t)
	fmt.Fprintf(c.in, "x\n")
	if err := <-c.done; err == nil || !strings.Contains(err.Error(), "bad request header") {
		t.Fatalf("Serve = %v", err)
	}
}

// The connection dies while a command runs: the worker lets the command finish, kills what it left
// in its process group, and only then ends (and so releases the host lock). The command inherits
// the lock as descriptor 9 and is recorded in the lock file while it runs.
func TestConnectionLostMidCommand(t *testing.T) {
	c := start(t)
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	if _, e, code := c.call("_lock", nil, lock, "4242 on ctl over ssh"); code != 0 {
		t.Fatalf("lock: %s", e)
	}
	script := `cd ` + dir + `
ls -l /proc/self/fd/ >fds
( exec 9>&-; sleep 2; touch late ) &
touch started
sleep 0.7
touch done`
	text := "_run - " + shell.Join([]string{"sh", "-c", script})
	fmt.Fprintf(c.in, "%d\n%s\n", strings.Count(text, "\n")+1, text)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never started")
		}
	}
	data, _ := os.ReadFile(lock)
	if !strings.Contains(string(data), "\nowner 4242 on ctl over ssh\ngroup ") {
		t.Errorf("lock file while the command runs: %q", data)
	}
	_ = c.in.Close() // the connection dies
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not end after the connection died")
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Error("the worker ended before the command did")
	}
	if fds, _ := os.ReadFile(filepath.Join(dir, "fds")); !strings.Contains(string(fds), " 9 -> "+lock) {
		t.Errorf("the command did not inherit the lock as descriptor 9:\n%s", fds)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		t.Error("the command's background job ran on after the worker ended")
	}
}
