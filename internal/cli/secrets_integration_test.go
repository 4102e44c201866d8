package cli_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// secretEnv is an isolated chaos config with an age key, a .sops.yaml and a secrets file holding
// the given YAML, made with the chaos binary itself.
type secretEnv struct {
	bin, cfg, dir, file string
	env                 []string
}

func newSecretEnv(t *testing.T, plain string) *secretEnv {
	t.Helper()
	s := &secretEnv{bin: testenv.ChaosBinary(t), cfg: t.TempDir(), dir: t.TempDir()}
	home := t.TempDir()
	tmp := t.TempDir()
	s.file = filepath.Join(s.dir, "secrets.yaml")
	s.env = []string{"CHAOS_CONFIG_DIR=" + s.cfg, "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH")}
	if out, err := s.run(t, "", "secrets", "init", "-sf", s.file); err != nil {
		t.Fatalf("secrets init: %v\n%s", err, out)
	}
	write := filepath.Join(t.TempDir(), "editor.sh")
	// The "editor" replaces the file with the test's plaintext, read from a file (never argv).
	src := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(src, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(write, []byte("#!/bin/sh\ncat "+src+" > \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := s.runEnv(t, []string{"EDITOR=" + write}, "", "secrets", "edit", "-sf", s.file); err != nil {
		t.Fatalf("secrets edit: %v\n%s", err, out)
	}
	os.Remove(src)
	return s
}

func (s *secretEnv) run(t *testing.T, stdin string, args ...string) (string, error) {
	return s.runEnv(t, nil, stdin, args...)
}

func (s *secretEnv) runEnv(t *testing.T, extra []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Env = append(append([]string{}, s.env...), extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// shadowHash returns the shadow hash field of user in root.
func shadowHash(t *testing.T, root, user string) string {
	t.Helper()
	for _, line := range strings.Split(testenv.ReadFile(t, root, "/etc/shadow"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 1 && f[0] == user {
			return f[1]
		}
	}
	t.Fatalf("no %s in /etc/shadow", user)
	return ""
}

// verifyCrypt checks password against a crypt(3) hash with Python's crypt module (libxcrypt: it
// knows yescrypt), outside chaos. The password goes on stdin, not argv.
func verifyCrypt(t *testing.T, hash, password string) bool {
	t.Helper()
	// Debian 12's python3.11 still has the crypt module.
	py := testenv.RequireTool(t, "python3", "python3")
	cmd := exec.Command(py, "-W", "ignore", "-c",
		"import crypt,sys; h=sys.argv[1]; print(crypt.crypt(sys.stdin.read(), h) == h)", hash)
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 crypt: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)) == "True"
}

// scanCmdlines reads every /proc/*/cmdline until stop is closed. found returns a cmdline that
// contained needle ("" if none); saw counts the cmdlines that contained marker, to prove the scan ran
// while the command did.
func scanCmdlines(needle, marker string, stop <-chan struct{}) (found func() string, saw func() int64, wait func()) {
	var hit atomic.Value
	hit.Store("")
	var seen atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				data, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
				if err != nil {
					continue
				}
				if bytes.Contains(data, []byte(needle)) {
					hit.Store(strings.ReplaceAll(string(data), "\x00", " "))
				}
				if bytes.Contains(data, []byte(marker)) {
					seen.Add(1)
				}
			}
		}
	}()
	return func() string { return hit.Load().(string) }, seen.Load, wg.Wait
}

