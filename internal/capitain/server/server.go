// Package server is Capitain, the central server of Ch-aOS (`chaos capitain serve`): projects
// (git repositories holding a Ch-obolo), their hosts, and jobs run on those hosts through
// pkg/chaos, one River queue job per host and job, over a REST API with an OpenAPI document,
// live events over SSE, and Prometheus metrics. Its database is SQLite (default) or PostgreSQL.
//
// Users, API tokens, per-project roles and the audit log are internal/capitain/auth, on the same
// database. Other parts plug in through small surfaces: Server.Refresh, Server.Sync, Server.CreateJob
// and Server.CancelJob are what the poller, schedules and webhooks (gitops.go) call (as the context's
// auth.Principal, or as the system when it has none).
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/gitsync"
	"github.com/ch-aos-ch/chaos/internal/capitain/notify"
	"github.com/ch-aos-ch/chaos/internal/datadir"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// Config is how the server runs; the YAML config file has the same keys as the flags.
type Config struct {
	// Data is the data directory (SQLite database, repository caches): default
	// $XDG_DATA_HOME/chaos/capitain.
	Data string `yaml:"data"`
	// DB is a postgres:// DSN (or libpq key=value) or a SQLite file; "" is DATA/capitain.db.
	// CHAOS_CAPITAIN_DB sets it when neither the flag nor the file does.
	DB string `yaml:"db"`
	// Listen is the HTTP address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// Workers is how many hosts this server runs at once (default 16); -1 runs none: the replica
	// serves the API and queues jobs that other replicas run.
	Workers int `yaml:"workers"`
	// NodeTimeout is how long a silent server keeps its running jobs before another (or its
	// restart) takes them over (default 30s).
	NodeTimeout time.Duration `yaml:"node_timeout"`
	// MaxBody bounds request bodies (default 1 MiB).
	MaxBody int64 `yaml:"max_body"`
	// ReadTimeout bounds reading a request (default 30s; event streams are exempt).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Notifications are the channels and rules of notifications (docs/capitain.md); none: off.
	Notifications notify.Config `yaml:"notifications"`
	// TrustedProxies are the addresses (CIDR prefixes) of reverse proxies whose X-Forwarded-For
	// names the client in the audit log; none by default.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration `yaml:"session_ttl"`
}

