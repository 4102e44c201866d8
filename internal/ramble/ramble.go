// Package ramble is the original Ch-aOS's encrypted notebook: journals of YAML pages
// (DIR/JOURNAL/PAGE.yml) with the keys title, concept, what, why, how, scripts and tags. A page may
// be plaintext or sops-encrypted; encrypted pages keep title, concept and tags in clear (sops's
// encrypted_regex), so a search can show what a page is about, and `find` decrypts the rest in
// memory, many pages at once. The sops CLI reads and writes the same pages.
//
// Pages are opened with internal/secrets, in-process: never a plaintext copy on disk (the
// original decrypted into /dev/shm and ran one sops process per page).
package ramble

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/datadir"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/team"
)

// Keys are the keys of a new page, in order.
var Keys = []string{"title", "concept", "what", "why", "how", "scripts", "tags"}

// ClearKeys stay unencrypted by default so that titles and tags remain searchable.
var ClearKeys = []string{"title", "concept", "tags", "sops"}

// Ext is a page's file extension.
const Ext = ".yml"

// Notebook is a ramble directory and the keys and sops configuration to open its pages with.
type Notebook struct {
	Dir string
	// Sops is the sops configuration for new encrypted pages and updates; "" means the nearest
	// .sops.yaml from the page (as `chaos secrets` finds it).
	Sops string
	Keys *secrets.Keyring
}

// DefaultDir is the personal notebook: $CHAOS_RAMBLE_DIR, else $XDG_DATA_HOME/chaos/ramble, else
// ~/.local/share/chaos/ramble.
func DefaultDir() (string, error) {
	if d := os.Getenv("CHAOS_RAMBLE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	return datadir.Path("ramble")
}

// TeamNotebook is person ref.Group's notebook in active team ref: TEAMDIR/ramblings/PERSON, with
// the team's sops configuration for every operation (the original used it only to encrypt).
func TeamNotebook(ref team.Ref, sopsFile string) (Notebook, error) {
	if ref.Group == "" {
		return Notebook{}, fmt.Errorf("team %s: name the person too (company.team.person)", ref)
	}
	r, err := team.Open(ref)
	if err != nil {
		return Notebook{}, err
	}
	n := Notebook{}
	if n.Dir, err = r.Path(filepath.Join("ramblings", ref.Group)); err != nil {
		return n, err
	}
	if n.Sops, err = r.Path(cmp.Or(sopsFile, team.SopsConfigName)); err != nil {
		return n, err
	}
	return n, nil
}

// Ref names a journal or a page.
type Ref struct {
	Journal, Page string // Page "" names the whole journal
}

// ParseRef parses journal or journal.page.
func ParseRef(s string) (Ref, error) {
	j, p, _ := strings.Cut(s, ".")
	r := Ref{Journal: j, Page: p}
	if err := team.CheckName("journal", j); err != nil {
		return r, err
	}
	if p != "" || strings.HasSuffix(s, ".") {
		if err := team.CheckName("page", p); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r Ref) String() string {
	if r.Page == "" {
		return r.Journal
	}
	return r.Journal + "." + r.Page
}

// Path is the file of page r (or the directory of journal r), proven inside the notebook with no
// symlink on the way: a team's ramblings come from other people's commits.
func (n Notebook) Path(r Ref) (string, error) {
	rel := r.Journal
	if r.Page != "" {
		rel = filepath.Join(r.Journal, r.Page+Ext)
	}
	return team.Inside(n.Dir, rel)
}

// Template is a new page's content.
func Template(title string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "title: %s\n", yamlScalar(title))
	for _, k := range Keys[1 : len(Keys)-1] {
		fmt.Fprintf(&b, "%s: \"\"\n", k)
	}
	b.WriteString("tags: []\n")
	return b.Bytes()
}

func yamlScalar(s string) string {
	out, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(out))
}

// EncryptedRegex is the sops encrypted_regex that encrypts the given top-level keys, or by default
// every top-level key of the page except ClearKeys, as the original's `ramble encrypt` chose.
func EncryptedRegex(plain []byte, keys []string) (string, error) {
	if len(keys) == 0 {
		var doc yaml.Node
		if err := yaml.Unmarshal(plain, &doc); err != nil {
			return "", fmt.Errorf("does not parse as YAML: %w", err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return "", errors.New("is not a YAML mapping")
		}
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i].Value; !slices.Contains(ClearKeys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return "", errors.New("has nothing to encrypt besides " + strings.Join(ClearKeys[:3], ", "))
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = regexp.QuoteMeta(k)
	}
	slices.Sort(q)
	return "^(" + strings.Join(slices.Compact(q), "|") + ")$", nil
}

// IsEncrypted tells a sops-encrypted page (a top-level sops key) from a plaintext one.
func IsEncrypted(data []byte) bool {
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["sops"]
	return ok
}

// Page is an opened page: its plaintext in memory, and for an encrypted page the sops file that
// re-encrypts it with the same data key.
type Page struct {
	Ref   Ref
	Path  string
	Plain []byte
	file  *secrets.File
}

// Encrypted reports whether the page is stored encrypted.
func (p *Page) Encrypted() bool { return p.file != nil }

// Close wipes the plaintext and the data key.
func (p *Page) Close() {
	secrets.Wipe(p.Plain)
	if p.file != nil {
		p.file.Close()
	}
}

// Open reads page r, decrypting it in memory when it is encrypted.
func (n Notebook) Open(r Ref) (*Page, error) {
	path, err := n.Path(r)
	if err != nil {
		return nil, err
	}
	return n.open(r, path)
}

func (n Notebook) open(r Ref, path string) (*Page, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ramble %s: %w", r, err)
	}
	p := &Page{Ref: r, Path: path}
	if !IsEncrypted(data) {
		p.Plain = data
		return p, nil
	}
	if p.file, err = secrets.Decrypt(path, data, n.options()); err != nil {
		return nil, err
	}
	if p.Plain, err = p.file.Plaintext(); err != nil {
		p.file.Close()
		return nil, err
	}
	return p, nil
}

