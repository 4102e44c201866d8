package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// logFlags are the logbook options of a run and the logbook it is recorded in.
type logFlags struct {
	report bool   // --logbook: print the run's report at the end
	limani string // --limani DSN
	off    bool   // --no-logbook
	store  *logbook.Store
}

func (l *logFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&l.report, "logbook", false, "print the run's logbook report at the end (every run is recorded anyway)")
	f.StringVar(&l.limani, "limani", "", limaniUsage)
	f.BoolVar(&l.off, "no-logbook", false, "do not record this run in the logbook")
}

// limaniUsage is the --limani help; the backquoted word is the value's name in pflag's help, so
// no other word may be backquoted.
const limaniUsage = "the logbook: a SQLite file (/var/lib/chaos/limani.db) or a PostgreSQL `DSN` " +
	"(postgres://chaos@db.example.org/chaos?sslmode=require); default $CHAOS_LIMANI, limani: in config.yml, " +
	"~/.local/share/chaos/limani.db"

// limaniDSN is --limani, else $CHAOS_LIMANI, else `limani:` in config.yml, else "" (the default
// SQLite file). "off" disables the logbook.
func limaniDSN(flag string, cfg *config.Config) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv("CHAOS_LIMANI"); v != "" {
		return v
	}
	if cfg != nil {
		return cfg.Limani
	}
	return ""
}

// open opens the logbook the run is recorded in (nil when off); a logbook problem is a warning,
// never a failed run.
func (l *logFlags) open(ctx context.Context, a *app, cfg *config.Config) *logbook.Store {
	dsn := limaniDSN(l.limani, cfg)
	if l.off || dsn == "off" {
		return nil
	}
	s, err := chaos.OpenLogbook(ctx, dsn)
	if err != nil {
		fmt.Fprintf(a.stderr, "chaos: warning: logbook: %v\n", err)
		return nil
	}
	l.store = s
	return s
}

// finish prints the run's report (--logbook) and closes the logbook, or leaves it to the process's
// exit after a dry run (Process).
func (l *logFlags) finish(a *app, runID string, asJSON, dry bool) {
	if l.store == nil {
		return
	}
	if a.exits && dry {
		defer l.store.Leave()
	} else {
		defer l.store.Close()
	}
	if !l.report || runID == "" {
		return
	}
	rep, err := l.store.Report(context.Background(), runID)
	if err != nil {
		fmt.Fprintf(a.stderr, "chaos: warning: logbook: %v\n", err)
		return
	}
	if asJSON {
		a.jsonLine(map[string]any{"type": "logbook", "report": rep})
		return
	}
	fmt.Fprintln(a.stdout)
	writeReport(a.stdout, rep, false)
}

type logbookOpts struct {
	limani string
	json   bool
	limit  int
}

