package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/keyservice"
)

// File is a decrypted sops file held in memory: its tree, its metadata (key groups, regexes, Shamir
// threshold) and its data key. Close wipes the data key.
type File struct {
	// Path is the file's absolute path.
	Path   string
	Format Format

	tree    sops.Tree
	store   sops.Store
	dataKey []byte
	keys    *Keyring
	remote  *sopsKeyService // the sops CLI for cloud KMS/Vault keys (sopscli.go); nil until needed
}

// Options say where to find keys and the sops configuration.
type Options struct {
	// Keys decrypts data keys; nil means sops's own discovery only.
	Keys *Keyring
	// SopsConfig is the .sops.yaml to use; empty means look it up (see FindSopsConfig).
	SopsConfig string
	// EncryptedRegex, for Create, overrides the creation rule's choice of the values to encrypt,
	// as `sops encrypt --encrypted-regex` does (rambles keep titles and tags in clear).
	EncryptedRegex string
}

func (o Options) keyring() *Keyring {
	if o.Keys == nil {
		return NewKeyring()
	}
	return o.Keys
}

// Open reads and decrypts a sops file, verifying its MAC: a file whose values or MAC were tampered
// with is refused.
func Open(path string, o Options) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return Decrypt(path, data, o)
}

// Decrypt decrypts the encrypted content of the file at path (the path decides the format and, for
// later writes, the creation rule).
func Decrypt(path string, data []byte, o Options) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	f := &File{Path: abs, keys: o.keyring()}
	if f.Format, err = FormatFor(path); err != nil {
		return nil, err
	}
	sc, err := storesConfig(abs, o.SopsConfig)
	if err != nil {
		return nil, err
	}
	f.store = storeFor(f.Format, sc)
	tree, err := f.store.LoadEncryptedFile(data)
	if err != nil {
		if errors.Is(err, sops.MetadataNotFound) {
			return nil, fmt.Errorf("%s: not encrypted with sops (no sops metadata)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, redact(err))
	}
	tree.FilePath = abs
	f.tree = tree
	key, err := tree.Metadata.GetDataKeyWithKeyServices(f.services(), nil)
	if err != nil && len(cloudKeys(tree.Metadata.KeyGroups)) > 0 {
		// The local keys did not do; the file's cloud keys may, through the sops CLI.
		if serr := f.useSopsCLI(); serr != nil {
			return nil, fmt.Errorf("%w\n  %w", noKeyError(path, tree.Metadata, f.keys, err), serr)
		}
		if key, err = tree.Metadata.GetDataKeyWithKeyServices(f.services(), nil); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w\n  its cloud keys were tried through the sops CLI: %v",
				noKeyError(path, tree.Metadata, f.keys, err), err)
		}
	}
	if err != nil {
		return nil, noKeyError(path, tree.Metadata, f.keys, err)
	}
	f.dataKey = key
	cipher := aes.NewCipher()
	computed, err := f.tree.Decrypt(key, cipher)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: cannot decrypt (tampered or corrupt ciphertext?): %w", path, redact(err))
	}
	stored, err := cipher.Decrypt(f.tree.Metadata.MessageAuthenticationCode, key,
		f.tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: cannot decrypt the MAC (tampered file?): %w", path, redact(err))
	}
	if stored != computed {
		f.Close()
		return nil, fmt.Errorf("%s: MAC mismatch: the file was modified outside sops/chaos; refusing it", path)
	}
	return f, nil
}

func (f *File) services() []keyservice.KeyServiceClient {
	if f.remote != nil {
		return []keyservice.KeyServiceClient{f.keys, f.remote}
	}
	return []keyservice.KeyServiceClient{f.keys}
}

// Close wipes the data key. The tree's strings cannot be wiped (Go strings are immutable); they go
// with the File.
func (f *File) Close() {
	if f == nil {
		return
	}
	f.remote.Close()
	f.remote = nil
	Wipe(f.dataKey)
	Wipe(f.tree.Metadata.DataKey)
	f.dataKey, f.tree.Metadata.DataKey = nil, nil
	f.tree.Branches = nil
}

