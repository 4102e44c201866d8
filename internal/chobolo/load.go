package chobolo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadOptions tune Load. The zero value is ready to use.
type LoadOptions struct {
	// Zoneinfo reports whether a timezone exists on the target (see ZoneinfoDir). When nil only the
	// syntax is checked; the engine checks again against the target before planning.
	Zoneinfo func(tz string) bool
	// ReadFile reads imported Ch-obolos, templates and key files; os.ReadFile when nil. Tests and
	// fuzzing load from memory with it.
	ReadFile func(path string) ([]byte, error)
	// ExtraKeys are more top-level keys to accept into Chobolo.Extra, for example keys that Souls
	// declare.
	ExtraKeys []string
	// TemplatesDir is where secrets.templates[].from is read (the original's
	// ~/.config/chaos/templates: the CLI passes CONFIGDIR/templates). When empty, from is relative
	// to the Ch-obolo that declares it.
	TemplatesDir string
}

// maxImportDepth bounds import nesting; a deeper chain is almost certainly a mistake.
const maxImportDepth = 32

// loader is the state of one Load: the diagnostics so far and the file of every node.
type loader struct {
	opts  LoadOptions
	d     diags
	files map[*yaml.Node]string
}

// Load reads the Ch-obolo at path, resolves its imports, applies legacy spellings, decodes it and
// validates every value. On failure the error is an Errors listing every problem found in every
// file, each as FILE:LINE:COL: error: message.
func Load(path string, opts LoadOptions) (*Chobolo, error) {
	l := newLoader(opts)
	data, err := l.opts.ReadFile(path)
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path}, Message: "cannot read Ch-obolo: " + unwrapPathError(err)}}
	}
	return l.load(path, data)
}

// LoadBytes is Load for a Ch-obolo already in memory; name is used in positions and imports are
// resolved relative to its directory.
func LoadBytes(name string, data []byte, opts LoadOptions) (*Chobolo, error) {
	return newLoader(opts).load(name, data)
}

// ZoneinfoDir returns a LoadOptions.Zoneinfo function that looks zones up in dir, for example
// "/usr/share/zoneinfo" or a chroot's copy of it.
func ZoneinfoDir(dir string) func(tz string) bool {
	return func(tz string) bool {
		if ValidTimezone(tz) != nil {
			return false
		}
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(tz)))
		return err == nil && st.Mode().IsRegular()
	}
}

func newLoader(opts LoadOptions) *loader {
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	return &loader{opts: opts, files: map[*yaml.Node]string{}}
}

func (l *loader) load(name string, data []byte) (*Chobolo, error) {
	root := l.file(name, data, nil)
	c := l.decode(name, root)
	if err := Validate(c, l.opts); err != nil {
		l.d.errs = append(l.d.errs, err.(Errors)...)
	}
	if len(l.d.errs) > 0 {
		return nil, Errors(sortDiags(l.d.errs))
	}
	if len(c.keys) == 0 {
		// Valid but empty (a blank file, only comments, "{}", only x- anchors or null keys): an apply
		// would change nothing, which is rarely what the author of the file meant.
		l.d.warnf(Pos{File: name, Line: 1, Col: 1},
			"the Ch-obolo declares nothing (no hostname, users, packages, ...): applying it changes nothing")
	}
	c.Warnings = sortDiags(l.d.warns)
	return c, nil
}

func (l *loader) pos(n *yaml.Node) Pos { return Pos{File: l.files[n], Line: n.Line, Col: n.Column} }

// link is one file of an import chain: its absolute path (to detect cycles) and its name as used in
// positions (to show them).
type link struct{ abs, name string }

