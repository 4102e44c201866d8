package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// txFlags are the transaction settings of apply, rollback and recover --resume: how many
// generations each host keeps and their total size (flags, else `generations:` in config.yml, else
// engine.DefaultKeep and engine.DefaultMaxBytes), and --force-remove.
type txFlags struct {
	keep        int
	maxSize     string
	forceRemove bool
}

func (x *txFlags) register(f *pflag.FlagSet) {
	f.IntVar(&x.keep, "keep-generations", 0, fmt.Sprintf("generations kept on each host, the newest always among them (default: generations.keep in config.yml, else %d)", engine.DefaultKeep))
	f.StringVar(&x.maxSize, "generations-max-size", "", fmt.Sprintf("total size of the generations kept on each host, e.g. 64M or 1GiB (default: generations.max_size in config.yml, else %s)", engine.HumanBytes(engine.DefaultMaxBytes)))
	f.BoolVar(&x.forceRemove, "force-remove", false, fmt.Sprintf("let recursive removes delete trees bigger than the %s chaos archives for undo, without a backup", engine.HumanBytes(engine.DefaultMaxTreeBackup)))
}

// Retention is the `generations:` section of config.yml.
type Retention struct {
	Keep     int
	MaxBytes int64
}

// loadRetention reads `generations: {keep: N, max_size: SIZE}` from config.yml; bad values are
// reported with the file, line and column.
func loadRetention() (Retention, error) {
	var r Retention
	p, err := configPath()
	if err != nil {
		return r, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return r, fmt.Errorf("config %s: %w", p, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return r, nil
	}
	top := doc.Content[0]
	bad := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d:%d: %s", p, n.Line, n.Column, fmt.Sprintf(format, args...))
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "generations" {
			continue
		}
		g := top.Content[i+1]
		if g.Kind != yaml.MappingNode {
			return r, bad(g, "generations: want a mapping with keep and max_size")
		}
		for j := 0; j+1 < len(g.Content); j += 2 {
			k, v := g.Content[j], g.Content[j+1]
			switch k.Value {
			case "keep":
				n, err := strconv.Atoi(v.Value)
				if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
					return r, bad(v, "generations.keep: want a whole number of generations, at least 1 (got %q)", v.Value)
				}
				r.Keep = n
			case "max_size":
				n, err := engine.ParseBytes(v.Value)
				if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
					return r, bad(v, "generations.max_size: want a size such as 256MiB or 1G (got %q)", v.Value)
				}
				r.MaxBytes = n
			default:
				return r, bad(k, "generations: unknown key %q (known: keep, max_size)", k.Value)
			}
		}
	}
	return r, nil
}

// set fills req's retention and tree-removal flags; the controller holds config.yml's
// (controller), which they override.
func (x txFlags) set(req *chaos.ApplyRequest) error {
	if x.keep != 0 {
		if x.keep < 1 {
			return fmt.Errorf("--keep-generations %d: keep at least 1", x.keep)
		}
		req.Keep = x.keep
	}
	if x.maxSize != "" {
		n, err := engine.ParseBytes(x.maxSize)
		if err != nil || n < 1 {
			return fmt.Errorf("--generations-max-size %q: want a size such as 256MiB or 1G", x.maxSize)
		}
		req.MaxBytes = n
	}
	req.ForceRemove = x.forceRemove
	return nil
}