// Plaintext returns the decrypted document as the sops CLI prints it (`sops decrypt`), comments
// included. The caller owns the buffer and should Wipe it.
func (f *File) Plaintext() ([]byte, error) {
	out, err := f.store.EmitPlainFile(f.tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return out, nil
}

// Values returns the decrypted tree for lookups by dotted path.
func (f *File) Values() *Values {
	if len(f.tree.Branches) == 0 {
		return &Values{root: map[string]any{}}
	}
	return &Values{root: branchValue(f.tree.Branches[0])}
}

// Metadata exposes the file's sops metadata (key groups, threshold, regexes) for listings.
func (f *File) Metadata() sops.Metadata { return f.tree.Metadata }

// Replace swaps the document for new plaintext (what an editor saved). It must parse in the file's
// format, must not contain a top-level `sops` key, and keeps the data key and the key groups, as
// `sops edit` does.
func (f *File) Replace(plain []byte) error {
	branches, err := f.store.LoadPlainFile(plain)
	if err != nil {
		return fmt.Errorf("does not parse as %s: %w", f.Format, redact(err))
	}
	if len(branches) == 0 {
		return errors.New("is empty: a secrets file needs at least one document")
	}
	if f.store.HasSopsTopLevelKey(branches[0]) {
		return errors.New("has a top-level `sops` key, which is reserved for sops metadata")
	}
	f.tree.Branches = branches
	return nil
}

// Set stores value at a dotted path (creating maps on the way), as `sops set` does.
func (f *File) Set(path string, value any) error {
	p, err := splitPath(path)
	if err != nil {
		return err
	}
	if len(f.tree.Branches) == 0 {
		f.tree.Branches = sops.TreeBranches{sops.TreeBranch{}}
	}
	keysPath := make([]any, len(p))
	for i, s := range p {
		keysPath[i] = s.key()
	}
	f.tree.Branches[0], _ = f.tree.Branches[0].Set(keysPath, value)
	return nil
}

// Unset removes the value at a dotted path.
func (f *File) Unset(path string) error {
	p, err := splitPath(path)
	if err != nil {
		return err
	}
	keysPath := make([]any, len(p))
	for i, s := range p {
		keysPath[i] = s.key()
	}
	b, err := f.tree.Branches[0].Unset(keysPath)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f.tree.Branches[0] = b
	return nil
}

// Encrypted encrypts a copy of the current document with the file's data key and metadata and
// returns the file content, leaving the File usable (sops's Tree.Encrypt works in place).
func (f *File) Encrypted() ([]byte, error) {
	t := f.tree
	t.Branches = copyBranches(f.tree.Branches)
	t.Metadata.DataKey = nil
	return encryptTree(&t, f.dataKey, f.store)
}

// encryptTree encrypts a tree in place with key and emits it, exactly as sops's EncryptTree: MAC over
// the plaintext values, LastModified as the MAC's additional data.
func encryptTree(t *sops.Tree, key []byte, store sops.Store) ([]byte, error) {
	cipher := aes.NewCipher()
	mac, err := t.Encrypt(key, cipher)
	if err != nil {
		return nil, fmt.Errorf("%s: encrypting: %w", t.FilePath, redact(err))
	}
	t.Metadata.LastModified = time.Now().UTC()
	t.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, key, t.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("%s: encrypting the MAC: %w", t.FilePath, err)
	}
	out, err := store.EmitEncryptedFile(*t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.FilePath, err)
	}
	return out, nil
}

// Rekey generates a new data key and wraps it for the file's current key groups, splitting it with
// Shamir when there are several groups. Use after changing recipients or the threshold: a removed
// recipient may have kept the old data key.
func (f *File) Rekey() error {
	if len(f.tree.Metadata.KeyGroups) == 0 {
		return errors.New("no key groups: the file would be unreadable")
	}
	for i, g := range f.tree.Metadata.KeyGroups {
		if len(g) == 0 {
			return fmt.Errorf("key group %d is empty: the file would need a key nobody holds", i)
		}
	}
	if t := f.tree.Metadata.ShamirThreshold; len(f.tree.Metadata.KeyGroups) > 1 && t > len(f.tree.Metadata.KeyGroups) {
		return fmt.Errorf("shamir threshold %d exceeds the %d key groups: the file would be unreadable",
			t, len(f.tree.Metadata.KeyGroups))
	}
	if err := f.useSopsCLI(); err != nil {
		return err
	}
	old := f.dataKey
	f.tree.Metadata.DataKey = nil
	key, errs := f.tree.GenerateDataKeyWithKeyServices(f.services())
	if len(errs) > 0 {
		Wipe(key)
		return fmt.Errorf("wrapping the new data key: %w", errors.Join(errs...))
	}
	f.dataKey = key
	Wipe(old)
	return nil
}

// KeyGroups returns the file's key groups (to add or remove master keys before Rekey).
func (f *File) KeyGroups() []sops.KeyGroup { return f.tree.Metadata.KeyGroups }

// SetKeyGroups replaces the file's key groups (call Rekey afterwards).
func (f *File) SetKeyGroups(g []sops.KeyGroup) { f.tree.Metadata.KeyGroups = g }

// SetShamirThreshold sets how many key groups are needed to recover the data key (call Rekey
// afterwards). 0 means all of them.
func (f *File) SetShamirThreshold(n int) { f.tree.Metadata.ShamirThreshold = n }

// sopsVersion is the `version` chaos writes into a new file's metadata: the linked sops release,
// as its version.Version says (TestSopsVersion checks they agree). That package is not imported:
// it also holds sops's CLI version command, whose CLI library brings a Markdown renderer whose
// package initialisers ran at every start of chaos (issue 16).
const sopsVersion = "3.13.3"

