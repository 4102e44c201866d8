package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

// Zero configuration puts the SQLite database in $XDG_DATA_HOME/chaos/capitain; a second server on
// the same file is refused; a restart prints no new token; CHAOS_CAPITAIN_DB names the database
// when no flag does.
func TestDefaultsAndLock(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	t.Setenv("CHAOS_CAPITAIN_DB", "")
	ctx := context.Background()
	var out bytes.Buffer
	srv, err := server.New(ctx, server.Config{}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "admin token") {
		t.Fatalf("first start printed %q", out.String())
	}
	db := filepath.Join(xdg, "chaos", "capitain", "capitain.db")
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
	if _, err := server.New(ctx, server.Config{}, &out, nil); err == nil || !strings.Contains(err.Error(), "another capitain serves this database") {
		t.Fatalf("second server on one SQLite file: %v", err)
	}
	// Serving and stopping releases the file.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(cctx, newListener(t)) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out.Reset()
	other := filepath.Join(t.TempDir(), "env.db")
	t.Setenv("CHAOS_CAPITAIN_DB", other)
	srv2, err := server.New(ctx, server.Config{}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); err != nil || !strings.Contains(out.String(), "admin token") {
		t.Fatalf("CHAOS_CAPITAIN_DB: %v %q", err, out.String())
	}
	cctx, cancel = context.WithCancel(ctx)
	go func() { done <- srv2.ServeListener(cctx, newListener(t)) }()
	cancel()
	<-done
	t.Setenv("CHAOS_CAPITAIN_DB", "")
	out.Reset()
	if _, err := server.New(ctx, server.Config{}, &out, nil); err != nil || out.Len() != 0 {
		t.Fatalf("restart: %v, printed %q", err, out.String())
	}
}

func TestLoadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, []byte("listen: 0.0.0.0:9000\nworkers: 3\nnode_timeout: 5s\ntrusted_proxies: [10.0.0.0/8]\nsession_ttl: 1h\n"+
		"notifications:\n  channels:\n    - {name: hook, type: webhook, url: https://h.example/x, secret: {file: /run/s}}\n"+
		"  rules:\n    - {name: web, projects: [web], events: [job.failed], channels: [hook]}\n  delivery: {backoff: 3s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := server.LoadConfig(p)
	if err != nil || c.Listen != "0.0.0.0:9000" || c.Workers != 3 || c.NodeTimeout != 5*time.Second ||
		len(c.TrustedProxies) != 1 || c.TrustedProxies[0] != "10.0.0.0/8" || c.SessionTTL != time.Hour {
		t.Fatalf("%+v %v", c, err)
	}
	if n := c.Notifications; len(n.Channels) != 1 || n.Channels[0].Secret.File != "/run/s" || n.Rules[0].Projects[0] != "web" ||
		n.Delivery.Backoff != 3*time.Second {
		t.Fatalf("notifications: %+v", n)
	}
	if err := os.WriteFile(p, []byte("listen: x\nlisten_addr: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := server.LoadConfig(p); err == nil || !strings.Contains(err.Error(), "listen_addr") {
		t.Fatalf("unknown key: %v", err)
	}
}

// trusted_proxies: the audit log names the client a trusted proxy forwarded for (and not one an
// untrusted client claims); session_ttl: how long a login lasts; a bad prefix stops the start.
func TestTrustedProxiesAndSessionTTL(t *testing.T) {
	if _, err := server.New(context.Background(), server.Config{Data: t.TempDir(), Workers: -1, TrustedProxies: []string{"10.0.0.0/33"}}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "trusted_proxies") {
		t.Fatalf("a bad prefix: %v", err)
	}
	for _, c := range []struct {
		trusted []string
		addr    string
	}{{[]string{"127.0.0.0/8"}, "203.0.113.9"}, {nil, "127.0.0.1"}} {
		a := startConfig(t, server.Config{Workers: -1, TrustedProxies: c.trusted, SessionTTL: 90 * time.Minute}, "")
		a.do("POST", "/api/v1/projects", map[string]any{"name": "p", "repo": "git://example/x.git", "path": "c.yml"}, nil, "X-Forwarded-For", "203.0.113.9")
		var pg auth.AuditPage
		a.must(200, "GET", "/api/v1/audit?action=project.create", nil, &pg)
		if len(pg.Entries) != 1 || pg.Entries[0].Addr != c.addr || pg.Entries[0].Actor != "admin" {
			t.Errorf("trusted %v: audit %+v, want from %s", c.trusted, pg.Entries, c.addr)
		}
		a.must(201, "POST", "/api/v1/users", map[string]any{"name": "u", "password": "twelve chars!"}, nil)
		var l auth.LoginResponse
		start := time.Now()
		a.must(200, "POST", "/api/v1/login", map[string]any{"user": "u", "password": "twelve chars!"}, &l)
		if d := l.Expires.Sub(start); d < 89*time.Minute || d > 91*time.Minute {
			t.Errorf("session of %s, want 90m", d)
		}
	}
}
