// Package chimera is Ch-imera: it compiles a Ch-obolo into the configuration of a declarative
// operating system (NixOS, Guix System), so a machine described for chaos can get that system's
// generations and rollbacks with the same YAML.
//
// The pipeline is: the usual Ch-obolo loader (imports, legacy spellings, positions) → NewSystem
// (what any declarative back end can express, shared checks) → a Backend (one per target) → files
// with a source map → Write (atomic, only when there are no errors).
package chimera

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// Version is written into every generated file's header and into chimera.json.
const Version = "1"

// Options are the compiler flags shared by every back end.
type Options struct {
	Strict       bool     // warnings are errors
	Allow, Deny  []string // diagnostic codes lowered to info / raised to errors
	InlineHashes bool     // put password hashes into the configuration (world-readable in the store)
	Disko        bool     // NixOS: also write disko.nix from partitioning
	StateVersion string   // NixOS system.stateVersion; the back end's default when empty
	// Hashes are users' password hashes (crypt format) by user name, read from the secrets by the
	// caller when InlineHashes is set. Back ends never see plaintext passwords.
	Hashes map[string]string
	// Souls provide the back ends that are not built in (chaos's Soul runtime); nil: none.
	Souls soul.Kinds
}

// Input is what a back end compiles.
type Input struct {
	System *System
	// SourceHash is the sha256 of the resolved Ch-obolo, written into headers so that a generated
	// file names the input it came from without copying user text into comments.
	SourceHash string
	Options    Options
}

// Backend compiles a System for one target. Implementations are pure: they return files and
// diagnostics and never touch the disk.
type Backend interface {
	// Name is the target's name on the command line: "nixos", "guix".
	Name() string
	// Compile returns the generated files (paths relative to the output directory) and adds its
	// findings to ds, with Backend set to its Name (findings of NewSystem have none: they hold for
	// every back end).
	Compile(ctx context.Context, in Input, ds *Diagnostics) ([]File, error)
}

var (
	mu       sync.RWMutex
	backends = map[string]Backend{}
)

// Register makes a back end available by name. Back-end packages call it from init.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	backends[b.Name()] = b
}

// Backends returns the registered back-end names, sorted.
func Backends() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(backends))
}

// Lookup returns the back end registered under name, else the one an installed Soul provides
// (souls may be nil: none).
func Lookup(name string, souls soul.Kinds) (Backend, error) {
	mu.RLock()
	b, ok := backends[name]
	mu.RUnlock()
	if ok {
		return b, nil
	}
	if souls == nil {
		return nil, fmt.Errorf("chimera: unknown target %q (built in: %s; no Souls are loaded)", name, strings.Join(Backends(), ", "))
	}
	s, _, err := souls.Lookup(soul.KindChimera, name)
	if err != nil {
		return nil, fmt.Errorf("chimera: unknown target %q (built in: %s); %v", name, strings.Join(Backends(), ", "), err)
	}
	return soulBackend{name: name, soul: s, souls: souls}, nil
}

// Result is a compilation's outcome. Files is empty when the compilation has errors.
type Result struct {
	Target      string
	SourceHash  string
	Files       []File
	Diagnostics Diagnostics
}

// Failed reports whether the result has errors (after --strict and --deny were applied).
func (r *Result) Failed() bool { return r.Diagnostics.Errors() > 0 }

// Compile compiles c for the named target. Errors in the input are diagnostics in the result, not
// a returned error; the returned error is for internal failures.
func Compile(ctx context.Context, c *chobolo.Chobolo, target string, opts Options) (*Result, error) {
	b, err := Lookup(target, opts.Souls)
	if err != nil {
		return nil, err
	}
	hash, err := SourceHash(c)
	if err != nil {
		return nil, err
	}
	r := &Result{Target: target, SourceHash: hash}
	sys := NewSystem(c, &r.Diagnostics)
	files, err := b.Compile(ctx, Input{System: sys, SourceHash: hash, Options: opts}, &r.Diagnostics)
	if err != nil {
		return nil, fmt.Errorf("chimera %s: %w", target, err)
	}
	r.Diagnostics.Apply(opts.Strict, opts.Allow, opts.Deny)
	r.Diagnostics.Sort()
	if !r.Failed() {
		r.Files = files
	}
	return r, nil
}

// sharedCodes are found by NewSystem for every back end; they carry no back-end name.
var sharedCodes = []string{CodeInvalidValue, CodeLongLabel, CodeFirmwareInferred, CodeAUR, CodeRepos, CodeMirrors,
	CodeDenseService, CodeDotfiles, CodeBaseOverride, CodePruneOrphans, CodeNotCompiled, CodeUserState}

// SourceHash is the sha256 of the resolved Ch-obolo (after imports and legacy spellings), so the
// same machine description gives the same hash however it is split into files.
func SourceHash(c *chobolo.Chobolo) (string, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("chimera: hash input: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Manifest is chimera.json: what was compiled, the findings, and where every generated line came
// from.
type Manifest struct {
	Chimera     string               `json:"chimera"`
	Target      string               `json:"target"`
	SourceHash  string               `json:"source_sha256"`
	Diagnostics []Diagnostic         `json:"diagnostics"`
	SourceMap   map[string][]Mapping `json:"source_map"`
}

// Manifest builds chimera.json for the result.
func (r *Result) Manifest() Manifest {
	m := Manifest{Chimera: Version, Target: r.Target, SourceHash: r.SourceHash,
		Diagnostics: append([]Diagnostic{}, r.Diagnostics.List...), SourceMap: map[string][]Mapping{}}
	for _, f := range r.Files {
		m.SourceMap[f.Path] = append([]Mapping{}, f.Map...)
	}
	return m
}

// Write puts the result's files and chimera.json into dir, atomically: everything is written to a
// temporary directory beside dir, which then replaces dir. A result with errors writes nothing.
func (r *Result) Write(dir string) error {
	if r.Failed() {
		return fmt.Errorf("chimera: %d errors; nothing written", r.Diagnostics.Errors())
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("chimera: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".chimera-")
	if err != nil {
		return fmt.Errorf("chimera: %w", err)
	}
	defer os.RemoveAll(tmp)
	manifest, err := json.MarshalIndent(r.Manifest(), "", "  ")
	if err != nil {
		return fmt.Errorf("chimera: %w", err)
	}
	files := append(slices.Clone(r.Files), File{Path: "chimera.json", Content: append(manifest, '\n')})
	for _, f := range files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("chimera: generated path %q leaves the output directory", f.Path)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("chimera: %w", err)
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return fmt.Errorf("chimera: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chimera: %w", err)
	}
	if err := replaceable(dir); err != nil {
		return err
	}
	// Replace dir: move the old one aside first so that a failure leaves either the old or the new
	// output in place, never a mix.
	old := ""
	if _, err := os.Lstat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("chimera: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return fmt.Errorf("chimera: %w", err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// replaceable refuses to replace a directory that is not a previous Ch-imera output: -o pointing at
// the wrong directory must not delete it.
func replaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chimera: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "chimera.json")); err != nil {
		return fmt.Errorf("chimera: %s is not empty and holds no chimera.json; refusing to replace it", dir)
	}
	return nil
}
