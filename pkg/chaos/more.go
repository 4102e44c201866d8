package chaos

import (
	"context"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	// The back ends register themselves with chimera.Register.
	_ "github.com/ch-aos-ch/chaos/internal/chimera/guix"
	_ "github.com/ch-aos-ch/chaos/internal/chimera/nixos"
	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Target is an open connection to a target (Open), for reading its history or capturing it.
type Target = transport.Transport

// The logbook's query results.
type (
	// RunSummary is one line of Logbook.Runs: a run's id, command, times, status and counts.
	RunSummary = logbook.RunSummary
	// Report is everything recorded about one run (Logbook.Report): hosts, plans, ops, undos.
	Report = logbook.Report
)

// OpenLogbook opens the logbook (the Limani): a SQLite file path, a postgres:// DSN, or "" for
// the default SQLite file (~/.local/share/chaos/limani.db). Pass it in Options.Logbook to record
// runs; query it with Runs, Resolve and Report. Close it when done.
func OpenLogbook(ctx context.Context, dsn string) (*Logbook, error) {
	return logbook.Open(ctx, dsn)
}

// Ch-imera: a Ch-obolo compiled to another system's configuration.
type (
	// ChimeraOptions tune a compile (strictness, allowed and denied diagnostics, disko, ...).
	ChimeraOptions = chimera.Options
	// ChimeraResult is the compiled files and the diagnostics with their source positions.
	ChimeraResult = chimera.Result
)

// Compile compiles c for a Ch-imera back end: "nixos" (a flake and modules) or "guix" (a Guix
// System config.scm and channels.scm), or one an installed Soul provides when opts.Souls is set
// (Controller.Compile sets it).
func Compile(ctx context.Context, c *Chobolo, backend string, opts ChimeraOptions) (*ChimeraResult, error) {
	return chimera.Compile(ctx, c, backend, opts)
}

// Compile is the package's Compile with the controller's Souls' back ends.
func (c *Controller) Compile(ctx context.Context, ch *Chobolo, backend string, opts ChimeraOptions) (*ChimeraResult, error) {
	if opts.Souls == nil {
		opts.Souls = c.kinds()
	}
	return chimera.Compile(ctx, ch, backend, opts)
}
