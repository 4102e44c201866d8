package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/engine"
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

// set fills req's retention and tree-removal settings: flags first, then config.yml (cfg).
func (x txFlags) set(req *engine.Request, cfg *config.Config) error {
	r := cfg.Retention
	if x.keep != 0 {
		if x.keep < 1 {
			return fmt.Errorf("--keep-generations %d: keep at least 1", x.keep)
		}
		r.Keep = x.keep
	}
	if x.maxSize != "" {
		n, err := engine.ParseBytes(x.maxSize)
		if err != nil || n < 1 {
			return fmt.Errorf("--generations-max-size %q: want a size such as 256MiB or 1G", x.maxSize)
		}
		r.MaxBytes = n
	}
	req.Record.Keep, req.Record.MaxBytes = r.Keep, r.MaxBytes
	req.ForceRemove = x.forceRemove
	return nil
}