// LoadConfig reads a YAML config file (unknown keys are an error).
func LoadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// defaults fills what c leaves unset.
func (c *Config) defaults() error {
	if c.Data == "" {
		d, err := datadir.Path("capitain")
		if err != nil {
			return err
		}
		c.Data = d
	}
	if c.DB == "" {
		c.DB = os.Getenv("CHAOS_CAPITAIN_DB")
	}
	if c.DB == "" {
		c.DB = filepath.Join(c.Data, "capitain.db")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = 30 * time.Second
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	return os.MkdirAll(c.Data, 0o700)
}

// Server is a running Capitain.
type Server struct {
	cfg      Config
	store    *store
	queue    queue
	ctl      *chaos.Controller
	auth     *auth.Store
	hub      hub
	metrics  *metrics
	log      *slog.Logger
	node     string // this process's id (River's client id, the heartbeat's row)
	instance string // this installation's id (in the generations its jobs make)

	git      *gitsync.Cache // DATA/git: each project's bare clone and read-only checkouts
	notifier *notify.Dispatcher
	// poller and scheduler run while the server serves (woken when the API changes their input).
	poller    *gitsync.Poller
	scheduler *gitsync.Scheduler

	stopping chan struct{} // closed when the server stops: event streams end
	ui       http.Handler  // the web UI (SetUI), served at "/"

	cacheMu sync.Mutex
	cache   map[string]*loadedProject
	ready   atomic.Bool
}

// New opens the database (migrating it), and on the first start of a database creates the global
// admin "admin" and writes its one-time token to out. log receives the server's own messages.
func New(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := openStore(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, store: st, stopping: make(chan struct{}), log: log, cache: map[string]*loadedProject{},
		metrics: newMetrics()}
	fail := func(err error) (*Server, error) {
		st.close()
		if srv.notifier != nil {
			_ = srv.notifier.Close(context.Background())
		}
		return nil, err
	}
	if srv.git, err = gitsync.NewCache(filepath.Join(cfg.Data, "git")); err != nil {
		return fail(err)
	}
	srv.newGitOps()
	if len(cfg.Notifications.Channels) > 0 {
		if srv.notifier, err = notify.New(cfg.Notifications, notify.Hooks{Logger: log, DeadLetters: deadLetters{st},
			Metrics: func(o notify.Observation) {
				srv.metrics.notifications.WithLabelValues(o.Channel, string(o.Event), string(o.Outcome)).Inc()
			}}); err != nil {
			return fail(err)
		}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	srv.node = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	if srv.ctl, err = chaos.New(chaos.Options{}); err != nil {
		return fail(err)
	}
	if err := auth.Migrate(ctx, st.db, st.dialect()); err != nil {
		return fail(err)
	}
	srv.auth = auth.New(st.db, st.dialect())
	srv.auth.SessionTTL = cfg.SessionTTL
	for _, s := range cfg.TrustedProxies {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fail(fmt.Errorf("trusted_proxies: %w", err))
		}
		srv.auth.TrustedProxies = append(srv.auth.TrustedProxies, pfx)
	}
	if err := srv.firstStart(ctx, out); err != nil {
		return fail(err)
	}
	if !st.postgres {
		// The database file is locked by this process: no other server runs its jobs.
		if _, err := st.db.ExecContext(ctx, `DELETE FROM capitain_nodes`); err != nil {
			return fail(err)
		}
	}
	if srv.queue, err = newQueue(ctx, st, srv, srv.node, cfg.Workers); err != nil {
		return fail(err)
	}
	srv.metrics.register(srv)
	return srv, nil
}

// firstStart creates the installation's id and, once per database, the global admin and its
// token (printed, stored hashed; it expires after auth.BootstrapTokenTTL).
func (srv *Server) firstStart(ctx context.Context, out io.Writer) error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if _, err := srv.store.setSettingOnce(ctx, "instance", hex.EncodeToString(b)); err != nil {
		return err
	}
	inst, err := srv.store.setting(ctx, "instance")
	if err != nil {
		return err
	}
	srv.instance = inst
	tok, err := srv.auth.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if tok != "" && out != nil {
		fmt.Fprintf(out, "Capitain's admin token for user %s (shown once, stored hashed, valid %d days: log in with it, then create users and tokens): %s\n",
			auth.BootstrapUser, int(auth.BootstrapTokenTTL.Hours()/24), tok)
	}
	return nil
}

// Serve listens on the configured address and serves until ctx ends, then stops gracefully:
// running hosts finish their op, undo and are retried by the next server.
func (srv *Server) Serve(ctx context.Context, out io.Writer) error {
	l, err := net.Listen("tcp", srv.cfg.Listen)
	if err != nil {
		return err
	}
	if out != nil {
		fmt.Fprintf(out, "Capitain serves http://%s/ (API http://%s/api/v1, database %s)\n", l.Addr(), l.Addr(), srv.store.where)
	}
	return srv.ServeListener(ctx, l)
}

// ServeListener is Serve on an open listener.
func (srv *Server) ServeListener(ctx context.Context, l net.Listener) error {
	defer srv.store.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stopped before it started (ctx already done) is a clean stop, not an error.
	if err := srv.beat(ctx); err != nil {
		return ignoreStopped(ctx, err)
	}
	if err := srv.queue.start(ctx); err != nil {
		return ignoreStopped(ctx, err)
	}
	go srv.heartbeat(ctx)
	go srv.runGitOps(ctx)
	if srv.store.postgres {
		go srv.listen(ctx)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: srv.cfg.ReadTimeout,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		// WriteTimeout stays 0: event streams are long; handlers bound their own work.
	}
	srv.ready.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.ready.Store(false)
	close(srv.stopping)
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	if err := srv.queue.stop(sctx); err != nil && !strings.Contains(err.Error(), "not started") {
		return err
	}
	if srv.notifier != nil {
		// What is still queued is delivered, or logged as not delivered, before the server ends.
		_ = srv.notifier.Close(sctx)
	}
	return nil
}

// ignoreStopped is nil when ctx is done (the error is the stop), else err.
func ignoreStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
