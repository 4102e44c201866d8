package transport

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// SSHConfig says how to reach one SSH host. Zero fields take OpenSSH's defaults and, unless
// SSHConfigFile is "none", the values of ~/.ssh/config for Host (explicit fields win over the file).
type SSHConfig struct {
	// Name is how the host is shown (the fleet's label); Host when empty.
	Name string
	// Host is the address or ~/.ssh/config alias to connect to.
	Host string
	// Port defaults to ~/.ssh/config's Port, then 22.
	Port int
	// User defaults to ~/.ssh/config's User, then the local user name.
	User string
	// KeyFiles are private key files to offer (after the agent's keys). Defaults to ~/.ssh/config's
	// IdentityFile entries, then ~/.ssh/id_ed25519, id_ecdsa and id_rsa when they exist.
	KeyFiles []string
	// NoAgent disables ssh-agent even when SSH_AUTH_SOCK is set.
	NoAgent bool
	// KnownHostsFiles are checked for the host key (default ~/.ssh/known_hosts and
	// /etc/ssh/ssh_known_hosts). New keys are added to the first one.
	KnownHostsFiles []string
	// AcceptNewHostKeys records the key of a host not in the known_hosts files yet (first contact)
	// instead of refusing it. A key that differs from a recorded one is always refused.
	AcceptNewHostKeys bool
	// ProxyJump is a comma-separated list of jump hosts ([user@]host[:port]), as in OpenSSH.
	ProxyJump string
	// ConnectTimeout bounds TCP connect plus handshake (default 10s).
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests (default 15s; negative disables). A connection
	// that misses three in a row is closed.
	KeepAlive time.Duration
	// Become runs every command as root through sudo when User is not root.
	Become bool
	// BecomePassword is sudo's password, sent on stdin (never argv). Without it, sudo must not need
	// a password (sudo -n).
	BecomePassword []byte
	// SSHConfigFile is the OpenSSH client configuration to read (default ~/.ssh/config; "none" reads
	// nothing).
	SSHConfigFile string
	// ReadOnly is a connection that must write nothing to the host (--dry, generations, captures):
	// a native worker not installed there yet is not sent, and the sh worker serves.
	ReadOnly bool
}

// SSH is a transport over one SSH connection. Commands and file operations are requests to one
// long-lived worker shell on the host (sshworker.go), started once per connection, through sudo
// when becoming root, so an operation costs a round trip rather than a new session.
type SSH struct {
	name   string
	user   string
	client *ssh.Client
	jumps  []*ssh.Client
	sudo   []string // argv prefix for become, nil when running as the login user
	pass   []byte
	root   bool // commands run as root (login as root, or become)
	done   chan struct{}
	once   sync.Once
	// connDone is closed when the connection has ended (closed, or lost).
	connDone       chan struct{}
	sessionTimeout time.Duration

	mu        sync.Mutex // one request at a time on the worker
	w         *worker
	lockPath  string // the host lock the worker holds (Flock), taken again by a new worker
	lockOwner string
	lockErr   error  // the lock was lost with a worker and could not be taken again
	nativeOff bool   // the native worker could not start here: sh workers only
	hostID    string // HostID, from the first worker's greeting
	readOnly  bool   // SSHConfig.ReadOnly

	sessions, requests atomic.Int64
}

var _ Transport = (*SSH)(nil)

// knownHostsMu serializes additions to known_hosts files from parallel connections.
var knownHostsMu sync.Mutex

// HostKeyError is returned when a host's key cannot be verified.
type HostKeyError struct {
	Host    string
	Changed bool // the key differs from the recorded one
	Key     string
	Files   []string
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("%s: HOST KEY CHANGED (now %s); refusing to connect. If the host was reinstalled, "+
			"remove its old entry from %s", e.Host, e.Key, strings.Join(e.Files, " or "))
	}
	return fmt.Sprintf("%s: unknown host key %s (not in %s); verify it and use --accept-new-host-keys for first contact",
		e.Host, e.Key, strings.Join(e.Files, ", "))
}