func (a *app) logbookCmd() *cobra.Command {
	var o logbookOpts
	cmd := &cobra.Command{
		Use:     "logbook [list | show RUN | export RUN]",
		Aliases: []string{"log"},
		Short:   "The record of every run: list, report, export as JSON",
		Long: `Every chaos run is recorded in the Limani: SQLite by default (~/.local/share/chaos/limani.db) or
PostgreSQL (--limani postgres://..., $CHAOS_LIMANI, or ` + "`limani:`" + ` in config.yml). RUN is a run id, a
prefix or suffix of exactly one (20260101-12, or the random part 3fa9c2d1), or "last"; an
ambiguous one lists the runs it matches. The report has a summary, each host, each op and the
p50/p90/p95/p99 op durations.`,
		Example: `  chaos logbook
  chaos logbook show last
  chaos logbook show 3fa9c2d1
  chaos logbook export 20260101-120000 --json > run.json`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if len(args) == 0 {
				args = []string{"list"}
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			dsn := limaniDSN(o.limani, cfg)
			if dsn == "off" {
				return errors.New("the logbook is off (CHAOS_LIMANI=off)")
			}
			s, err := chaos.OpenLogbook(ctx, dsn)
			if err != nil {
				return err
			}
			defer s.Close()
			switch args[0] {
			case "list", "ls":
				runs, err := s.Runs(ctx, o.limit)
				if err != nil {
					return err
				}
				if o.json {
					if runs == nil {
						runs = []logbook.RunSummary{}
					}
					return a.printJSON(runs)
				}
				if len(runs) == 0 {
					fmt.Fprintf(a.stdout, "no runs recorded in %s\n", s.Where)
					return nil
				}
				w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "RUN\tSTARTED\tCOMMAND\tSTATUS\tHOSTS\tFAILED\tOPS\tDURATION")
				for _, r := range runs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format(time.DateTime), r.Command,
						r.Status, r.Hosts, r.Failed, r.Ops, r.Duration.Round(time.Millisecond))
				}
				return w.Flush()
			case "show", "export":
				if len(args) != 2 {
					return fmt.Errorf("logbook %s takes a run id (or \"last\")", args[0])
				}
				rep, err := s.Report(ctx, args[1])
				if err != nil {
					return err
				}
				if o.json || args[0] == "export" {
					return a.printJSON(rep)
				}
				writeReport(a.stdout, rep, true)
				return nil
			}
			return fmt.Errorf("unknown logbook command %q (list, show RUN, export RUN)", args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.limani, "limani", "", limaniUsage)
	f.BoolVar(&o.json, "json", false, "machine-readable output")
	f.IntVar(&o.limit, "limit", 20, "how many runs to list")
	return cmd
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// writeReport prints a run's report; allOps lists every op, else the ten slowest.
func writeReport(w io.Writer, rep *logbook.Report, allOps bool) {
	r := rep.Run
	fmt.Fprintf(w, "run %s: %s, %s\n", r.ID, r.Command, r.Status)
	fmt.Fprintf(w, "  started %s by %s on %s, took %s\n", r.Started.Local().Format(time.DateTime), orNone(r.User), orNone(r.Controller), ms(r.Duration))
	if r.Chobolo != "" {
		fmt.Fprintf(w, "  Ch-obolo %s\n", r.Chobolo)
	}
	fmt.Fprintf(w, "  %s (%d failed), %s\n", plural(r.Hosts, "host"), r.Failed, plural(r.Ops, "op"))
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", printable.Text(r.Error))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Hosts) > 0 {
		fmt.Fprintln(tw, "\nHOST\tSTATUS\tOPS\tPROBE\tTOTAL\tGENERATION")
		for _, h := range rep.Hosts {
			gen := "-"
			if h.Generation > 0 {
				gen = strconv.Itoa(h.Generation)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", h.Target, h.Status, h.Ops, ms(h.Probe), ms(h.Duration), gen)
		}
		_ = tw.Flush()
	}
	if p := rep.OpTime; p.Count > 0 {
		fmt.Fprintln(tw, "\nOP DURATIONS\tCOUNT\tP50\tP90\tP95\tP99\tMAX\tTOTAL")
		line := func(name string, p logbook.Percentiles) {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Count, ms(p.P50), ms(p.P90), ms(p.P95), ms(p.P99), ms(p.Max), ms(p.Total))
		}
		line("all", p)
		roles := slices.Sorted(maps.Keys(rep.ByRole))
		for _, role := range roles {
			line("  "+role, rep.ByRole[role])
		}
		_ = tw.Flush()
	}
	ops := rep.Ops
	title := "\nOPS"
	if !allOps && len(ops) > 10 {
		ops = append([]logbook.OpReport(nil), ops...)
		sort.SliceStable(ops, func(i, j int) bool { return ops[i].Duration > ops[j].Duration })
		ops, title = ops[:10], "\nSLOWEST OPS"
	}
	if len(ops) > 0 {
		fmt.Fprintln(tw, title+"\tHOST\tROLE\tTIME\tOP")
		for _, o := range ops {
			mark := ""
			if o.Error != "" {
				mark = " FAILED: " + firstLineOf(o.Error)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s%s\n", o.Seq, o.Target, o.Role, ms(o.Duration), printable.Line(o.Op), mark)
		}
		_ = tw.Flush()
	}
	writeOutputs(w, rep.Ops, allOps)
	if len(rep.Undos) > 0 {
		fmt.Fprintf(w, "\nundone (%d):\n", len(rep.Undos))
		for _, u := range rep.Undos {
			fmt.Fprintf(w, "  %s %s: %s\n", u.Target, u.Role, printable.Line(u.Op))
		}
	}
	if len(rep.Access) > 0 {
		fmt.Fprintf(w, "\naccess:\n")
		for _, a := range rep.Access {
			res := "ok"
			if a.Error != "" {
				res = firstLineOf(a.Error)
			}
			fmt.Fprintf(w, "  %s %s: %s\n", a.Target, printable.Line(a.Op), printable.Line(res))
		}
	}
}

// outputLines is how many of the last lines of an op's stdout and stderr `logbook show` prints
// (export has the whole recorded tails).
const outputLines = 10

// writeOutputs prints what ops printed: every op's with allOps (show), else the failed ops' only.
func writeOutputs(w io.Writer, ops []logbook.OpReport, allOps bool) {
	title := false
	for _, o := range ops {
		if o.Stdout == "" && o.Stderr == "" || !allOps && o.Error == "" {
			continue
		}
		if !title {
			fmt.Fprintln(w, "\nOUTPUT (last lines)")
			title = true
		}
		fmt.Fprintf(w, "%d %s %s: %s\n", o.Seq, o.Target, o.Role, printable.Line(o.Op))
		for _, stream := range []struct{ name, text string }{{"stdout", o.Stdout}, {"stderr", o.Stderr}} {
			lines := strings.Split(strings.TrimRight(stream.text, "\n"), "\n")
			if stream.text == "" {
				continue
			}
			if len(lines) > outputLines {
				lines = lines[len(lines)-outputLines:]
			}
			for _, l := range lines {
				fmt.Fprintf(w, "  %s| %s\n", stream.name, printable.Line(l))
			}
		}
	}
}

func firstLineOf(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
