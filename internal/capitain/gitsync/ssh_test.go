package gitsync

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestSyncSSHDeployKey fetches over SSH from a real sshd in a network namespace (the host's root has
// Debian's git, so sshd runs the real git-upload-pack) with a deploy key, and refuses a server whose
// host key is not the one in known_hosts.
func TestSyncSSHDeployKey(t *testing.T) {
	// a second host key (ECDSA): known_hosts listing only one of the two must be enough
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := ssh.NewPublicKey(&ecKey.PublicKey)
	hs := testenv.StartSSHHostsFrom(t, testenv.BaseRootWith(t, "git"), 1, func(h *testenv.SSHHost) {
		block, err := ssh.MarshalPrivateKey(ecKey, "")
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{
			"etc/ssh/ssh_host_ecdsa_key":               pem.EncodeToMemory(block),
			"etc/ssh/sshd_config.d/60-second-key.conf": []byte("HostKey /etc/ssh/ssh_host_ecdsa_key\n"),
		} {
			if err := os.WriteFile(filepath.Join(h.Root, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
	h := hs.Hosts[0]
	up := newUpstream(t, filepath.Join(h.Root, "srv/dots.git"), map[string]string{"fleet/chobolo.yml": "x: 1\n"})
	key, err := os.ReadFile(hs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(hs.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	cache := newCache(t)
	ctx := context.Background()
	auth := Credentials{SSHKey: key, KnownHosts: known}

	for _, url := range []string{"ssh://root@" + h.Addr + "/srv/dots.git", "root@" + h.Addr + ":/srv/dots.git"} {
		src := Source{URL: url, Ref: "main", Path: "fleet/chobolo.yml", Auth: auth}
		co := mustSync(t, cache, "ssh", src)
		if readFile(t, co.Chobolo) != "x: 1\n" {
			t.Fatalf("%s: wrong content", url)
		}
		if got, err := cache.Resolve(ctx, "ssh", src); err != nil || got != co.Commit {
			t.Fatalf("%s: Resolve = %s, %v", url, got, err)
		}
	}
	c2 := up.commit("two", map[string]string{"fleet/chobolo.yml": "x: 2\n"})
	url := "ssh://root@" + h.Addr + "/srv/dots.git"
	if co := mustSync(t, cache, "ssh", Source{URL: url, Ref: "main", Auth: auth}); co.Commit != c2 {
		t.Fatalf("after a push: %s, want %s", co.Commit, c2)
	}
	// known_hosts with only the ECDSA key: the handshake asks for that key type
	onlyEC := Credentials{SSHKey: key, KnownHosts: []byte(knownhosts.Line([]string{knownhosts.Normalize(h.Addr + ":22")}, ecPub) + "\n")}
	if got, err := cache.Resolve(ctx, "ssh", Source{URL: url, Ref: "main", Auth: onlyEC}); err != nil || got != c2 {
		t.Fatalf("known_hosts with the ECDSA key only: %s, %v", got, err)
	}

	// known_hosts names this address with another key: refused before any git traffic
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	wrong := knownhosts.Line([]string{knownhosts.Normalize(h.Addr + ":22")}, other) + "\n"
	c3 := up.commit("three", map[string]string{"fleet/chobolo.yml": "x: 3\n"})
	for name, kh := range map[string]string{"wrong key": wrong, "unknown host": strings.ReplaceAll(wrong, h.Addr, "10.0.0.1")} {
		bad := Source{URL: url, Ref: "main", Auth: Credentials{SSHKey: key, KnownHosts: []byte(kh)}}
		_, err := cache.Sync(ctx, "ssh", bad)
		if err == nil || !strings.Contains(err.Error(), "knownhosts") {
			t.Fatalf("%s: err = %v, want a known_hosts refusal", name, err)
		}
		t.Logf("%s: %v", name, err)
		if _, err := cache.Resolve(ctx, "ssh", bad); err == nil || !strings.Contains(err.Error(), "knownhosts") {
			t.Fatalf("%s: Resolve err = %v, want a known_hosts refusal", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cache.projectDir("ssh"), "checkouts", c3)); !os.IsNotExist(err) {
		t.Fatalf("a refused server's commit was checked out: %v", err)
	}
}

// TestHungServer: a server that accepts connections and never answers does not hang a sync or a
// poll past its context, for each transport (go-git's ssh handshake ignores the context by itself).
func TestHungServer(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	pub, _ := ssh.NewPublicKey(priv.Public())
	auth := Credentials{SSHKey: pem.EncodeToMemory(block),
		KnownHosts: []byte(knownhosts.Line([]string{knownhosts.Normalize(l.Addr().String())}, pub) + "\n")}
	cache := newCache(t)
	for _, scheme := range []string{"git", "http", "ssh"} {
		src := Source{URL: scheme + "://" + l.Addr().String() + "/x.git", Ref: "main", Auth: auth}
		for name, op := range map[string]func(context.Context) error{
			"Resolve": func(ctx context.Context) error { _, err := cache.Resolve(ctx, "p", src); return err },
			"Sync":    func(ctx context.Context) error { _, err := cache.Sync(ctx, "p", src); return err },
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			done := make(chan error, 1)
			go func() { done <- op(ctx) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("%s %s: no error from a silent server", scheme, name)
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("%s %s: still waiting two minutes after its context ended", scheme, name)
			}
			cancel()
		}
	}
}