// UnreachableError wraps failures to connect or authenticate, so callers can tell an unreachable
// host from one that failed while applying.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string { return fmt.Sprintf("%s: unreachable: %v", e.Host, e.Err) }
func (e *UnreachableError) Unwrap() error { return e.Err }

// resolved is an SSHConfig with every default filled in.
type resolved struct {
	SSHConfig
	addr  string // host:port to dial
	label string // host as named for known_hosts (host or [host]:port)
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/root"
}

func localUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return "root"
}

func expandHome(p string) string {
	if p == "~" {
		return homeDir()
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(), p[2:])
	}
	return p
}

// resolve fills the defaults from ~/.ssh/config and OpenSSH's rules.
func resolve(cfg SSHConfig) (resolved, error) {
	r := resolved{SSHConfig: cfg}
	if r.Host == "" {
		return r, errors.New("ssh: no host")
	}
	conf := loadSSHConfig(cfg.SSHConfigFile)
	alias := cfg.Host
	if hn := conf.get(alias, "HostName"); hn != "" {
		r.Host = strings.ReplaceAll(hn, "%h", alias)
	}
	if r.Port == 0 {
		if p := conf.get(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return r, fmt.Errorf("ssh config: host %s: bad Port %q", alias, p)
			}
			r.Port = n
		}
	}
	if r.Port == 0 {
		r.Port = 22
	}
	r.User = cmp.Or(r.User, conf.get(alias, "User"))
	if r.User == "" {
		r.User = localUser()
	}
	if len(r.KeyFiles) == 0 {
		for _, f := range conf.getAll(alias, "IdentityFile") {
			r.KeyFiles = append(r.KeyFiles, expandHome(f))
		}
	}
	if len(r.KeyFiles) == 0 {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(homeDir(), ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				r.KeyFiles = append(r.KeyFiles, p)
			}
		}
	}
	for i, f := range r.KeyFiles {
		r.KeyFiles[i] = expandHome(f)
	}
	if r.ProxyJump == "" {
		if pj := conf.get(alias, "ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
			r.ProxyJump = pj
		}
	}
	if len(r.KnownHostsFiles) == 0 {
		if f := conf.get(alias, "UserKnownHostsFile"); f != "" {
			for _, x := range strings.Fields(f) {
				r.KnownHostsFiles = append(r.KnownHostsFiles, expandHome(x))
			}
		} else {
			r.KnownHostsFiles = []string{filepath.Join(homeDir(), ".ssh", "known_hosts")}
		}
		r.KnownHostsFiles = append(r.KnownHostsFiles, "/etc/ssh/ssh_known_hosts")
	}
	if r.ConnectTimeout == 0 {
		if t := conf.get(alias, "ConnectTimeout"); t != "" {
			if n, err := strconv.Atoi(t); err == nil && n > 0 {
				r.ConnectTimeout = time.Duration(n) * time.Second
			}
		}
	}
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = 10 * time.Second
	}
	if r.KeepAlive == 0 {
		r.KeepAlive = 15 * time.Second
	}
	r.Name = cmp.Or(r.Name, cfg.Host)
	r.addr = net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
	r.label = knownhosts.Normalize(r.addr)
	return r, nil
}

