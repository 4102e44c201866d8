package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type genOpts struct {
	target string
	json   bool
}

// openTarget opens --target for generations and init --from: @local (default), @chroot/PATH,
// @pid/N, a container, tool or Soul connector, or [user@]host[:port] over SSH (strict
// known_hosts). readOnly is for runs that write nothing to the target.
func (a *app) openTarget(ctx context.Context, spec string, readOnly bool) (transport.Transport, error) {
	ctl, err := chaos.New(chaos.Options{Roles: a.registry.All(), Souls: a.souls})
	if err != nil {
		return nil, err
	}
	return ctl.Open(ctx, spec, readOnly)
}

func (a *app) generationsCmd() *cobra.Command {
	var o genOpts
	cmd := &cobra.Command{
		Use:     "generations [list | show N | diff N M]",
		Aliases: []string{"gens", "generation"},
		Short:   "List, show and compare the generations recorded on a host",
		Long: `Every successful apply records a generation on the host, under /var/lib/chaos/generations/N:
the resolved Ch-obolo (no secrets), the facts the probe found before, the plan, the journal and
the previous content of every file it replaced. ` + "`chaos rollback --to N`" + ` goes back to one.`,
		Example: `  chaos generations --target @chroot/mnt
  chaos generations show 3
  chaos generations diff 2 3 --json`,
		Args: cobra.MaximumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if len(args) == 0 {
				args = []string{"list"}
			}
			t, err := a.openTarget(ctx, o.target, true)
			if err != nil {
				return err
			}
			defer t.Close()
			gens, err := chaos.Generations(ctx, t)
			if err != nil {
				return err
			}
			nums := func(want int) ([]engine.Generation, error) {
				if len(args) != want+1 {
					return nil, fmt.Errorf("generations %s takes %d generation numbers", args[0], want)
				}
				var out []engine.Generation
				for _, s := range args[1:] {
					n, err := strconv.Atoi(s)
					if err != nil || n <= 0 {
						return nil, fmt.Errorf("%q is not a generation number", s)
					}
					g, err := engine.FindGeneration(gens, n)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", t.Name(), err)
					}
					out = append(out, g)
				}
				return out, nil
			}
			switch args[0] {
			case "list", "ls":
				if len(args) > 1 {
					return fmt.Errorf("generations list takes no arguments")
				}
				return a.listGenerations(t, gens, o)
			case "show":
				g, err := nums(1)
				if err != nil {
					return err
				}
				return a.showGeneration(ctx, t, g[0], o)
			case "diff":
				g, err := nums(2)
				if err != nil {
					return err
				}
				return a.diffGenerations(ctx, t, gens, g[0], g[1], o)
			}
			return fmt.Errorf("unknown generations command %q (list, show N, diff N M)", args[0])
		},
	}
	cmd.Flags().StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
	return cmd
}

func (a *app) listGenerations(t transport.Transport, gens []engine.Generation, o genOpts) error {
	if gens == nil {
		gens = []engine.Generation{}
	}
	return a.reporter(o.json).Show(gens, func(out io.Writer) error { return writeGenerations(out, t, gens) })
}

