package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
)

// secretFlags are the options every command that opens the secrets file shares (the original's
// -sf, -ss and -p; apply ignored its -sf/-ss, this one does not).
type secretFlags struct {
	file     string // -sf: the encrypted secrets file
	sops     string // -ss: the sops configuration (.sops.yaml)
	provider string // -p: a provider to fetch a private key from
}

func (f *secretFlags) register(fs interface {
	StringVar(*string, string, string, string)
	StringVarP(*string, string, string, string, string)
}) {
	fs.StringVar(&f.file, "secrets-file", "", "sops-encrypted secrets file (-sf; default: secrets_file in config.yml, then the Ch-obolo's secrets.file)")
	fs.StringVar(&f.sops, "sops-file", "", "sops configuration (-ss; default: sops_file in config.yml, then the nearest .sops.yaml)")
	fs.StringVarP(&f.provider, "provider", "p", "", "fetch the private key from this provider (secret_providers in config.yml; \"default\" for the default one)")
}

// LegacyFlags rewrites the original Ch-aOS's two-letter short flags (-sf, -ss), which pflag cannot
// declare, to their long forms. Everything after "--" is left alone.
func LegacyFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		for short, long := range map[string]string{"-sf": "--secrets-file", "-ss": "--sops-file"} {
			if a == short {
				a = long
			} else if strings.HasPrefix(a, short+"=") {
				a = long + a[len(short):]
			}
		}
		out = append(out, a)
	}
	return out
}

// secretsSection is the Ch-obolo's `secrets:` key: the file and sops config, relative to the
// Ch-obolo. The original's spellings (sec_file, sec_sops) are accepted.
type secretsSection struct {
	File    string `yaml:"file"`
	SecFile string `yaml:"sec_file"`
	Sops    string `yaml:"sops"`
	SecSops string `yaml:"sec_sops"`
}