func (n Notebook) options() secrets.Options {
	return secrets.Options{Keys: n.Keys, SopsConfig: n.Sops}
}

// Save stores new content for an opened page: re-encrypted with its data key and recipients when
// it is encrypted (as sops edit does), as is otherwise. The content must be a YAML mapping.
func (n Notebook) Save(p *Page, content []byte) error {
	var m map[string]any
	if err := yaml.Unmarshal(content, &m); err != nil || m == nil {
		return fmt.Errorf("ramble %s: the page must be a YAML mapping (title, concept, what, ...)", p.Ref)
	}
	if p.file == nil {
		return n.write(p.Path, content)
	}
	if err := p.file.Replace(content); err != nil {
		return fmt.Errorf("ramble %s: %w", p.Ref, err)
	}
	out, err := p.file.Encrypted()
	if err != nil {
		return err
	}
	return n.write(p.Path, out)
}

// Create writes a new page, encrypted (keys as in EncryptedRegex) when encrypt; it refuses to
// overwrite one.
func (n Notebook) Create(r Ref, content []byte, encrypt bool, keys []string) error {
	if r.Page == "" {
		return fmt.Errorf("ramble %s: name the page (journal.page)", r)
	}
	path, err := n.Path(r)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("ramble %s: %s already exists (chaos ramble edit %s)", r, path, r)
	}
	p := &Page{Ref: r, Path: path}
	if !encrypt {
		return n.Save(p, content)
	}
	return n.encrypt(p, content, keys)
}

// Encrypt encrypts page r, or changes which of its keys are encrypted when it already is (in
// memory; the original decrypted it into /dev/shm first).
func (n Notebook) Encrypt(r Ref, keys []string) error {
	p, err := n.Open(r)
	if err != nil {
		return err
	}
	defer p.Close()
	return n.encrypt(p, p.Plain, keys)
}

func (n Notebook) encrypt(p *Page, plain []byte, keys []string) error {
	re, err := EncryptedRegex(plain, keys)
	if err != nil {
		return fmt.Errorf("ramble %s: %w", p.Ref, err)
	}
	var out []byte
	if p.file != nil {
		p.file.SetEncryptedRegex(re)
		out, err = p.file.Encrypted()
	} else {
		o := n.options()
		o.EncryptedRegex = re
		var f *secrets.File
		if f, out, err = secrets.Create(p.Path, plain, o); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return err
	}
	return n.write(p.Path, out)
}

func (n Notebook) write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("ramble: %w", err)
	}
	return secrets.WriteFileAtomic(path, data, 0o600)
}

// Pages lists the pages of a journal, or of every journal when journal is "", sorted. Symlinks
// are skipped.
func (n Notebook) Pages(journal string) ([]Ref, error) {
	var journals []string
	if journal != "" {
		journals = []string{journal}
	} else {
		entries, err := os.ReadDir(n.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ramble: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && team.CheckName("journal", e.Name()) == nil {
				journals = append(journals, e.Name())
			}
		}
	}
	var refs []Ref
	for _, j := range journals {
		dir, err := n.Path(Ref{Journal: j})
		if err != nil {
			return nil, err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("ramble: journal %s: %w", j, err)
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), Ext)
			if ok && e.Type().IsRegular() && team.CheckName("page", name) == nil {
				refs = append(refs, Ref{Journal: j, Page: name})
			}
		}
	}
	slices.SortFunc(refs, func(a, b Ref) int { return strings.Compare(a.String(), b.String()) })
	return refs, nil
}

// Move renames a page or a journal; the destination must not exist. An encrypted page moves as it
// is: sops binds neither the data key nor the MAC to the file name.
func (n Notebook) Move(from, to Ref) error {
	if (from.Page == "") != (to.Page == "") {
		return fmt.Errorf("ramble move %s %s: move a page to a page, a journal to a journal", from, to)
	}
	src, err := n.Path(from)
	if err != nil {
		return err
	}
	dst, err := n.Path(to)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(src); err != nil {
		return fmt.Errorf("ramble %s: %w", from, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("ramble %s: already exists", to)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("ramble: %w", err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("ramble: %w", err)
	}
	return nil
}

// Delete removes a page, or a journal with its pages.
func (n Notebook) Delete(r Ref) error {
	p, err := n.Path(r)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("ramble %s: %w", r, err)
	}
	if r.Page == "" {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		return fmt.Errorf("ramble: %w", err)
	}
	return nil
}