func writeGenerations(out io.Writer, t transport.Transport, gens []engine.Generation) error {
	if len(gens) == 0 {
		fmt.Fprintf(out, "%s: no generations recorded yet\n", t.Name())
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "GEN\tDATE\tKIND\tCHANGES\tOPS\tFILES\tSIZE\tTAGS")
	for _, g := range gens {
		kind := g.Kind
		if g.Kind == "rollback" {
			kind = fmt.Sprintf("rollback to %d", g.Of)
		}
		if !g.UndoneByWatchdog.IsZero() {
			kind += " (undone by watchdog)"
		}
		tags := strings.Join(g.Tags, " ")
		if tags == "" {
			tags = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", g.N, g.Time.Local().Format(time.DateTime), kind, g.Changes, g.Ops,
			len(g.Files), humanBytes(g.Bytes), tags)
	}
	return w.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func (a *app) showGeneration(ctx context.Context, t transport.Transport, g engine.Generation, o genOpts) error {
	src, err := chaos.GenerationFile(ctx, t, g.N, "chobolo.yml")
	if err != nil {
		return err
	}
	if o.json {
		out := map[string]any{"generation": g, "chobolo": string(src)}
		for _, name := range []string{"facts", "plan", "journal"} {
			data, err := chaos.GenerationFile(ctx, t, g.N, name+".json")
			if err != nil {
				return err
			}
			out[name] = json.RawMessage(data)
		}
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "generation %d of %s\n", g.N, t.Name())
	fmt.Fprintf(a.stdout, "  date:     %s\n", g.Time.Local().Format(time.DateTime))
	kind := g.Kind
	if g.Kind == "rollback" {
		kind = fmt.Sprintf("rollback to generation %d", g.Of)
	}
	fmt.Fprintf(a.stdout, "  kind:     %s\n", kind)
	if !g.UndoneByWatchdog.IsZero() {
		fmt.Fprintf(a.stdout, "  undone:   %s, by the host's access watchdog (access was not confirmed after the apply)\n",
			g.UndoneByWatchdog.Local().Format(time.DateTime))
	}
	fmt.Fprintf(a.stdout, "  system:   %s (core %s)\n", orNone(g.OS), g.Core)
	if len(g.Tags) > 0 {
		fmt.Fprintf(a.stdout, "  tags:     %s\n", strings.Join(g.Tags, " "))
	}
	fmt.Fprintf(a.stdout, "  applied:  %s, %s in %s\n", plural(g.Changes, "change"), plural(g.Ops, "op"), g.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(a.stdout, "  stored:   %s in %s (journal %s)\n", humanBytes(g.Bytes), engine.GenerationDir(g.N), g.Journal)
	if g.Snapshot != "" {
		fmt.Fprintf(a.stdout, "  snapshot: %s (read-only btrfs snapshot of / before the apply)\n", g.Snapshot)
	}
	if len(g.Summary) > 0 {
		fmt.Fprintln(a.stdout, "changes:")
		for _, s := range g.Summary {
			fmt.Fprintf(a.stdout, "  %s\n", s)
		}
	}
	if len(g.Files) > 0 {
		fmt.Fprintln(a.stdout, "files with their previous state recorded:")
		for _, f := range g.Files {
			fmt.Fprintf(a.stdout, "  %s\n", f)
		}
	}
	fmt.Fprintln(a.stdout, "Ch-obolo:")
	for _, l := range strings.Split(strings.TrimRight(string(src), "\n"), "\n") {
		fmt.Fprintf(a.stdout, "  %s\n", l)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (a *app) diffGenerations(ctx context.Context, t transport.Transport, gens []engine.Generation, g1, g2 engine.Generation, o genOpts) error {
	d, err := chaos.DiffGenerations(ctx, t, gens, g1.N, g2.N)
	if err != nil {
		return err
	}
	if o.json {
		return a.printJSON(d)
	}
	st := engine.Style{Color: a.color(a.stdout)}
	fmt.Fprintf(a.stdout, "--- generation %d (%s)\n+++ generation %d (%s)\n", g1.N, g1.Time.Local().Format(time.DateTime),
		g2.N, g2.Time.Local().Format(time.DateTime))
	if d.Identical {
		fmt.Fprintln(a.stdout, "the Ch-obolos are identical")
	}
	for _, l := range d.Chobolo {
		switch l[0] {
		case '+':
			fmt.Fprintln(a.stdout, st.Paint("32", l))
		case '-':
			fmt.Fprintln(a.stdout, st.Paint("31", l))
		default:
			fmt.Fprintln(a.stdout, l)
		}
	}
	if len(d.Files) > 0 {
		fmt.Fprintf(a.stdout, "files changed by generations %d..%d:\n", min(g1.N, g2.N)+1, max(g1.N, g2.N))
		for _, f := range d.Files {
			fmt.Fprintf(a.stdout, "  %s\n", f)
		}
	}
	return nil
}
