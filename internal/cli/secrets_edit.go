package cli

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// editTemplate seeds a secrets file that does not exist yet.
const editTemplate = `# chaos secrets: values are encrypted when you save and quit.
# user_secrets.NAME.password sets a user's password with ` + "`chaos apply -s`" + `.
user_secrets: {}
`

// editPrefix names the plaintext temp directories, with chaos's pid, so that a later run can remove
// one left by a process that was killed with SIGKILL (the only case the signal handler misses).
const editPrefix = "chaos-edit-"

func (a *app) secretsEditCmd(f *secretFlags) *cobra.Command {
	var sopsConfig bool
	cmd := &cobra.Command{
		Use:   "edit [-s]",
		Short: "Decrypt into a private temp file, open $EDITOR, re-encrypt on save",
		Long: `Edit decrypts the secrets file into a 0600 file in a 0700 directory on a RAM disk (/dev/shm when it
is a tmpfs; otherwise $TMPDIR, with a warning), runs $EDITOR on it and re-encrypts the result with
the same data key and recipients, as sops edit does. The plaintext is overwritten and removed in
every case: success, editor failure, parse error, Ctrl-C, SIGTERM or SIGHUP. If the editor fails or
the result does not parse, the encrypted file is left as it was. A missing file is created from a
template with the creation rule of the sops configuration.

With -s (--sops), edit the sops configuration the secrets file uses instead (the original's
secrets edit -s): the result is checked (YAML, path_regex, every age/PGP/Vault key, the Shamir
threshold) before it replaces the file, and can be edited again when it does not pass. Files
already encrypted keep their keys until rotate-add/rotate-rm or ramble update re-key them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sopsConfig {
				src, err := a.secretsFile(*f, nil)
				if err != nil {
					return err
				}
				return a.editSopsConfig(src.File, src.Sops)
			}
			return a.secretsEdit(cmd.Context(), *f)
		},
	}
	cmd.Flags().BoolVarP(&sopsConfig, "sops", "s", false, "edit the sops configuration (creation rules) instead of the secrets")
	return cmd
}

// editSopsConfig runs $EDITOR on the sops configuration that file uses (explicit, else the nearest
// one), and replaces it atomically with the result once secrets.ParseSopsConfig accepts it.
func (a *app) editSopsConfig(file, explicit string) error {
	path, err := secrets.FindSopsConfig(file, explicit)
	if err != nil {
		return err
	}
	if path == "" {
		return fmt.Errorf("no sops configuration found for %s (chaos secrets init writes one)", file)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	return a.editPrivately(path, data, func(edited []byte) error {
		if _, err := secrets.ParseSopsConfig(path, edited); err != nil {
			return err
		}
		if err := secrets.WriteFileAtomic(path, edited, fi.Mode().Perm()); err != nil {
			return errWrite{err}
		}
		fmt.Fprintf(a.stdout, "%s saved\n", path)
		return nil
	})
}

func (a *app) secretsEdit(ctx context.Context, f secretFlags) error {
	src, err := a.secretsFile(f, nil)
	if err != nil {
		return err
	}
	k, err := a.keyring(ctx, f)
	if err != nil {
		return err
	}
	opts := secrets.Options{Keys: k, SopsConfig: src.Sops}
	var sf *secrets.File
	var plain []byte
	if fileExists(src.File) {
		if sf, err = secrets.Open(src.File, opts); err != nil {
			return err
		}
		defer sf.Close()
		if plain, err = sf.Plaintext(); err != nil {
			return err
		}
	} else {
		if _, err := secrets.FormatFor(src.File); err != nil {
			return err
		}
		plain = []byte(editTemplate)
		if strings.HasSuffix(src.File, ".json") {
			plain = []byte("{\n  \"user_secrets\": {}\n}\n")
		}
	}
	defer secrets.Wipe(plain)
	return a.editPrivately(src.File, plain, func(edited []byte) error {
		var out []byte
		var err error
		if sf != nil {
			if err = sf.Replace(edited); err == nil {
				out, err = sf.Encrypted()
			}
		} else {
			var nf *secrets.File
			if nf, out, err = secrets.Create(src.File, edited, opts); err == nil {
				nf.Close()
			}
		}
		if err != nil {
			return err
		}
		if err := secrets.WriteFileAtomic(src.File, out, 0o600); err != nil {
			return errWrite{err}
		}
		fmt.Fprintf(a.stdout, "%s encrypted and saved\n", src.File)
		return nil
	})
}

// errWrite is a save that failed writing, not parsing: editing again would not help.
type errWrite struct{ error }

func (e errWrite) Unwrap() error { return e.error }

// editPrivately lets the user edit plaintext that belongs to file (named in messages) without it
// ever reaching a disk: it goes to a 0600 file in a private directory on a tmpfs (privateDir), $EDITOR
// runs on it, and save gets the result, unless it is unchanged. The plaintext file is zeroed and
// removed in every case, on SIGTERM and SIGHUP too. When save refuses the result (it does not
// parse), a terminal user may edit again; file is left as it was. chaos secrets edit and chaos
// ramble create/edit use it.
func (a *app) editPrivately(file string, plain []byte, save func(edited []byte) error) error {
	sweepEditDirs()
	dir, onTmpfs, err := privateDir()
	if err != nil {
		return err
	}
	if !onTmpfs {
		fmt.Fprintf(a.stderr, "chaos: warning: no tmpfs at /dev/shm; the plaintext goes to %s (on disk) while you edit\n", dir)
	}
	tmp := filepath.Join(dir, filepath.Base(file))
	cleanup := sync.OnceFunc(func() { shred(tmp); os.RemoveAll(dir) })
	defer cleanup()

	// Interrupts must not leave plaintext behind. SIGINT is also delivered to the editor, which
	// handles it itself (vi ignores it), so chaos only cleans up when the editor is gone or on a
	// terminating signal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var editor *exec.Cmd
	var edMu sync.Mutex
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == os.Interrupt {
					continue
				}
				edMu.Lock()
				if editor != nil && editor.Process != nil {
					editor.Process.Kill()
				}
				edMu.Unlock()
				cleanup()
				fmt.Fprintf(a.stderr, "chaos: %v: plaintext removed, %s unchanged\n", s, file)
				os.Exit(128 + int(s.(syscall.Signal)))
			}
		}
	}()

	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	before := sha256.Sum256(plain)
	for {
		edMu.Lock()
		editor = editorCmd(tmp)
		editor.Stdin, editor.Stdout, editor.Stderr = a.stdinFile(), os.Stdout, os.Stderr
		err := editor.Start()
		edMu.Unlock()
		if err == nil {
			err = editor.Wait()
		}
		if err != nil {
			return fmt.Errorf("editor %s failed (%v); %s unchanged", editorName(), err, file)
		}
		edited, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("edit: %w", err)
		}
		if sha256.Sum256(edited) == before {
			secrets.Wipe(edited)
			fmt.Fprintf(a.stdout, "no changes; %s unchanged\n", file)
			return nil
		}
		err = save(edited)
		secrets.Wipe(edited)
		var werr errWrite
		if err == nil || errors.As(err, &werr) {
			return err
		}
		if !a.interactive() {
			return fmt.Errorf("the edited file %v; %s unchanged", err, file)
		}
		fmt.Fprintf(a.stdout, "the edited file %v.\nEdit again? [Y/n] ", err)
		line, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(line)); ans == "n" || ans == "no" {
			return fmt.Errorf("%s unchanged", file)
		}
	}
}

func (a *app) stdinFile() io.Reader {
	if f, ok := a.stdin.(*os.File); ok {
		return f
	}
	return os.Stdin
}

func editorName() string {
	return cmp.Or(os.Getenv("EDITOR"), os.Getenv("VISUAL"), "vi")
}

// editorCmd runs $EDITOR through sh so that "code --wait" works; the path is passed as "$1", never
// spliced into the shell text.
func editorCmd(path string) *exec.Cmd {
	return exec.Command("/bin/sh", "-c", editorName()+` "$1"`, "chaos-editor", path)
}

// privateDir makes a 0700 directory for plaintext: on /dev/shm when it is a tmpfs (RAM, never
// written to disk), else in $TMPDIR.
func privateDir() (string, bool, error) {
	pattern := fmt.Sprintf("%s%d-", editPrefix, os.Getpid())
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic {
		if d, err := os.MkdirTemp("/dev/shm", pattern); err == nil {
			return d, true, nil
		}
	}
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", false, fmt.Errorf("edit: %w", err)
	}
	return d, false, nil
}

// shred overwrites a file with zeros before it is removed, so that the plaintext does not linger in
// freed tmpfs pages or disk blocks (best effort: editors may have written swap or backup files
// elsewhere, which is why the directory is private and removed whole).
func shred(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	fh.Write(make([]byte, fi.Size()))
	fh.Sync()
	fh.Close()
}

// sweepEditDirs removes plaintext directories left by a chaos that was killed (SIGKILL) mid-edit.
var editDirPID = regexp.MustCompile(`^` + editPrefix + `(\d+)-`)

func sweepEditDirs() {
	for _, base := range []string{"/dev/shm", os.TempDir()} {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			m := editDirPID.FindStringSubmatch(e.Name())
			if m == nil || !e.IsDir() {
				continue
			}
			pid, _ := strconv.Atoi(m[1])
			if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
				continue
			}
			d := filepath.Join(base, e.Name())
			files, _ := os.ReadDir(d)
			for _, fe := range files {
				shred(filepath.Join(d, fe.Name()))
			}
			os.RemoveAll(d)
		}
	}
}