// grepTree reports the files under dir whose content contains needle. It looks only at regular
// files modified since `since` (a plaintext leak of this test is that recent), stays on dir's file
// system (other tests' roots are mounted under /tmp) and reads at most 8 MiB of each file.
func grepTree(dir, needle string, since time.Time, skip ...string) []string {
	var hits []string
	var rootDev uint64
	if st, err := os.Stat(dir); err == nil {
		rootDev = uint64(st.Sys().(*syscall.Stat_t).Dev)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if slices.Contains(skip, p) {
				return filepath.SkipDir
			}
			if st, err := os.Stat(p); err == nil && uint64(st.Sys().(*syscall.Stat_t).Dev) != rootDev {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().Before(since) {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		data, _ := io.ReadAll(io.LimitReader(f, 8<<20))
		f.Close()
		if bytes.Contains(data, []byte(needle)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// TestApplySecretsUsers is the whole flow on a real Debian root: `chaos apply -s` sets alice's
// password from the encrypted file; the shadow hash verifies with Python's crypt (libxcrypt); no
// process's argv held the password during the apply; no plaintext is left in /tmp, $TMPDIR or the
// working directory; a rerun changes nothing; a changed password is applied; a tampered file is
// refused before anything is applied.
func TestApplySecretsUsers(t *testing.T) {
	testenv.RequireRoot(t)
	// Made at run time: a literal would be in this test's binary, which a concurrent build writes
	// under /tmp, where the leak check looks.
	pw1, pw2 := "Wr0ng-Horse-Battery-Staple-"+rand.Text()[:8], "Second-Secret-Value-"+rand.Text()[:8]
	testStart := time.Now().Add(-time.Second)
	s := newSecretEnv(t, "user_secrets:\n  alice:\n    password: "+pw1+"\n")
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	cfile := filepath.Join(s.dir, "machine.yml")
	if err := os.WriteFile(cfile, []byte("users:\n  - name: alice\n    shell: bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(s.file); bytes.Contains(data, []byte(pw1)) {
		t.Fatal("the secrets file holds the password in clear")
	}

	stop := make(chan struct{})
	found, saw, wait := scanCmdlines(pw1, cfile, stop)
	start := time.Now()
	out, err := s.run(t, "", "apply", "-s", "-sf", s.file, "-c", cfile, "--target", target, "-y")
	close(stop)
	wait()
	if err != nil {
		t.Fatalf("apply -s: %v\n%s", err, out)
	}
	t.Logf("apply -s (create alice with a password): %s", time.Since(start).Round(time.Millisecond))
	if c := found(); c != "" {
		t.Errorf("a process had the password in its argv: %q", c)
	}
	if saw() == 0 {
		t.Error("the /proc scan never saw the apply running: the argv check proved nothing")
	}
	if strings.Contains(out, pw1) {
		t.Errorf("the apply output shows the password:\n%s", out)
	}
	if !strings.Contains(out, "(secret)") && !strings.Contains(out, "set from secrets") {
		t.Logf("apply output:\n%s", out)
	}
	h := shadowHash(t, root, "alice")
	if !strings.HasPrefix(h, "$y$") {
		t.Errorf("alice's hash is not yescrypt: %q", h)
	}
	if !verifyCrypt(t, h, pw1) {
		t.Fatalf("the shadow hash does not verify the password (hash %q)", h)
	}
	if verifyCrypt(t, h, "not-the-password") {
		t.Fatal("the shadow hash verifies any password")
	}
	tmpdir := strings.TrimPrefix(s.env[3], "TMPDIR=")
	for _, d := range []string{"/tmp", tmpdir, s.dir, "/dev/shm"} {
		if hits := grepTree(d, pw1, testStart, root); len(hits) > 0 {
			t.Errorf("plaintext password left in %v", hits)
		}
	}

	// Rerun: zero changes.
	out, err = s.run(t, "", "apply", "-s", "-sf", s.file, "-c", cfile, "--target", target, "-y")
	if err != nil || !strings.Contains(out, "no changes") {
		t.Fatalf("rerun: want no changes: %v\n%s", err, out)
	}

	// A changed password is applied (set reads it from stdin).
	if out, err := s.run(t, pw2+"\n", "secrets", "set", "-sf", s.file, "user_secrets.alice.password"); err != nil {
		t.Fatalf("secrets set: %v\n%s", err, out)
	}
	// The plan, as text and JSON, shows the change but not the value.
	for _, extra := range [][]string{nil, {"--json"}} {
		out, _ = s.run(t, "", append([]string{"apply", "-s", "-sf", s.file, "-c", cfile, "--target", target, "--dry"}, extra...)...)
		if strings.Contains(out, pw2) || !strings.Contains(out, "alice") {
			t.Errorf("dry run %v: shows the password or not the change:\n%s", extra, out)
		}
	}
	out, err = s.run(t, "", "apply", "-s", "-sf", s.file, "-c", cfile, "--target", target, "-y")
	if err != nil || strings.Contains(out, "no changes") {
		t.Fatalf("apply after a password change: %v\n%s", err, out)
	}
	h2 := shadowHash(t, root, "alice")
	if !verifyCrypt(t, h2, pw2) || verifyCrypt(t, h2, pw1) {
		t.Fatalf("the new hash does not verify the new password (only): %q", h2)
	}

	// Tampered: one byte of a value's ciphertext flipped. Refused before any target is touched: a
	// new user in the Ch-obolo is not created.
	data, _ := os.ReadFile(s.file)
	i := bytes.Index(data, []byte("ENC[AES256_GCM,data:")) + len("ENC[AES256_GCM,data:")
	tampered := bytes.Clone(data)
	tampered[i] ^= 1
	if tampered[i] == '/' || tampered[i] == '+' || tampered[i] == '=' {
		tampered[i] = 'Q'
	}
	if err := os.WriteFile(s.file, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfile, []byte("users:\n  - name: alice\n    shell: bash\n  - name: bob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = s.run(t, "", "apply", "-s", "-sf", s.file, "-c", cfile, "--target", target, "-y")
	if err == nil {
		t.Fatalf("apply with a tampered secrets file succeeded:\n%s", out)
	}
	if !strings.Contains(out, "tampered") && !strings.Contains(out, "MAC") {
		t.Errorf("unclear error for a tampered file:\n%s", out)
	}
	if strings.Contains(testenv.ReadFile(t, root, "/etc/passwd"), "\nbob:") {
		t.Error("bob was created although the secrets file was refused")
	}
	if h3 := shadowHash(t, root, "alice"); h3 != h2 {
		t.Error("alice's password changed although the secrets file was refused")
	}
}

// TestKilledEditLeavesNoPlaintext kills `chaos secrets edit` while the editor has the plaintext open:
// with SIGTERM chaos removes it itself; with SIGKILL the next chaos run sweeps it. The encrypted
// file is unchanged either way.
func TestKilledEditLeavesNoPlaintext(t *testing.T) {
	secret := "Plaintext-That-Must-Vanish-" + rand.Text()[:8] // not a literal: see TestApplySecretsUsers
	testStart := time.Now().Add(-time.Second)
	s := newSecretEnv(t, "user_secrets:\n  alice:\n    password: "+secret+"\n")
	before, _ := os.ReadFile(s.file)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			ed := filepath.Join(t.TempDir(), "ed.sh")
			// The editor records where the plaintext is, then waits to be killed.
			os.WriteFile(ed, []byte("#!/bin/sh\necho \"$$ $1\" > "+ready+".tmp; mv "+ready+".tmp "+ready+"\nexec sleep 60\n"), 0o755)
			cmd := exec.Command(s.bin, "secrets", "edit", "-sf", s.file)
			cmd.Dir = s.dir
			cmd.Env = append(append([]string{}, s.env...), "EDITOR="+ed)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var plainPath string
			edPID := 0
			for range 200 {
				if data, err := os.ReadFile(ready); err == nil && len(data) > 0 {
					pid, path, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
					edPID, _ = strconv.Atoi(pid)
					plainPath = path
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if plainPath == "" {
				cmd.Process.Kill()
				t.Fatal("the editor never started")
			}
			if data, _ := os.ReadFile(plainPath); !bytes.Contains(data, []byte(secret)) {
				t.Fatalf("the editor's file %s does not hold the plaintext", plainPath)
			}
			if fi, _ := os.Stat(plainPath); fi.Mode().Perm() != 0o600 {
				t.Errorf("plaintext file mode %v, want 0600", fi.Mode().Perm())
			}
			cmd.Process.Signal(sig)
			cmd.Wait()
			// End the editor stand-in by its own pid (chaos kills it on SIGTERM/SIGHUP; after SIGKILL
			// it is orphaned).
			if edPID > 0 {
				syscall.Kill(edPID, syscall.SIGKILL)
			}
			if sig == syscall.SIGKILL {
				if _, err := os.Stat(plainPath); err != nil {
					t.Fatalf("after SIGKILL the plaintext is already gone? %v", err)
				}
				// The next edit sweeps directories of dead chaos processes.
				if out, err := s.runEnv(t, []string{"EDITOR=true"}, "", "secrets", "edit", "-sf", s.file); err != nil {
					t.Fatalf("secrets edit after SIGKILL: %v\n%s", err, out)
				}
			}
			if _, err := os.Stat(plainPath); err == nil {
				t.Errorf("plaintext %s left after %v", plainPath, sig)
			}
			tmpdir := strings.TrimPrefix(s.env[3], "TMPDIR=")
			for _, d := range []string{"/tmp", tmpdir, s.dir, "/dev/shm"} {
				if hits := grepTree(d, secret, testStart); len(hits) > 0 {
					t.Errorf("plaintext left in %v after %v", hits, sig)
				}
			}
			if after, _ := os.ReadFile(s.file); !bytes.Equal(before, after) {
				t.Error("the encrypted file changed")
			}
		})
	}
}