// Create encrypts new plaintext for path with the creation rule that matches it in the sops
// configuration, as `sops encrypt` does, and returns the file content. The File stays open for
// further changes.
func Create(path string, plain []byte, o Options) (*File, []byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secrets: %w", err)
	}
	format, err := FormatFor(path)
	if err != nil {
		return nil, nil, err
	}
	cfgPath, err := sopsConfigFor(abs, o.SopsConfig)
	if err != nil {
		return nil, nil, err
	}
	if cfgPath == "" {
		return nil, nil, fmt.Errorf("%s: no .sops.yaml found (run `chaos secrets init` or pass -ss FILE)", path)
	}
	rule, err := config.LoadCreationRuleForFile(cfgPath, abs, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	if rule == nil || len(rule.KeyGroups) == 0 {
		return nil, nil, fmt.Errorf("%s: no creation rule with keys matches %s", cfgPath, abs)
	}
	sc, err := config.LoadStoresConfig(cfgPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	f := &File{Path: abs, Format: format, store: storeFor(format, sc), keys: o.keyring()}
	f.tree = sops.Tree{FilePath: abs, Metadata: sops.Metadata{
		KeyGroups:               rule.KeyGroups,
		ShamirThreshold:         rule.ShamirThreshold,
		UnencryptedSuffix:       rule.UnencryptedSuffix,
		EncryptedSuffix:         rule.EncryptedSuffix,
		UnencryptedRegex:        rule.UnencryptedRegex,
		EncryptedRegex:          rule.EncryptedRegex,
		UnencryptedCommentRegex: rule.UnencryptedCommentRegex,
		EncryptedCommentRegex:   rule.EncryptedCommentRegex,
		MACOnlyEncrypted:        rule.MACOnlyEncrypted,
		Version:                 sopsVersion,
	}}
	if o.EncryptedRegex != "" {
		f.SetEncryptedRegex(o.EncryptedRegex)
	}
	if err := f.Replace(plain); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Rekey(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	out, err := f.Encrypted()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, out, nil
}

// SetEncryptedRegex makes the values under keys matching re the only encrypted ones from the next
// Encrypted on, replacing the file's other selectors (suffixes, unencrypted_regex), which sops
// does not allow together with it.
func (f *File) SetEncryptedRegex(re string) {
	md := &f.tree.Metadata
	md.EncryptedRegex = re
	md.UnencryptedRegex, md.EncryptedSuffix, md.UnencryptedSuffix = "", "", ""
}

// MasterKeyString names a master key the way sops lists it: the age recipient or PGP fingerprint.
func MasterKeyString(k keys.MasterKey) string { return k.ToString() }

// copyBranches deep-copies a tree so that encrypting the copy leaves the original in plaintext.
func copyBranches(in sops.TreeBranches) sops.TreeBranches {
	out := make(sops.TreeBranches, len(in))
	for i, b := range in {
		out[i] = copyValue(b).(sops.TreeBranch)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case sops.TreeBranch:
		out := make(sops.TreeBranch, len(v))
		for i, it := range v {
			out[i] = sops.TreeItem{Key: it.Key, Value: copyValue(it.Value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// backticked matches the `...` quoting that YAML and JSON decoders use to show the offending input.
var backticked = regexp.MustCompile("`[^`]*`")

// redact removes quoted input from a decoder's error: that input may be a secret value.
func redact(err error) error {
	if err == nil {
		return nil
	}
	msg := backticked.ReplaceAllString(err.Error(), "`…`")
	return errors.New(msg)
}

// Info is what can be read from a sops file without its private keys: sops keeps keys in clear.
type Info struct {
	// Paths are the dotted key paths of the secrets.
	Paths []string
	// Groups are the master keys by key group.
	Groups [][]KeyInfo
	// Threshold is the Shamir threshold (0: every group).
	Threshold int
}

// KeyInfo names a master key: Kind is "age", "pgp" or another sops type; ID the recipient or
// fingerprint.
type KeyInfo struct{ Kind, ID string }

// Inspect reads a sops file's structure and recipients without decrypting it.
func Inspect(path, sopsConfig string) (*Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	format, err := FormatFor(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	sc, err := storesConfig(abs, sopsConfig)
	if err != nil {
		return nil, err
	}
	tree, err := storeFor(format, sc).LoadEncryptedFile(data)
	if err != nil {
		if errors.Is(err, sops.MetadataNotFound) {
			return nil, fmt.Errorf("%s: not encrypted with sops (no sops metadata)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, redact(err))
	}
	info := &Info{Threshold: tree.Metadata.ShamirThreshold}
	if len(tree.Branches) > 0 {
		info.Paths = (&Values{root: branchValue(tree.Branches[0])}).Paths()
	}
	for _, g := range tree.Metadata.KeyGroups {
		var ks []KeyInfo
		for _, k := range g {
			ks = append(ks, KeyInfo{Kind: k.TypeToIdentifier(), ID: k.ToString()})
		}
		info.Groups = append(info.Groups, ks)
	}
	return info, nil
}