func choboloSecrets(c *chobolo.Chobolo) (file, sopsFile string) {
	if c == nil || c.Extra["secrets"] == nil {
		return "", ""
	}
	var s secretsSection
	if err := c.Extra["secrets"].Decode(&s); err != nil {
		return "", ""
	}
	base := filepath.Dir(c.File)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return rel(cmpOr(s.File, s.SecFile)), rel(cmpOr(s.Sops, s.SecSops))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resolve fills the secrets file and sops config from the flags, config.yml and the Ch-obolo, in
// that order.
func (a *app) resolveSecrets(f secretFlags, c *chobolo.Chobolo) (secretFlags, error) {
	cfg, err := LoadConfig()
	if err != nil {
		return f, err
	}
	if c == nil && (a.chobolo != "" || cfg.ChoboloFile != "") && (f.file == "" && cfg.SecretsFile == "") {
		// Only the secrets section is needed: a light load, without validation of the rest.
		c = lightChobolo(cmpOr(a.chobolo, cfg.ChoboloFile))
	}
	cf, cs := choboloSecrets(c)
	f.file = cmpOr(f.file, cmpOr(cfg.SecretsFile, cf))
	f.sops = cmpOr(f.sops, cmpOr(cfg.SopsFile, cs))
	if f.sops == "" {
		if d, err := ConfigDir(); err == nil {
			// The original kept its sops config in the config directory.
			if p := filepath.Join(d, "sops-config.yml"); fileExists(p) {
				if found, _ := secrets.FindSopsConfig(cmpOr(f.file, "."), ""); found == "" {
					f.sops = p
				}
			}
		}
	}
	return f, nil
}

func lightChobolo(path string) *chobolo.Chobolo {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc struct {
		Secrets yaml.Node `yaml:"secrets"`
	}
	if yaml.Unmarshal(data, &doc) != nil || doc.Secrets.Kind == 0 {
		return nil
	}
	return &chobolo.Chobolo{File: path, Extra: map[string]*yaml.Node{"secrets": &doc.Secrets}}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// providerSet reads `secret_providers:` from config.yml.
func providerSet() (providers.Set, error) {
	set := providers.Set{Providers: map[string]providers.Config{}}
	p, err := configPath()
	if err != nil {
		return set, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, fmt.Errorf("config: %w", err)
	}
	var doc struct {
		Providers map[string]yaml.Node `yaml:"secret_providers"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return set, fmt.Errorf("config %s: %w", p, err)
	}
	for name, n := range doc.Providers {
		if name == "default" && n.Kind == yaml.ScalarNode {
			set.Default = n.Value
			continue
		}
		var c providers.Config
		if err := n.Decode(&c); err != nil {
			return set, fmt.Errorf("config %s: secret_providers.%s: %w", p, name, err)
		}
		set.Providers[name] = c
	}
	return set, nil
}

// keyring gathers chaos's age keys, plus the key of provider -p, in memory.
func (a *app) keyring(ctx context.Context, f secretFlags) (*secrets.Keyring, error) {
	dir, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	k, err := secrets.DiscoverKeyring(dir)
	if err != nil {
		return nil, err
	}
	set, setErr := providerSet()
	if setErr == nil {
		// Named in the message when no key fits a file.
		k.SetProviders(slices.Collect(maps.Keys(set.Providers)))
	}
	if f.provider == "" {
		// Without -p a broken config.yml does not stop reading a file sops's keys can open.
		return k, nil
	}
	if setErr != nil {
		return nil, setErr
	}
	p, err := set.Get(f.provider)
	if err != nil {
		return nil, err
	}
	data, err := p.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	defer secrets.Wipe(data)
	if _, err := k.AddAgeKeys("provider "+p.Name(), data); err != nil {
		return nil, err
	}
	return k, nil
}

// secretsFile resolves the secrets file (resolveSecrets) and fails when there is none; c, the
// Ch-obolo, may be nil.
func (a *app) secretsFile(f secretFlags, c *chobolo.Chobolo) (secretFlags, error) {
	f, err := a.resolveSecrets(f, c)
	switch {
	case err != nil:
		return f, err
	case f.file != "":
		return f, nil
	case c != nil:
		return f, errors.New("no secrets file: pass -sf FILE, run `chaos set secrets FILE`, or set secrets.file in the Ch-obolo")
	}
	return f, errors.New("no secrets file: pass -sf FILE or run `chaos set secrets FILE`")
}

// openSecrets resolves, reads and decrypts the secrets file.
func (a *app) openSecrets(ctx context.Context, f secretFlags, c *chobolo.Chobolo) (*secrets.File, secretFlags, error) {
	f, err := a.secretsFile(f, c)
	if err != nil {
		return nil, f, err
	}
	k, err := a.keyring(ctx, f)
	if err != nil {
		return nil, f, err
	}
	sf, err := secrets.Open(f.file, secrets.Options{Keys: k, SopsConfig: f.sops})
	return sf, f, err
}

// loadApplySecrets is `chaos apply -s`: the decrypted values, in memory only.
func (a *app) loadApplySecrets(ctx context.Context, f secretFlags, c *chobolo.Chobolo) (*secrets.Values, error) {
	sf, _, err := a.openSecrets(ctx, f, c)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	return sf.Values(), nil
}

func (a *app) secretsCmd() *cobra.Command {
	var f secretFlags
	cmd := &cobra.Command{
		Use:     "secrets",
		Aliases: []string{"sec"},
		Short:   "Encrypted secrets: keys, sops files, providers",
		Long: `Secrets live in a sops-encrypted YAML or JSON file (age or PGP recipients, optional Shamir key
groups) that chaos reads and writes itself, compatible with the sops CLI. See docs/secrets.md.

The file is -sf FILE, else secrets_file in config.yml, else secrets.file in the Ch-obolo. The sops
configuration is -ss FILE, else sops_file in config.yml, else the nearest .sops.yaml.`,
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(a.secretsInitCmd(&f), a.secretsEditCmd(&f), a.secretsCatCmd(&f), a.secretsSetCmd(&f),
		a.secretsListCmd(&f), a.secretsRotateCmd(&f, true), a.secretsRotateCmd(&f, false), a.secretsShamirCmd(&f),
		a.secretsExportCmd(&f), a.secretsImportCmd(&f))
	return cmd
}

// ---- init

func (a *app) secretsInitCmd(f *secretFlags) *cobra.Command {
	var newKey bool
	var pathRegex string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an age key in ~/.config/chaos/keys/ and a sops configuration for it",
		Long: `Init creates an age key (mode 0600) in the chaos config directory's keys/ unless one is there
already (--new makes another), and writes a sops configuration whose creation rule encrypts for it:
-ss FILE, else sops_file from config.yml, else .sops.yaml next to the secrets file, else
sops-config.yml in the config directory (then recorded as sops_file). An existing configuration gets
the key added to the rule matching the secrets file, comments kept. When a secrets file is named
and missing, it is created with an empty user_secrets map.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.secretsInit(cmd.Context(), *f, newKey, pathRegex)
		},
	}
	cmd.Flags().BoolVar(&newKey, "new", false, "generate a new key even when one exists")
	cmd.Flags().StringVar(&pathRegex, "path-regex", "", "path_regex of the creation rule in a new configuration (default: every file)")
	return cmd
}

func (a *app) secretsInit(ctx context.Context, f secretFlags, newKey bool, pathRegex string) error {
	dir, err := ConfigDir()
	if err != nil {
		return err
	}
	keysDir := filepath.Join(dir, secrets.KeysDir)
	k, err := secrets.DiscoverKeyring(dir)
	if err != nil {
		return err
	}
	recipient := ""
	if rs := k.Recipients(); len(rs) > 0 && !newKey {
		recipient = rs[0]
		fmt.Fprintf(a.stdout, "using the existing age key %s\n", recipient)
	} else {
		if recipient, err = writeNewAgeKey(keysDir); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created an age key in %s\npublic key: %s\n", keysDir, recipient)
	}

	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	f.file = cmpOr(f.file, cfg.SecretsFile)
	target := cmpOr(f.sops, cfg.SopsFile)
	record := false
	if target == "" {
		if f.file != "" {
			target = filepath.Join(filepath.Dir(f.file), ".sops.yaml")
		} else {
			target, record = filepath.Join(dir, "sops-config.yml"), true
		}
	}
	if fileExists(target) {
		sc, err := secrets.LoadSopsConfig(target)
		if err != nil {
			return err
		}
		rule := 0
		if f.file != "" {
			if rule, err = sc.RuleFor(f.file); err != nil {
				return err
			}
		}
		if rule < 0 || sc.Rules() == 0 {
			return fmt.Errorf("%s: no creation rule matches %s; add one or pass -ss", target, f.file)
		}
		if slices.Contains(sc.Keys("age", rule), recipient) {
			fmt.Fprintf(a.stdout, "%s already encrypts for this key\n", target)
		} else {
			if err := sc.AddKey(rule, 0, "age", recipient); err != nil {
				return err
			}
			if err := sc.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added the key to creation rule %d of %s\n", rule, target)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		data, err := secrets.NewSopsConfig(target, pathRegex, []string{recipient}).Bytes()
		if err != nil {
			return err
		}
		if err := secrets.WriteFileAtomic(target, data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote %s\n", target)
	}
	if record && cfg.SopsFile == "" {
		cfg.SopsFile = target
		if err := cfg.Save(); err != nil {
			return err
		}
	}
	if f.file != "" && !fileExists(f.file) {
		sf, out, err := secrets.Create(f.file, []byte("user_secrets: {}\n"), secrets.Options{Keys: k, SopsConfig: target})
		if err != nil {
			return err
		}
		sf.Close()
		if err := secrets.WriteFileAtomic(f.file, out, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created %s (edit it with `chaos secrets edit`)\n", f.file)
	}
	_ = ctx
	return nil
}

// writeNewAgeKey writes a new age key file in dir (0700) with mode 0600 and returns its recipient.
func writeNewAgeKey(dir string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	name := filepath.Join(dir, "age-"+time.Now().UTC().Format("20060102-150405")+".txt")
	text := []byte(fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id))
	defer secrets.Wipe(text)
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if _, err := fh.Write(text); err != nil {
		fh.Close()
		os.Remove(name)
		return "", fmt.Errorf("init: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return "", fmt.Errorf("init: %w", err)
	}
	return id.Recipient().String(), fh.Close()
}

// ---- edit

// editTemplate seeds a secrets file that does not exist yet.
const editTemplate = `# chaos secrets: values are encrypted when you save and quit.
# user_secrets.NAME.password sets a user's password with ` + "`chaos apply -s`" + `.
user_secrets: {}
`

// editPrefix names the plaintext temp directories, with chaos's pid, so that a later run can remove
// one left by a process that was killed with SIGKILL (the only case the signal handler misses).
const editPrefix = "chaos-edit-"

func (a *app) secretsEditCmd(f *secretFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "edit",
		Short: "Decrypt into a private temp file, open $EDITOR, re-encrypt on save",
		Long: `Edit decrypts the secrets file into a 0600 file in a 0700 directory on a RAM disk (/dev/shm when it
is a tmpfs; otherwise $TMPDIR, with a warning), runs $EDITOR on it and re-encrypts the result with
the same data key and recipients, as sops edit does. The plaintext is overwritten and removed in
every case: success, editor failure, parse error, Ctrl-C, SIGTERM or SIGHUP. If the editor fails or
the result does not parse, the encrypted file is left as it was. A missing file is created from a
template with the creation rule of the sops configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.secretsEdit(cmd.Context(), *f) },
	}
}

func (a *app) secretsEdit(ctx context.Context, f secretFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f, err := a.secretsFile(f, nil)
	if err != nil {
		return err
	}
	k, err := a.keyring(ctx, f)
	if err != nil {
		return err
	}
	opts := secrets.Options{Keys: k, SopsConfig: f.sops}
	var sf *secrets.File
	var plain []byte
	if fileExists(f.file) {
		if sf, err = secrets.Open(f.file, opts); err != nil {
			return err
		}
		defer sf.Close()
		if plain, err = sf.Plaintext(); err != nil {
			return err
		}
	} else {
		if _, err := secrets.FormatFor(f.file); err != nil {
			return err
		}
		plain = []byte(editTemplate)
		if strings.HasSuffix(f.file, ".json") {
			plain = []byte("{\n  \"user_secrets\": {}\n}\n")
		}
	}
	defer secrets.Wipe(plain)

	sweepEditDirs()
	dir, onTmpfs, err := privateDir()
	if err != nil {
		return err
	}
	if !onTmpfs {
		fmt.Fprintf(a.stderr, "chaos: warning: no tmpfs at /dev/shm; the plaintext goes to %s (on disk) while you edit\n", dir)
	}
	tmp := filepath.Join(dir, filepath.Base(f.file))
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
				fmt.Fprintf(a.stderr, "chaos: %v: plaintext removed, %s unchanged\n", s, f.file)
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
			return fmt.Errorf("editor %s failed (%v); %s unchanged", editorName(), err, f.file)
		}
		edited, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("edit: %w", err)
		}
		if sha256.Sum256(edited) == before {
			secrets.Wipe(edited)
			fmt.Fprintf(a.stdout, "no changes; %s unchanged\n", f.file)
			return nil
		}
		var out []byte
		if sf != nil {
			if err = sf.Replace(edited); err == nil {
				out, err = sf.Encrypted()
			}
		} else {
			var nf *secrets.File
			if nf, out, err = secrets.Create(f.file, edited, opts); err == nil {
				nf.Close()
			}
		}
		secrets.Wipe(edited)
		if err == nil {
			if err := secrets.WriteFileAtomic(f.file, out, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s encrypted and saved\n", f.file)
			return nil
		}
		if !a.interactive() {
			return fmt.Errorf("the edited file %v; %s unchanged", err, f.file)
		}
		fmt.Fprintf(a.stdout, "the edited file %v.\nEdit again? [Y/n] ", err)
		line, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(line)); ans == "n" || ans == "no" {
			return fmt.Errorf("%s unchanged", f.file)
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
	return cmpOr(os.Getenv("EDITOR"), cmpOr(os.Getenv("VISUAL"), "vi"))
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

// ---- cat

func (a *app) secretsCatCmd(f *secretFlags) *cobra.Command {
	var valueOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "cat [KEY.PATH...]",
		Short: "Print the decrypted file, or selected keys",
		Long: `Cat prints the decrypted secrets file as sops decrypt would. With KEY.PATHs (dotted, list elements
by index: user_secrets.alice.password, tokens.0) it prints each as "KEY.PATH: value"; --value prints
only the values, one per line (subtrees as YAML).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sf, _, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			if len(args) == 0 {
				plain, err := sf.Plaintext()
				if err != nil {
					return err
				}
				defer secrets.Wipe(plain)
				_, err = a.stdout.Write(plain)
				return err
			}
			v := sf.Values()
			var missing []string
			for _, p := range args {
				x, ok := v.Lookup(p)
				if !ok {
					missing = append(missing, p)
					continue
				}
				if err := a.printSecret(p, x, valueOnly, asJSON); err != nil {
					return err
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("not in %s: %s", sf.Path, strings.Join(missing, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&valueOnly, "value", false, "print only the values")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print subtrees as JSON")
	return cmd
}

func (a *app) printSecret(path string, x any, valueOnly, asJSON bool) error {
	if s, ok := secrets.NewValues(map[string]any{"v": x}).Get("v"); ok {
		if valueOnly {
			fmt.Fprintln(a.stdout, s)
		} else {
			fmt.Fprintf(a.stdout, "%s: %s\n", path, s)
		}
		return nil
	}
	var data []byte
	var err error
	if asJSON {
		data, err = json.MarshalIndent(x, "", "  ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(x)
	}
	if err != nil {
		return err
	}
	defer secrets.Wipe(data)
	if !valueOnly {
		fmt.Fprintf(a.stdout, "%s:\n", path)
	}
	_, err = a.stdout.Write(data)
	return err
}

// ---- set

func (a *app) secretsSetCmd(f *secretFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set KEY.PATH",
		Short: "Set one value, read from stdin (never from the command line)",
		Long: `Set stores the value read from stdin at KEY.PATH (maps are created on the way) and re-encrypts the
file. On a terminal the value is asked for twice without echo; from a pipe, one trailing newline is
removed. The value is never taken from argv, where ps and the shell history would show it.`,
		Example: `  chaos secrets set user_secrets.alice.password
  pass show alice | chaos secrets set user_secrets.alice.password`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return errors.New("set takes only KEY.PATH: the value is read from stdin, never from the command line (ps and shell history would show it)")
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := a.readSecretValue(args[0])
			if err != nil {
				return err
			}
			defer secrets.Wipe(value)
			sf, rf, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			if err := sf.Set(args[0], string(value)); err != nil {
				return err
			}
			out, err := sf.Encrypted()
			if err != nil {
				return err
			}
			if err := secrets.WriteFileAtomic(rf.file, out, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s set in %s\n", args[0], rf.file)
			return nil
		},
	}
}

func (a *app) readSecretValue(path string) ([]byte, error) {
	if fh, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
		fmt.Fprintf(a.stdout, "value for %s: ", path)
		v1, err := term.ReadPassword(int(fh.Fd()))
		fmt.Fprintln(a.stdout)
		if err != nil {
			return nil, fmt.Errorf("set: %w", err)
		}
		fmt.Fprint(a.stdout, "again: ")
		v2, err := term.ReadPassword(int(fh.Fd()))
		fmt.Fprintln(a.stdout)
		defer secrets.Wipe(v2)
		if err != nil || !bytes.Equal(v1, v2) {
			secrets.Wipe(v1)
			return nil, errors.New("set: the two values differ; nothing changed")
		}
		return v1, nil
	}
	v, err := io.ReadAll(a.stdin)
	if err != nil {
		return nil, fmt.Errorf("set: reading stdin: %w", err)
	}
	v = bytes.TrimSuffix(v, []byte("\n"))
	v = bytes.TrimSuffix(v, []byte("\r"))
	if len(v) == 0 {
		return nil, errors.New("set: empty value on stdin; nothing changed")
	}
	return v, nil
}

// ---- list

func (a *app) secretsListCmd(f *secretFlags) *cobra.Command {
	var paths bool
	cmd := &cobra.Command{
		Use:   "list [age|pgp]",
		Short: "List the file's recipients by key group (or, with --paths, its key paths)",
		Long: `List shows the master keys of the secrets file by key group, the Shamir threshold, and whether
chaos holds the private key of each age recipient. --paths lists the dotted key paths of the secrets
instead; sops keeps keys in clear, so this needs no private key.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"age", "pgp"},
		RunE: func(cmd *cobra.Command, args []string) error {
			rf, err := a.secretsFile(*f, nil)
			if err != nil {
				return err
			}
			kind := ""
			if len(args) == 1 {
				kind = args[0]
				if kind == "gpg" {
					kind = "pgp"
				}
				if !slices.Contains(secrets.KeyKinds, kind) {
					return fmt.Errorf("list: unknown key type %q (age, pgp)", args[0])
				}
			}
			info, err := secrets.Inspect(rf.file, rf.sops)
			if err != nil {
				return err
			}
			if paths {
				for _, p := range info.Paths {
					fmt.Fprintln(a.stdout, p)
				}
				return nil
			}
			k, err := a.keyring(cmd.Context(), rf)
			if err != nil {
				return err
			}
			held := k.Recipients()
			fmt.Fprintf(a.stdout, "%s\n", rf.file)
			if len(info.Groups) > 1 {
				thr := info.Threshold
				if thr == 0 {
					thr = len(info.Groups)
				}
				fmt.Fprintf(a.stdout, "shamir: %d of %d key groups\n", thr, len(info.Groups))
			}
			for i, g := range info.Groups {
				fmt.Fprintf(a.stdout, "group %d:\n", i)
				for _, mk := range g {
					if kind != "" && mk.Kind != kind {
						continue
					}
					mark := ""
					if mk.Kind == "age" && slices.Contains(held, mk.ID) {
						mark = "  (private key held)"
					}
					fmt.Fprintf(a.stdout, "  %-4s %s%s\n", mk.Kind, mk.ID, mark)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&paths, "paths", false, "list the secrets' key paths instead of the recipients")
	return cmd
}

// ---- rotate-add, rotate-rm

func (a *app) secretsRotateCmd(f *secretFlags, add bool) *cobra.Command {
	var group, rule int
	var ko keyChangeOpts
	use, short := "rotate-rm KEY...", "Remove recipients and re-encrypt with a new data key"
	if add {
		use, short = "rotate-add age|pgp KEY...", "Add recipients and re-encrypt with a new data key"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

The keys (age recipients age1..., PGP fingerprints) are changed in the sops configuration's creation
rule that matches the secrets file (comments kept) and in the file itself, and the file gets a new
data key wrapped for the new set of recipients: a removed recipient cannot read later changes. The
file must be readable with a key chaos can use now.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if add {
				if len(args) < 2 {
					return errors.New("rotate-add: give the key type (age or pgp) and at least one key")
				}
				return a.secretsRotate(cmd.Context(), *f, args[0], args[1:], group, rule, true, ko)
			}
			return a.secretsRotate(cmd.Context(), *f, "", args, group, rule, false, ko)
		},
	}
	if add {
		cmd.Flags().IntVarP(&group, "group", "g", 0, "key group to add to (the number of groups starts a new group)")
		cmd.Flags().IntVar(&ko.shamir, "shamir", -1, "also set the Shamir threshold (e.g. 1 when adding a second group that should decrypt on its own)")
	}
	cmd.Flags().IntVar(&rule, "rule", -1, "creation rule index (default: the rule matching the secrets file)")
	cmd.Flags().BoolVar(&ko.force, "force", false, "write the file even if the keys available here can no longer decrypt it")
	return cmd
}

var pgpFingerprint = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)

func masterKey(kind, key string) (keys.MasterKey, error) {
	switch kind {
	case "age":
		k, err := sopsage.MasterKeyFromRecipient(key)
		if err != nil {
			return nil, fmt.Errorf("%q is not an age recipient: %w", key, err)
		}
		return k, nil
	case "pgp", "gpg":
		if !pgpFingerprint.MatchString(strings.ReplaceAll(key, " ", "")) {
			return nil, fmt.Errorf("%q is not a 40-hex-digit PGP fingerprint", key)
		}
		return pgp.NewMasterKeyFromFingerprint(strings.ToUpper(strings.ReplaceAll(key, " ", ""))), nil
	}
	return nil, fmt.Errorf("unknown key type %q (age or pgp)", kind)
}

// keyChangeOpts are the options shared by the commands that re-key the file.
type keyChangeOpts struct {
	shamir int  // -1: leave the threshold alone
	force  bool // write even when the local keys could not decrypt the result
}

func (a *app) secretsRotate(ctx context.Context, f secretFlags, kind string, keyArgs []string, group, ruleIdx int, add bool, ko keyChangeOpts) error {
	if kind == "gpg" {
		kind = "pgp"
	}
	var newKeys []keys.MasterKey
	if add {
		for _, k := range keyArgs {
			mk, err := masterKey(kind, k)
			if err != nil {
				return fmt.Errorf("rotate-add: %w", err)
			}
			newKeys = append(newKeys, mk)
		}
	}
	sf, rf, err := a.openSecrets(ctx, f, nil)
	if err != nil {
		return err
	}
	defer sf.Close()
	return a.changeKeys(ctx, sf, rf, ruleIdx, ko, func(sc *secrets.SopsConfig, rule int) error {
		if add {
			for _, k := range keyArgs {
				if err := sc.AddKey(rule, group, kind, k); err != nil {
					return err
				}
			}
		}
		if ko.shamir >= 0 {
			if err := sc.SetShamir(rule, ko.shamir); err != nil {
				return err
			}
		}
		for _, k := range keyArgs {
			if !add && sc.RemoveKey(rule, k) == 0 {
				return fmt.Errorf("rotate-rm: %s is not a key of creation rule %d of %s", k, rule, sc.Path)
			}
		}
		return nil
	}, func(groups []sops.KeyGroup) ([]sops.KeyGroup, error) {
		if add {
			switch {
			case group < 0 || group > len(groups):
				return nil, fmt.Errorf("rotate-add: the file has %d key group(s); --group 0..%d", len(groups), len(groups))
			case group == len(groups):
				groups = append(groups, nil)
			}
			for _, mk := range newKeys {
				if !slices.ContainsFunc(groups[group], func(k keys.MasterKey) bool { return k.ToString() == mk.ToString() }) {
					groups[group] = append(groups[group], mk)
				}
			}
			return groups, nil
		}
		removed := 0
		for i := range groups {
			groups[i] = slices.DeleteFunc(groups[i], func(k keys.MasterKey) bool {
				if slices.Contains(keyArgs, k.ToString()) {
					removed++
					return true
				}
				return false
			})
		}
		if removed == 0 {
			return nil, fmt.Errorf("rotate-rm: none of the keys is a recipient of %s", sf.Path)
		}
		return slices.DeleteFunc(groups, func(g sops.KeyGroup) bool { return len(g) == 0 }), nil
	})
}

// changeKeys applies a key change to the sops configuration (when the file has a matching creation
// rule) and to the file, then re-keys and writes both. The configuration is written only after the
// file was re-encrypted successfully, and the file last of all.
func (a *app) changeKeys(ctx context.Context, sf *secrets.File, rf secretFlags, ruleIdx int, ko keyChangeOpts,
	editConfig func(*secrets.SopsConfig, int) error,
	editFile func([]sops.KeyGroup) ([]sops.KeyGroup, error)) error {
	cfgPath, err := secrets.FindSopsConfig(rf.file, rf.sops)
	if err != nil {
		return err
	}
	var sc *secrets.SopsConfig
	rule := ruleIdx
	if cfgPath != "" {
		if sc, err = secrets.LoadSopsConfig(cfgPath); err != nil {
			return err
		}
		if rule < 0 {
			if rule, err = sc.RuleFor(rf.file); err != nil {
				return err
			}
		}
		if rule < 0 {
			sc = nil // no rule for this file: change the file only
		} else if err := editConfig(sc, rule); err != nil {
			return err
		}
	}
	groups := slices.Clone(sf.KeyGroups())
	for i := range groups {
		groups[i] = slices.Clone(groups[i])
	}
	groups, err = editFile(groups)
	if err != nil {
		return err
	}
	sf.SetKeyGroups(groups)
	if ko.shamir >= 0 {
		if ko.shamir > len(groups) || ko.shamir == 1 {
			return fmt.Errorf("shamir: threshold %d: it must be 0 (all groups) or 2..%d", ko.shamir, len(groups))
		}
		sf.SetShamirThreshold(ko.shamir)
	}
	if err := sf.Rekey(); err != nil {
		return fmt.Errorf("%s: %w", sf.Path, err)
	}
	out, err := sf.Encrypted()
	if err != nil {
		return err
	}
	// A change that locks the user out is refused: decrypt the result with the keys available here.
	if !ko.force {
		k, err := a.keyring(ctx, rf)
		if err != nil {
			return err
		}
		check, err := secrets.Decrypt(rf.file, out, secrets.Options{Keys: k, SopsConfig: rf.sops})
		if err != nil {
			return fmt.Errorf("refused: after this change the keys available here could not decrypt %s (%v); "+
				"set a threshold they meet (--shamir N, chaos secrets shamir N) or pass --force if other key holders will", rf.file, err)
		}
		check.Close()
	}
	if sc != nil {
		if err := sc.Save(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "updated creation rule %d of %s\n", rule, sc.Path)
	}
	if err := secrets.WriteFileAtomic(rf.file, out, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "re-encrypted %s with a new data key for %d key group(s)\n", rf.file, len(groups))
	return nil
}

// ---- shamir

func (a *app) secretsShamirCmd(f *secretFlags) *cobra.Command {
	var rule int
	var force bool
	cmd := &cobra.Command{
		Use:   "shamir N",
		Short: "Require N of the key groups to decrypt (0: all of them)",
		Long: `Shamir sets the number of key groups whose keys are needed to recover the data key, in the sops
configuration's rule and in the file, and re-encrypts with a new data key split into one share per
group. N must be between 2 (sops's minimum for a split) and the number of groups (the original
accepted thresholds no set of keys could meet); 0 removes the threshold, so every group is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return fmt.Errorf("shamir: %q is not a number of key groups", args[0])
			}
			sf, rf, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			groups := len(sf.KeyGroups())
			if n > groups {
				return fmt.Errorf("shamir: threshold %d exceeds the %d key group(s) of %s: nobody could decrypt it (add groups with rotate-add --group %d)", n, groups, rf.file, groups)
			}
			if n > 0 && groups < 2 {
				return fmt.Errorf("shamir: %s has one key group; a threshold needs at least two (rotate-add --group 1)", rf.file)
			}
			if n == 1 {
				// sops's Shamir split needs a threshold of 2 or more; "any one key" is one key group.
				return errors.New("shamir: the threshold must be at least 2 (for \"any one of these keys\", put the keys in one key group)")
			}
			return a.changeKeys(cmd.Context(), sf, rf, rule, keyChangeOpts{shamir: n, force: force}, func(sc *secrets.SopsConfig, r int) error {
				return sc.SetShamir(r, n)
			}, func(g []sops.KeyGroup) ([]sops.KeyGroup, error) { return g, nil })
		},
	}
	cmd.Flags().IntVar(&rule, "rule", -1, "creation rule index (default: the rule matching the secrets file)")
	cmd.Flags().BoolVar(&force, "force", false, "write the file even if the keys available here can no longer decrypt it")
	return cmd
}

// ---- export, import

func (a *app) secretsExportCmd(f *secretFlags) *cobra.Command {
	var keyFile string
	var noImport bool
	cmd := &cobra.Command{
		Use:   "export PROVIDER",
		Short: "Store the age private key in a provider (Bitwarden, 1Password, a command, a file)",
		Long: `Export reads an age key file (--key-file, default: every key in the chaos keys directory) and stores
it with the provider's store operation; the key goes to the provider's CLI on stdin, never in argv.
--no-import prefixes "# NO-IMPORT": chaos then refuses to import that key to disk, so it is only
ever used ephemerally with -p.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := providerSet()
			if err != nil {
				return err
			}
			p, err := set.Get(args[0])
			if err != nil {
				return err
			}
			data, err := exportKeys(keyFile)
			if err != nil {
				return err
			}
			defer secrets.Wipe(data)
			if noImport {
				marked := providers.MarkNoImport(data)
				defer secrets.Wipe(marked)
				data = marked
			}
			if err := p.Store(cmd.Context(), data); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "stored the key in provider %s\n", p.Name())
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key-file", "k", "", "age key file to export (default: the chaos keys directory)")
	cmd.Flags().BoolVarP(&noImport, "no-import", "N", false, "mark the stored key so that `chaos secrets import` refuses it")
	return cmd
}

func exportKeys(keyFile string) ([]byte, error) {
	var files []string
	if keyFile != "" {
		files = []string{keyFile}
	} else {
		dir, err := ConfigDir()
		if err != nil {
			return nil, err
		}
		entries, err := os.ReadDir(filepath.Join(dir, secrets.KeysDir))
		if err != nil {
			return nil, fmt.Errorf("export: %w (run `chaos secrets init` or pass --key-file)", err)
		}
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(dir, secrets.KeysDir, e.Name()))
			}
		}
	}
	var parts [][]byte
	defer func() {
		for _, d := range parts {
			secrets.Wipe(d)
		}
	}()
	size := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		parts = append(parts, data)
		size += len(data) + 1
		// Validate before it leaves: an unparsable key stored remotely is found out too late.
		if _, err := secrets.NewKeyring().AddAgeKeys(p, data); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	out := make([]byte, 0, size)
	for _, d := range parts {
		out = append(out, d...)
		if len(d) > 0 && d[len(d)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	if len(out) == 0 {
		return nil, errors.New("export: no key files found")
	}
	return out, nil
}

func (a *app) secretsImportCmd(f *secretFlags) *cobra.Command {
	var to string
	var force bool
	cmd := &cobra.Command{
		Use:   "import PROVIDER",
		Short: "Fetch an age private key from a provider into the chaos keys directory",
		Long: `Import fetches the key from the provider and writes it (mode 0600) into the chaos keys directory,
or --to FILE. A key exported with --no-import ("# NO-IMPORT") is refused: use it with -p instead.
An existing file is not overwritten without --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := providerSet()
			if err != nil {
				return err
			}
			p, err := set.Get(args[0])
			if err != nil {
				return err
			}
			data, err := p.Fetch(cmd.Context())
			if err != nil {
				return err
			}
			defer secrets.Wipe(data)
			if providers.HasNoImport(data) {
				return fmt.Errorf("import: the key in provider %s is marked %s; use it ephemerally with -p %s", p.Name(), providers.NoImportMarker, args[0])
			}
			n, err := secrets.NewKeyring().AddAgeKeys("provider "+p.Name(), data)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if to == "" {
				dir, err := ConfigDir()
				if err != nil {
					return err
				}
				to = filepath.Join(dir, secrets.KeysDir, "imported-"+p.Name()+".txt")
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			fh, err := os.OpenFile(to, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("import: %s exists; pass --force to overwrite it", to)
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if err := fh.Chmod(0o600); err == nil {
				_, err = fh.Write(data)
			}
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			fmt.Fprintf(a.stdout, "imported %d age key(s) into %s\n", n, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "write the key here instead of the chaos keys directory")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing key file")
	return cmd
}