// file parses, checks and merges one file with its imports, and returns its top-level mapping (nil
// when empty or unusable). chain holds the importing files, for cycles.
func (l *loader) file(name string, data []byte, chain []link) *yaml.Node {
	root := l.parse(name, data)
	if root == nil {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.d.errorf(l.pos(root), "a Ch-obolo is a mapping of keys (hostname: ..., users: ...), got %s", describe(root))
		return nil
	}
	l.applyLegacy(root)
	var imports *yaml.Node
	if i, ok := mapIndex(root, "imports"); ok {
		imports = l.check(topKey("imports"), root.Content[i+1], "imports")
		root.Content = append(root.Content[:i:i], root.Content[i+2:]...)
	}
	l.checkTop(root)
	if imports == nil {
		return root
	}
	chain = append(chain, link{abs: absPath(name), name: name})
	var base *yaml.Node
	for i, imp := range imports.Content {
		fileNode, styxNode, strategy := mapValue(imp, "file"), mapValue(imp, "styx"), mapValue(imp, "strategy")
		switch {
		case fileNode != nil && styxNode != nil:
			l.d.errorf(l.pos(styxNode), "imports: an entry imports a file or a Styx bundle, not both")
			continue
		case styxNode != nil:
			p, err := styxImport(styxNode.Value)
			if err != nil {
				l.d.errorf(l.pos(styxNode), "imports: %v", err)
				continue
			}
			// The bundle's file, named by its absolute path, at the position of the reference.
			fileNode = &yaml.Node{Kind: yaml.ScalarNode, Value: p, Line: styxNode.Line, Column: styxNode.Column}
			l.files[fileNode] = l.files[styxNode]
		case fileNode == nil:
			if imp.Kind == yaml.MappingNode {
				l.d.errorf(l.pos(imp), "imports[%d]: missing required key \"file\" (a path) or \"styx\" (NAME@VERSION of a bundle)", i)
			}
			continue
		}
		if strategy != nil && !slices.Contains(importStrategy, strategy.Value) {
			l.d.errorf(l.pos(strategy), "imports: invalid strategy %q: expected combine or override%s",
				strategy.Value, didYouMean(strategy.Value, importStrategy))
		}
		sub := l.importFile(name, fileNode, chain)
		if sub == nil {
			continue
		}
		if strategy != nil && strategy.Value == "override" {
			sub = l.withoutKeys(sub, root)
		}
		base = l.merge(base, sub, &key{kind: kindMap, fields: topKeys})
	}
	return l.merge(base, root, &key{kind: kindMap, fields: topKeys})
}

// importFile loads the file named by ref, relative to the importing file.
func (l *loader) importFile(importer string, ref *yaml.Node, chain []link) *yaml.Node {
	rel := ref.Value
	if rel == "" || strings.ContainsAny(rel, "\x00\n\r") {
		l.d.errorf(l.pos(ref), "imports: invalid file name %q", rel)
		return nil
	}
	name := rel
	if !filepath.IsAbs(rel) {
		name = filepath.Join(filepath.Dir(importer), rel)
	}
	abs := absPath(name)
	for i, c := range chain {
		if c.abs == abs {
			var names []string
			for _, c := range chain[i:] {
				names = append(names, c.name)
			}
			l.d.errorf(l.pos(ref), "import cycle: %s -> %s", strings.Join(names, " -> "), name)
			return nil
		}
	}
	if len(chain) >= maxImportDepth {
		l.d.errorf(l.pos(ref), "imports are nested more than %d deep", maxImportDepth)
		return nil
	}
	data, err := l.opts.ReadFile(name)
	if err != nil {
		l.d.errorf(l.pos(ref), "cannot import %s: %s", name, unwrapPathError(err))
		return nil
	}
	return l.file(name, data, chain)
}

// readRelative reads a file named in the Ch-obolo (template, key_file) relative to the file that
// declared it.
func (l *loader) readRelative(ref *yaml.Node, what string) (string, bool) {
	name := ref.Value
	if relPath(what, name) != nil {
		return "", false // reported by Validate
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(l.files[ref]), name)
	}
	data, err := l.opts.ReadFile(name)
	if err != nil {
		l.d.errorf(l.pos(ref), "%s: cannot read %s: %s", what, name, unwrapPathError(err))
		return "", false
	}
	return string(data), true
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// unwrapPathError drops the path that *fs.PathError repeats, since messages already name the file.
func unwrapPathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Sprintf("%s: %v", pe.Op, pe.Err)
	}
	return err.Error()
}
