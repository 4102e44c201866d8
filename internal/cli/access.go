package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// accessFlags are --no-confirm-access and --confirm-timeout (docs/generations.md, "Confirming
// access").
type accessFlags struct {
	noConfirm bool
	timeout   time.Duration
}

// confirmTimeout is --confirm-timeout, or its default for a command without the flag (recover
// --resume, which applies).
func (f accessFlags) confirmTimeout() time.Duration {
	if f.timeout == 0 {
		return chaos.DefaultConfirmTimeout
	}
	return f.timeout
}

// check refuses a negative --confirm-timeout before anything is contacted.
func (f accessFlags) check() error {
	if f.timeout < 0 {
		return fmt.Errorf("--confirm-timeout must be positive (got %s)", f.timeout)
	}
	return nil
}

func (f *accessFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.noConfirm, "no-confirm-access", false, "over SSH, do not confirm access after an apply that touches it (no watchdog on the host)")
	fs.DurationVar(&f.timeout, "confirm-timeout", chaos.DefaultConfirmTimeout, "how long the fresh connection confirming access may take; the host rolls the apply back after it")
}