// DialSSH connects and authenticates to one host. Connection and authentication failures are
// *UnreachableError (a *HostKeyError inside for key problems).
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	r, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	var jumps []*ssh.Client
	closeJumps := func() {
		for i := len(jumps) - 1; i >= 0; i-- {
			_ = jumps[i].Close()
		}
	}
	var via *ssh.Client
	if r.ProxyJump != "" {
		for _, hop := range strings.Split(r.ProxyJump, ",") {
			hc, err := parseJump(strings.TrimSpace(hop), cfg)
			if err != nil {
				closeJumps()
				return nil, err
			}
			hr, err := resolve(hc)
			if err != nil {
				closeJumps()
				return nil, err
			}
			c, err := dialOne(ctx, hr, via)
			if err != nil {
				closeJumps()
				return nil, &UnreachableError{Host: r.Name, Err: fmt.Errorf("jump host %s: %w", hop, err)}
			}
			jumps = append(jumps, c)
			via = c
		}
	}
	client, err := dialOne(ctx, r, via)
	if err != nil {
		closeJumps()
		return nil, &UnreachableError{Host: r.Name, Err: err}
	}
	s := &SSH{name: r.Name, user: r.User, client: client, jumps: jumps, done: make(chan struct{}), root: r.User == "root",
		connDone: make(chan struct{}), sessionTimeout: 3 * r.ConnectTimeout, readOnly: r.ReadOnly}
	go func() {
		_ = client.Wait()
		close(s.connDone)
	}()
	if r.KeepAlive > 0 {
		go s.keepAlive(r.KeepAlive)
	}
	if r.Become && r.User != "root" {
		err = s.becomeRoot(ctx, r.BecomePassword)
	} else {
		s.w, err = s.startWorker(ctx)
	}
	if err != nil {
		_ = s.Close()
		var we *workerStartError
		if !errors.As(err, &we) {
			err = &UnreachableError{Host: s.name, Err: err}
		}
		return nil, err
	}
	return s, nil
}

// parseJump turns "[user@]host[:port]" into a config inheriting the target's auth settings.
func parseJump(spec string, base SSHConfig) (SSHConfig, error) {
	if spec == "" {
		return SSHConfig{}, errors.New("ssh: empty ProxyJump entry")
	}
	c := SSHConfig{KeyFiles: base.KeyFiles, NoAgent: base.NoAgent, KnownHostsFiles: base.KnownHostsFiles,
		AcceptNewHostKeys: base.AcceptNewHostKeys, ConnectTimeout: base.ConnectTimeout, KeepAlive: -1,
		SSHConfigFile: base.SSHConfigFile}
	spec = strings.TrimPrefix(spec, "ssh://")
	if u, h, ok := strings.Cut(spec, "@"); ok {
		c.User, spec = u, h
	}
	c.Host = spec
	if h, p, err := net.SplitHostPort(spec); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil {
			return c, fmt.Errorf("ssh: ProxyJump %q: bad port", spec)
		}
		c.Host, c.Port = h, n
	}
	c.ProxyJump = "none-nested"
	return c, nil
}

