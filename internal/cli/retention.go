package cli

import (
	"fmt"

	"github.com/spf13/pflag"

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
