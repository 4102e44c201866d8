package secrets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/hcvault"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/pgp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// chaos links a copy of sops without the cloud SDKs (third_party/sops): AWS KMS, GCP KMS, Azure Key
// Vault and HuaweiCloud KMS keys are kept as data but cannot wrap or unwrap a data key here (hc_vault
// keys can: the Keyring speaks Vault's Transit HTTP API itself). For those keys chaos runs the
// installed sops CLI as a key service (`sops keyservice` on a unix socket in a private directory, the
// protocol of `sops --keyservice`): only the wrapped data key goes to sops and comes back unwrapped,
// on that socket; the file and its values stay in chaos.

// SopsCLIEnv names the sops binary to use for cloud keys; default: `sops` on $PATH.
const SopsCLIEnv = "CHAOS_SOPS"

// cloudKeys returns the key types among the file's master keys that only the sops CLI can use.
func cloudKeys(groups []sops.KeyGroup) []string {
	var kinds []string
	for _, g := range groups {
		for _, mk := range g {
			switch mk.(type) {
			case *sopsage.MasterKey, *pgp.MasterKey, *hcvault.MasterKey:
				// age and PGP in-process; hc_vault over Vault's HTTP API (Keyring).
			default:
				if id := mk.TypeToIdentifier(); !slices.Contains(kinds, id) {
					kinds = append(kinds, id)
				}
			}
		}
	}
	return kinds
}

func sopsCLI() (string, error) {
	name := "sops"
	if v := os.Getenv(SopsCLIEnv); v != "" {
		name = v
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("no sops CLI found (%s, or set %s): %w", name, SopsCLIEnv, err)
	}
	return p, nil
}

// cloudKeyError says why a file whose keys need the sops CLI could not be opened or written.
func cloudKeyError(path string, kinds []string, err error) error {
	return fmt.Errorf("%s: this file's %s keys need the sops CLI, which chaos runs as a key service "+
		"(chaos itself does not link the cloud KMS/Vault SDKs; install sops, see docs/secrets.md): %w",
		path, strings.Join(kinds, ", "), err)
}

// sopsKeyService is a running `sops keyservice` and a gRPC client connected to it.
type sopsKeyService struct {
	cmd    *exec.Cmd
	dir    string
	conn   *grpc.ClientConn
	client keyservice.KeyServiceClient
	stderr *lockedBuffer
	exited chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}

// startSopsKeyService starts `sops keyservice` listening on a socket in a new 0700 directory and
// waits until it answers. The sops process inherits chaos's environment (AWS_*, GOOGLE_*, AZURE_*,
// VAULT_* credentials and endpoints), as the sops CLI would see them.
func startSopsKeyService() (*sopsKeyService, error) {
	bin, err := sopsCLI()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chaos-sops-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "keyservice.sock")
	s := &sopsKeyService{dir: dir, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "keyservice", "--network", "unix", "--address", sock)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	// Its own process group: a Ctrl-C meant for chaos's editor does not stop it mid-request; Close
	// ends it, and so does the kernel if chaos dies without closing (Pdeathsig).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s keyservice: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-s.exited:
			s.Close()
			return nil, fmt.Errorf("%s keyservice exited at start: %s", bin, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("%s keyservice did not open %s within 15 s", bin, sock)
		}
	}
	s.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connecting to %s keyservice: %w", bin, err)
	}
	s.client = keyservice.NewKeyServiceClient(s.conn)
	return s, nil
}

// Encrypt and Decrypt forward to the sops key service with a time limit (a cloud KMS that does not
// answer must not hang chaos) and name the sops CLI in errors, with what it logged.
func (s *sopsKeyService) Encrypt(ctx context.Context, req *keyservice.EncryptRequest, opts ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := s.client.Encrypt(ctx, req, opts...)
	return r, s.wrap(err)
}

func (s *sopsKeyService) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, opts ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := s.client.Decrypt(ctx, req, opts...)
	return r, s.wrap(err)
}

func (s *sopsKeyService) wrap(err error) error {
	if err == nil {
		return nil
	}
	if log := s.stderr.String(); log != "" {
		return fmt.Errorf("sops keyservice: %w (sops said: %s)", err, lastLines(log, 5))
	}
	return fmt.Errorf("sops keyservice: %w", err)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Close stops the key service and removes its socket directory.
func (s *sopsKeyService) Close() {
	if s == nil {
		return
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
			}
		}
	}
	os.RemoveAll(s.dir)
}

var _ keyservice.KeyServiceClient = (*sopsKeyService)(nil)

// useSopsCLI starts the sops key service for f if its key groups hold keys only the sops CLI can use
// and it is not running yet.
func (f *File) useSopsCLI() error {
	kinds := cloudKeys(f.tree.Metadata.KeyGroups)
	if len(kinds) == 0 || f.remote != nil {
		return nil
	}
	ks, err := startSopsKeyService()
	if err != nil {
		return cloudKeyError(f.Path, kinds, err)
	}
	f.remote = ks
	return nil
}