func dialOne(ctx context.Context, r resolved, via *ssh.Client) (*ssh.Client, error) {
	auths, closeAgent := authMethods(r)
	defer closeAgent()
	if len(auths) == 0 {
		return nil, errors.New("no ssh-agent and no usable private key (set ssh_key or IdentityFile)")
	}
	hkcb, algos, err := hostKeyCallback(r)
	if err != nil {
		return nil, err
	}
	cc := &ssh.ClientConfig{User: r.User, Auth: auths, HostKeyCallback: hkcb, HostKeyAlgorithms: algos,
		Timeout: r.ConnectTimeout}
	dctx, cancel := context.WithTimeout(ctx, r.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	if via != nil {
		conn, err = via.DialContext(dctx, "tcp", r.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", r.addr)
	}
	if err != nil {
		return nil, err
	}
	// The handshake is bounded too: a host that accepts TCP but never speaks must not hang the run.
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, r.addr, cc)
	stop()
	if err != nil {
		_ = conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if dctx.Err() != nil {
			return nil, fmt.Errorf("handshake timed out after %s", r.ConnectTimeout)
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func authMethods(r resolved) ([]ssh.AuthMethod, func()) {
	var methods []ssh.AuthMethod
	closer := func() {}
	var signers []ssh.Signer
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && !r.NoAgent {
		if conn, err := net.Dial("unix", sock); err == nil {
			ag := agent.NewClient(conn)
			if s, err := ag.Signers(); err == nil {
				signers = append(signers, s...)
			}
			closer = func() { _ = conn.Close() }
		}
	}
	for _, f := range r.KeyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		if err != nil {
			continue // passphrase-protected keys are used through the agent
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	return methods, closer
}

// dummyKey is made on first use, not at package init: generating it costs every chaos command
// (even --help) several milliseconds of start-up.
var dummyKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	return k
})

// hostKeyCallback verifies host keys against the known_hosts files. It also returns the key
// algorithms recorded for the host, so the server is asked for a key we can verify rather than
// another type we have no record of (which would look like a changed key).
func hostKeyCallback(r resolved) (ssh.HostKeyCallback, []string, error) {
	var files []string
	for _, f := range r.KnownHostsFiles {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	var db ssh.HostKeyCallback
	if len(files) > 0 {
		var err error
		if db, err = knownhosts.New(files...); err != nil {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
	} else {
		db = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	}
	var algos []string
	var ke *knownhosts.KeyError
	if err := db(r.addr, &net.TCPAddr{IP: net.IPv4zero}, dummyKey()); errors.As(err, &ke) {
		seen := map[string]bool{}
		for _, k := range ke.Want {
			for _, a := range algorithmsFor(k.Key.Type()) {
				if !seen[a] {
					seen[a] = true
					algos = append(algos, a)
				}
			}
		}
	}
	cb := func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := db(r.addr, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			return &HostKeyError{Host: r.Name, Changed: true, Key: fp, Files: r.KnownHostsFiles[:1]}
		}
		if !r.AcceptNewHostKeys {
			return &HostKeyError{Host: r.Name, Key: fp, Files: r.KnownHostsFiles}
		}
		return addKnownHost(r.KnownHostsFiles[0], r.addr, key)
	}
	return cb, algos, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func addKnownHost(file, addr string, key ssh.PublicKey) error {
	label := knownhosts.Normalize(addr)
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	// Another connection may have recorded it meanwhile; never add a second, different key.
	if _, err := os.Stat(file); err == nil {
		if db, err := knownhosts.New(file); err == nil {
			err := db(addr, &net.TCPAddr{IP: net.IPv4zero}, key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			if errors.As(err, &ke) && len(ke.Want) > 0 {
				return &HostKeyError{Host: label, Changed: true, Key: ssh.FingerprintSHA256(key), Files: []string{file}}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(knownhosts.Line([]string{label}, key) + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (s *SSH) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				return // connection gone
			}
			missed = 0
		case <-time.After(every):
			if missed++; missed >= 3 {
				_ = s.client.Close()
				return
			}
		case <-s.done:
			return
		}
	}
}

// becomeRoot starts the worker as root through sudo: `sudo -n` when no password is needed, else
// `sudo -k -S` with the password as the first line of the worker's stdin, never in argv. The
// password is checked once first with a command whose stdin ends after it, so that a wrong one
// fails here instead of leaving sudo waiting for another try. -k makes sudo always read it.
func (s *SSH) becomeRoot(ctx context.Context, pass []byte) error {
	s.sudo, s.root = []string{"sudo", "-n", "--"}, true
	w, err := s.startWorker(ctx)
	if err == nil {
		s.w = w
		return nil
	}
	var we *workerStartError
	if !errors.As(err, &we) {
		return err
	}
	if len(pass) == 0 {
		if strings.Contains(we.stderr, "password") {
			return fmt.Errorf("%s: sudo needs a password for %s (give it with --ask-become-pass or become_password: {secret: PATH})", s.name, s.user)
		}
		return fmt.Errorf("%s: sudo as %s failed: %w", s.name, s.user, err)
	}
	if bytes.ContainsAny(pass, "\n\r\x00") {
		return fmt.Errorf("%s: the sudo password must be one line", s.name)
	}
	sudo := []string{"sudo", "-k", "-S", "-p", "", "--"}
	res, err := s.runRaw(ctx, shell.Join(append(sudo[:len(sudo):len(sudo)], "true")), append(append([]byte{}, pass...), '\n'))
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("%s: sudo as %s failed (wrong password?): %s", s.name, s.user, strings.TrimSpace(string(res.Stderr)))
	}
	s.sudo, s.pass = sudo, append([]byte{}, pass...)
	if s.w, err = s.startWorker(ctx); err != nil {
		return fmt.Errorf("%s: sudo as %s: %w", s.name, s.user, err)
	}
	return nil
}

// Name implements Transport.
func (s *SSH) Name() string { return s.name }

// User is the login user.
func (s *SSH) User() string { return s.user }

// Close implements Transport.
func (s *SSH) Close() error {
	var err error
	s.once.Do(func() {
		// An idle worker is told that this is a clean end: a worker whose stream just ends takes it
		// for a lost connection and kills what its last command left running (sshworker.go). It is
		// then waited for (bounded), so that its temp files are gone when Close returns. A request
		// in flight keeps the lock: closing then abandons it.
		if s.mu.TryLock() {
			if w := s.w; w != nil && !w.exited() {
				_, _ = w.in.Write(frame("_bye", nil, w.tok))
				w.close()
				s.w = nil
			}
			s.mu.Unlock()
		}
		close(s.done)
		err = s.client.Close()
		for i := len(s.jumps) - 1; i >= 0; i-- {
			_ = s.jumps[i].Close()
		}
	})
	return err
}

// Run implements Transport.
func (s *SSH) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("run: empty command")
	}
	if strings.Contains(c.Argv[0], "=") {
		return Result{}, fmt.Errorf("run: program name %q contains '='", c.Argv[0])
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return Result{}, fmt.Errorf("run: bad environment entry %q", e)
		}
	}
	var payload []byte
	if len(c.Stdin) > 0 {
		payload = c.Stdin
	}
	res, err := s.call(ctx, runCall(c), payload)
	if err != nil {
		return res, fmt.Errorf("%s: %s: %w", s.name, c.Argv[0], err)
	}
	return res, nil
}

var signalCodes = map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
	"SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12}

// errConnClosed is a session asked of a connection that has ended.
var errConnClosed = errors.New("new session: the connection is closed")

// newSession opens a session, failing at once when the connection has ended: x/crypto/ssh's
// NewSession on a connection whose reader already stopped waits forever for the server's answer
// (seen when a host died between two requests). A server that does not answer within the connect
// timeout has the connection closed.
func (s *SSH) newSession() (*ssh.Session, error) {
	s.sessions.Add(1)
	select {
	case <-s.connDone:
		return nil, errConnClosed
	default:
	}
	type opened struct {
		sess *ssh.Session
		err  error
	}
	rc := make(chan opened, 1)
	go func() {
		sess, err := s.client.NewSession()
		rc <- opened{sess, err}
	}()
	timer := time.NewTimer(s.sessionTimeout)
	defer timer.Stop()
	select {
	case r := <-rc:
		if r.err != nil {
			return nil, fmt.Errorf("new session: %w", r.err)
		}
		return r.sess, nil
	case <-s.connDone:
	case <-timer.C:
		_ = s.client.Close()
	}
	go func() { // the late answer, if any
		if r := <-rc; r.sess != nil {
			_ = r.sess.Close()
		}
	}()
	return nil, errConnClosed
}

// runRaw runs a command line in a new session of its own (sudo checks, cancellations).
func (s *SSH) runRaw(ctx context.Context, cmdline string, stdin []byte) (Result, error) {
	sess, err := s.newSession()
	if err != nil {
		return Result{}, err
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	errc := make(chan error, 1)
	go func() { errc <- sess.Run(cmdline) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		// Best effort on the remote side; never wait for a host that may not answer.
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
		return Result{}, ctx.Err()
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitStatus()
		if sig := ee.Signal(); sig != "" {
			res.Code = 128 + signalCodes[sig]
		}
	default:
		return res, err
	}
	return res, nil
}

// op runs a worker file operation (a function of workerScript) and turns a non-zero exit into an
// *ExitError.
func (s *SSH) op(ctx context.Context, name string, payload []byte, args ...string) (Result, error) {
	res, err := s.call(ctx, name+" "+shell.Join(args), payload)
	if err != nil {
		return res, fmt.Errorf("%s: %w", s.name, err)
	}
	if res.Code != 0 {
		return res, &ExitError{Argv: []string{strings.TrimPrefix(name, "_")}, Code: res.Code, Stderr: string(res.Stderr)}
	}
	return res, nil
}

// Stat implements Transport.
func (s *SSH) Stat(ctx context.Context, p string) (FileInfo, error) {
	if !path.IsAbs(p) {
		return FileInfo{}, fmt.Errorf("%q: not an absolute path", p)
	}
	res, err := s.op(ctx, "_stat", nil, path.Clean(p))
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return parseStat(res.Stdout)
}

func parseStat(out []byte) (FileInfo, error) {
	head, rest, ok := bytes.Cut(out, []byte("\n"))
	if !ok {
		return FileInfo{}, fmt.Errorf("stat: unexpected output %q", out)
	}
	line := string(head)
	if line == "missing" {
		return FileInfo{}, nil
	}
	link := strings.HasPrefix(line, "L ")
	line = strings.TrimPrefix(line, "L ")
	f := strings.Fields(line)
	if len(f) != 3 {
		return FileInfo{}, fmt.Errorf("stat: unexpected output %q", head)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	uid, err2 := strconv.Atoi(f[1])
	gid, err3 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return FileInfo{}, fmt.Errorf("stat: unexpected output %q", head)
	}
	fi := FileInfo{Exists: true, Mode: unixMode(uint32(raw)), UID: uid, GID: gid}
	switch {
	case link:
		fi.Target = strings.TrimSuffix(string(rest), "\n")
	case fi.Mode.IsRegular():
		fi.Content = rest
	}
	return fi, nil
}

// unixMode converts st_mode to fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// octal renders a mode for chmod, special bits included.
func octal(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

func owner(uid, gid int) string {
	switch {
	case uid >= 0 && gid >= 0:
		return fmt.Sprintf("%d:%d", uid, gid)
	case uid >= 0:
		return strconv.Itoa(uid)
	case gid >= 0:
		return fmt.Sprintf(":%d", gid)
	}
	return ""
}

func tempName(p string) string {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return path.Join(path.Dir(p), ".chaos-"+hex.EncodeToString(rnd[:])+".tmp")
}

// WriteFile implements Transport: one request creates the temp file (O_EXCL, with the final mode
// through the umask when it can), sets owner and mode, writes and fsyncs the data and, without a
// validator, renames it into place and fsyncs the directory.
func (s *SSH) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode, uid, gid int, validate func(tmp string) error) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("%q: not an absolute path", p)
	}
	p = path.Clean(p)
	tmp := tempName(p)
	step := "rename"
	if validate != nil {
		step = "keep"
	}
	args, payload := s.writeArgs(tmp, p, data, mode, uid, gid, step)
	if _, err := s.op(ctx, "_write", payload, args...); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if validate == nil {
		return nil
	}
	if err := validate(tmp); err != nil {
		_, _ = s.op(context.WithoutCancel(ctx), "_rm", nil, "-f", tmp)
		return err
	}
	if _, err := s.op(ctx, "_mv", nil, tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// writeArgs are the arguments and payload of the _write of data to p through the temp file tmp;
// step "rename" moves it into place, "keep" leaves it for a validator.
func (s *SSH) writeArgs(tmp, p string, data []byte, mode fs.FileMode, uid, gid int, step string) ([]string, []byte) {
	umask, chmod := "0077", octal(mode)
	if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == 0 && mode.Perm()&0o111 == 0 && (s.root || mode&0o200 != 0) {
		// created with the final mode (0666 &^ umask == mode), still writable for the data
		umask, chmod = fmt.Sprintf("%04o", 0o777&^uint32(mode.Perm())), ""
	}
	// As root, owner and mode are set before the data, whose fsync then covers them too. Another
	// user may not be able to write a read-only file, and a write by a non-root user clears the
	// set-id bits: then they are set afterwards (and fsync'd again).
	when := "before"
	if !s.root {
		when = "after"
	}
	n, payload := "-", []byte(nil)
	if len(data) > 0 {
		n, payload = strconv.Itoa(len(data)), data
	}
	return []string{n, tmp, p, umask, owner(uid, gid), chmod, when, step}, payload
}

// Remove implements Transport.
func (s *SSH) Remove(ctx context.Context, p string, recursive bool) error {
	if !path.IsAbs(p) || path.Clean(p) == "/" {
		return fmt.Errorf("remove %q: refusing", p)
	}
	flag := "-f"
	if recursive {
		flag = "-rf"
	}
	if _, err := s.op(ctx, "_rm", nil, flag, path.Clean(p)); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// Symlink implements Transport.
func (s *SSH) Symlink(ctx context.Context, p, target string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("symlink %q: not an absolute path", p)
	}
	p = path.Clean(p)
	if _, err := s.op(ctx, "_ln", nil, target, tempName(p), p); err != nil {
		return fmt.Errorf("symlink %s: %w", p, err)
	}
	return nil
}

// Mkdir implements Transport.
func (s *SSH) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("mkdir %q: not an absolute path", p)
	}
	if _, err := s.op(ctx, "_mkdir", nil, path.Clean(p), octal(mode)); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return nil
}

// Chown implements Transport.
func (s *SSH) Chown(ctx context.Context, p string, uid, gid int) error {
	o := owner(uid, gid)
	if o == "" {
		return nil
	}
	if _, err := s.op(ctx, "_chown", nil, path.Clean(p), o); err != nil {
		return fmt.Errorf("chown %s: %w", p, err)
	}
	return nil
}

// Chmod implements Transport.
func (s *SSH) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	if _, err := s.op(ctx, "_chmod", nil, path.Clean(p), octal(mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return nil
}

// Rename implements Renamer: one request, the worker's atomic rename (mv -T), then an fsync of the
// directory.
func (s *SSH) Rename(ctx context.Context, from, to string) error {
	if !path.IsAbs(from) || !path.IsAbs(to) {
		return fmt.Errorf("rename %q %q: not absolute paths", from, to)
	}
	if _, err := s.op(ctx, "_mv", nil, path.Clean(from), path.Clean(to)); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	return nil
}

// Flock takes the host lock at p (absolute; it and its directory are created when missing) as an
// flock(2) held by the connection's worker shell, the same lock a chaos running on the host itself
// takes: the kernel releases it when the worker ends, so a lost connection or a killed chaos never
// leaves a stale lock. ErrLocked when another process holds it; ErrUnsupported when the host has
// no flock(1) (util-linux, busybox).
func (s *SSH) Flock(p string) (release func() error, err error) {
	if !path.IsAbs(p) {
		return nil, fmt.Errorf("lock %q: not an absolute path", p)
	}
	p = path.Clean(p)
	ctl, _ := os.Hostname()
	who := fmt.Sprintf("%d on %s over ssh", os.Getpid(), ctl)
	ctx := context.Background()
	s.mu.Lock()
	held := s.lockPath
	s.mu.Unlock()
	if held != "" {
		return nil, fmt.Errorf("lock %s: this connection already holds the lock %s", p, held)
	}
	res, err := s.call(ctx, lockCall(p, who), nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("lock %s: %s: %w", p, s.name, err)
	case res.Code == 1:
		return nil, fmt.Errorf("lock %s: %w", p, ErrLocked)
	case res.Code == 3:
		return nil, fmt.Errorf("lock %s: no flock command on %s: %w", p, s.name, ErrUnsupported)
	case res.Code != 0:
		return nil, fmt.Errorf("lock %s: %s: %w", p, s.name, &ExitError{Argv: []string{"flock"}, Code: res.Code, Stderr: string(res.Stderr)})
	}
	s.mu.Lock()
	s.lockPath, s.lockOwner = p, who
	s.mu.Unlock()
	return func() error {
		s.mu.Lock()
		s.lockPath, s.lockOwner = "", ""
		s.mu.Unlock()
		// A worker that is gone took the lock with it: nothing to release then.
		_, _ = s.call(ctx, "_unlock", nil)
		return nil
	}, nil
}
