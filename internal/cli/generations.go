package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// beginTarget runs before the plan of a real apply: it takes the host lock (held until release)
// and rolls back an apply that was interrupted on this host, so the plan starts from a clean
// state. It also records the resolved Ch-obolo for the journal and the generation. A dry run only
// warns about an interrupted apply.
func (a *app) beginTarget(ctx context.Context, eng *engine.Engine, t transport.Transport, c *chobolo.Chobolo,
	req *engine.Request, o applyOpts) (release func(), err error) {
	req.SourceFunc = func() []byte {
		src, _ := resolvedSource(c)
		return src
	}
	req.Snapshot = o.snapshot
	if err := o.tx.set(req); err != nil {
		return nil, err
	}
	if o.dry {
		if j, err := engine.ReadJournal(ctx, t); err == nil && j != nil {
			fmt.Fprintf(a.stderr, "%s: warning: an interrupted apply (journal %s, %s) will be rolled back first; the plan below does not account for it\n",
				t.Name(), j.ID, j.Started.Format(time.RFC3339))
		}
		if ws, err := engine.ReadWatchdog(ctx, t); err == nil && ws.State != "" {
			fmt.Fprintf(a.stderr, "%s: note: the access watchdog of apply %s is %s (the next apply reports and clears it)\n", t.Name(), ws.Journal, ws.State)
		}
		return func() {}, nil
	}
	lock, err := engine.LockHost(ctx, t, engine.LockOptions{})
	if err != nil {
		return nil, err
	}
	release, req.Lock = lock.Release, lock
	rec, err := eng.Recover(ctx, t, engine.RecoverOptions{Observe: req.Observe, Lock: lock})
	if err != nil {
		release()
		return nil, err
	}
	a.reportRecovery(t.Name(), rec, o.json)
	// After the recovery: an interrupted apply's journal is undone by this run, and its watchdog
	// then has nothing left to do.
	ws, err := engine.SettleWatchdog(ctx, t)
	a.reportWatchdog(t.Name(), ws, o, req.Observe)
	if err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func (a *app) reportRecovery(target string, rec *engine.Recovery, asJSON bool) {
	if rec == nil {
		return
	}
	if asJSON {
		a.jsonLine(map[string]any{"type": "recovered", "target": target, "recovery": rec})
		return
	}
	fmt.Fprintf(a.stdout, "%s: found the journal of an interrupted apply (%s, started %s, %d ops): %s",
		target, rec.Journal.ID, rec.Journal.Started.Local().Format(time.DateTime), len(rec.Journal.Entries), rec.Action)
	if rec.Action == "rolled back" {
		fmt.Fprintf(a.stdout, " (%s undone)", plural(rec.Undone, "op"))
	}
	fmt.Fprintln(a.stdout)
	for _, n := range rec.NotUndone {
		fmt.Fprintf(a.stderr, "  not undone: %s\n", n)
	}
	for _, e := range rec.Errors {
		fmt.Fprintf(a.stderr, "  %s\n", e)
	}
	for _, w := range rec.Warnings {
		fmt.Fprintf(a.stderr, "  warning: %s\n", w)
	}
}

func (a *app) reportGeneration(target string, res *engine.Result) {
	if res.Snapshot != "" {
		fmt.Fprintf(a.stdout, "%s: read-only btrfs snapshot of / before the apply: %s\n", target, res.Snapshot)
	}
	if res.Generation > 0 {
		fmt.Fprintf(a.stdout, "%s: recorded generation %d\n", target, res.Generation)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "%s: warning: %s\n", target, w)
	}
}

// resolvedSource is the Ch-obolo as one self-contained YAML document (imports resolved, no
// secrets: those live in the secrets file), as recorded in journals and generations. Sections that
// are declared but empty stay declared, since an empty full-state section means "none". Templates
// and key files the loader read are embedded as trailing comment lines, which loadSource serves
// back to the loader.
func resolvedSource(c *chobolo.Chobolo) ([]byte, error) {
	data, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	m := mapping()
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m = doc.Content[0]
	}
	doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}
	have := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		have[m.Content[i].Value] = m.Content[i+1]
	}
	if len(c.Repos.Extra) > 0 {
		repos := have["repos"]
		if repos == nil {
			repos = mapping()
			put(m, "repos", repos)
			have["repos"] = repos
		}
		for _, k := range sortedKeys(c.Repos.Extra) {
			put(repos, k, c.Repos.Extra[k])
		}
	}
	for _, k := range c.Keys() {
		if have[k] != nil {
			continue
		}
		if n, ok := c.Extra[k]; ok {
			put(m, k, n)
			continue
		}
		switch k {
		case "users", "packages", "baseOverride", "services", "files":
			put(m, k, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle})
		case "repos", "region":
			put(m, k, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	embed := map[string]string{}
	for _, f := range c.Files {
		if f.Template != "" {
			embed[f.Template] = f.TemplateText
		}
	}
	for _, r := range c.Repos.Apt {
		if r.KeyFile != "" {
			embed[r.KeyFile] = r.KeyText
		}
	}
	for _, k := range sortedKeys(embed) {
		out = fmt.Appendf(out, "%s %s %s\n", embeddedFile, base64.StdEncoding.EncodeToString([]byte(k)),
			base64.StdEncoding.EncodeToString([]byte(embed[k])))
	}
	return out, nil
}

const embeddedFile = "#chaos-embedded-file"

// sourceDir is the directory a recorded Ch-obolo is loaded from; its embedded files resolve in it.
const sourceDir = "/chaos-recorded"

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// loadSource loads a Ch-obolo recorded by resolvedSource (a generation's or a journal's).
func loadSource(what string, data []byte) (*chobolo.Chobolo, error) {
	files := map[string][]byte{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != embeddedFile {
			continue
		}
		name, err1 := base64.StdEncoding.DecodeString(f[1])
		content, err2 := base64.StdEncoding.DecodeString(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: a damaged embedded file line", what)
		}
		p := string(name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(sourceDir, p)
		}
		files[p] = content
	}
	read := func(p string) ([]byte, error) {
		if data, ok := files[filepath.Clean(p)]; ok {
			return data, nil
		}
		return nil, fmt.Errorf("%s is not recorded with the Ch-obolo", p)
	}
	c, err := chobolo.LoadBytes(sourceDir+"/chobolo.yml", data, chobolo.LoadOptions{ReadFile: read})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

type genOpts struct {
	target string
	json   bool
}

// openTarget opens --target for generations, rollback, recover and init --from: @local (default),
// @chroot/PATH, @pid/N or [user@]host[:port] over SSH (strict known_hosts). readOnly is for runs
// that write nothing to the target.
func (a *app) openTarget(ctx context.Context, spec string, readOnly bool) (transport.Transport, error) {
	if spec == "" {
		spec = "@local"
	}
	return a.openApplyTarget(ctx, spec, applyOpts{dry: readOnly})
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
			gens, err := engine.ReadGenerations(ctx, t)
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
				return a.diffGenerations(ctx, t, g[0], g[1], o)
			}
			return fmt.Errorf("unknown generations command %q (list, show N, diff N M)", args[0])
		},
	}
	cmd.Flags().StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
	return cmd
}

func (a *app) listGenerations(t transport.Transport, gens []engine.Generation, o genOpts) error {
	if o.json {
		if gens == nil {
			gens = []engine.Generation{}
		}
		return a.printJSON(gens)
	}
	if len(gens) == 0 {
		fmt.Fprintf(a.stdout, "%s: no generations recorded yet\n", t.Name())
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
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
	src, err := engine.ReadGenerationFile(ctx, t, g.N, "chobolo.yml")
	if err != nil {
		return err
	}
	if o.json {
		out := map[string]any{"generation": g, "chobolo": string(src)}
		for _, name := range []string{"facts", "plan", "journal"} {
			data, err := engine.ReadGenerationFile(ctx, t, g.N, name+".json")
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

func (a *app) diffGenerations(ctx context.Context, t transport.Transport, g1, g2 engine.Generation, o genOpts) error {
	s1, err := engine.ReadGenerationFile(ctx, t, g1.N, "chobolo.yml")
	if err != nil {
		return err
	}
	s2, err := engine.ReadGenerationFile(ctx, t, g2.N, "chobolo.yml")
	if err != nil {
		return err
	}
	lines := lineDiff(splitLines(string(s1)), splitLines(string(s2)))
	// The files touched by the generations in between (after g1 up to g2).
	lo, hi := min(g1.N, g2.N), max(g1.N, g2.N)
	gens, err := engine.ReadGenerations(ctx, t)
	if err != nil {
		return err
	}
	var files []string
	var between []int
	for _, g := range gens {
		if g.N > lo && g.N <= hi {
			between = append(between, g.N)
			for _, f := range g.Files {
				if !slices.Contains(files, f) {
					files = append(files, f)
				}
			}
		}
	}
	slices.Sort(files)
	if o.json {
		return a.printJSON(map[string]any{"from": g1.N, "to": g2.N, "chobolo": lines,
			"generations_between": between, "files": files, "identical": !hasChange(lines)})
	}
	st := engine.Style{Color: a.color(a.stdout)}
	fmt.Fprintf(a.stdout, "--- generation %d (%s)\n+++ generation %d (%s)\n", g1.N, g1.Time.Local().Format(time.DateTime),
		g2.N, g2.Time.Local().Format(time.DateTime))
	if !hasChange(lines) {
		fmt.Fprintln(a.stdout, "the Ch-obolos are identical")
	}
	for _, l := range lines {
		switch l[0] {
		case '+':
			fmt.Fprintln(a.stdout, st.Paint("32", l))
		case '-':
			fmt.Fprintln(a.stdout, st.Paint("31", l))
		default:
			fmt.Fprintln(a.stdout, l)
		}
	}
	if len(files) > 0 {
		fmt.Fprintf(a.stdout, "files changed by generations %d..%d:\n", lo+1, hi)
		for _, f := range files {
			fmt.Fprintf(a.stdout, "  %s\n", f)
		}
	}
	return nil
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func hasChange(lines []string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return l[0] == '+' || l[0] == '-' })
}

// lineDiff is a plain longest-common-subsequence diff: " " kept, "-" only in a, "+" only in b.
func lineDiff(a, b []string) []string {
	if len(a)*len(b) > 4_000_000 {
		var out []string
		for _, l := range a {
			out = append(out, "-"+l)
		}
		for _, l := range b {
			out = append(out, "+"+l)
		}
		return out
	}
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, " "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "-"+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+"+b[j])
	}
	return out
}

type rollbackOpts struct {
	target   string
	to       int
	dry      bool
	yes      bool
	json     bool
	pruneAll bool
	log      logFlags
	snapshot bool
	tx       txFlags
	access   accessFlags
}

func (a *app) rollbackCmd() *cobra.Command {
	var o rollbackOpts
	cmd := &cobra.Command{
		Use:   "rollback [--to N]",
		Short: "Go back to an earlier generation (default: the one before the latest)",
		Long: `Rollback restores generation N on a host: it puts back the previous content of every file the
later generations replaced (from their backups) and re-applies generation N's Ch-obolo
declaratively, as one journaled apply that is itself recorded as a new generation. Files whose
previous content was secret were never recorded; the Ch-obolo decides for them.`,
		Example: `  chaos rollback --target @chroot/mnt --dry
  chaos rollback --to 3 -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.rollback(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	f.IntVar(&o.to, "to", 0, "the generation to go back to (default: the one before the latest)")
	f.BoolVarP(&o.dry, "dry", "d", false, "show the plan and stop (exit 2 when changes are pending)")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (on a terminal chaos asks before any change; without one, removals need -y)")
	f.BoolVar(&o.pruneAll, "prune-all", false, "allow prunes that remove a large share of a domain")
	f.BoolVar(&o.json, "json", false, "machine-readable output")
	f.BoolVar(&o.snapshot, "snapshot", false, "restore the btrfs snapshot taken (apply --snapshot) right after generation N instead: it becomes the default subvolume for the next boot")
	o.log.register(f)
	o.tx.register(f)
	o.access.register(f)
	return cmd
}

// rollbackSnapshot restores, for the next boot, the btrfs snapshot that holds the state right after
// generation `to`: the one the next generation's `apply --snapshot` took before it ran.
func (a *app) rollbackSnapshot(ctx context.Context, t transport.Transport, gens []engine.Generation, to int, o rollbackOpts) error {
	var snap string
	for _, g := range gens {
		if g.N > to {
			snap = g.Snapshot
			if snap == "" {
				return fmt.Errorf("%s: generation %d was applied without --snapshot: no snapshot of the state after generation %d", t.Name(), g.N, to)
			}
			break
		}
	}
	if snap == "" {
		return fmt.Errorf("%s: generation %d is the latest: nothing to restore", t.Name(), to)
	}
	fmt.Fprintf(a.stdout, "%s: restore %s (the state right after generation %d) as the default btrfs subvolume for the next boot\n", t.Name(), snap, to)
	if err := engine.CheckSnapshotBoot(ctx, t); err != nil {
		return err
	}
	if o.dry {
		return ExitError{Code: 2}
	}
	if !o.yes {
		return fmt.Errorf("%s: rollback --snapshot changes the default subvolume; refusing without -y", t.Name())
	}
	r, err := engine.RestoreSnapshot(ctx, t, snap)
	if err != nil {
		return err
	}
	if r.Fstab != "" {
		fmt.Fprintf(a.stdout, "%s: %s/etc/fstab mounts it as /: %s\n", t.Name(), r.Path, r.Fstab)
	}
	fmt.Fprintf(a.stdout, "%s: %s (subvolume %d) is now the default subvolume: reboot (or mount the filesystem without subvol=) to use it\n", t.Name(), r.Path, atoiOr(r.ID))
	return nil
}

func atoiOr(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (a *app) rollback(ctx context.Context, o rollbackOpts) (retErr error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	if err := o.access.check(); err != nil {
		return err
	}
	o.log.start(ctx, a, cfg, "rollback", o.dry)
	defer func() { o.log.finish(a, retErr, o.json) }()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := a.openTarget(ctx, o.target, o.dry)
	if err != nil {
		return err
	}
	defer t.Close()
	eng := &engine.Engine{Registry: a.registry}
	st := engine.Style{Color: a.color(a.stdout) && !o.json}
	req := engine.Request{Assume: o.yes, PruneAll: o.pruneAll, ReadOnly: o.dry}
	if err := o.tx.set(&req); err != nil {
		return err
	}
	if o.json {
		req.Observe = func(ev engine.Event) { a.jsonLine(ev) }
	} else {
		req.Observe = a.progress(st, a.verbose)
	}
	req.Observe = o.log.observe(req.Observe)
	// On a terminal without -y, the question is asked on a read-only plan before the host lock, as
	// apply does (applyTarget): answering no leaves the target untouched.
	var shown *engine.HostPlan
	if !o.dry && !o.yes && !o.snapshot && a.terminal() {
		rreq := req
		rreq.ReadOnly = true
		hp, g, err := a.planRollback(ctx, eng, t, o, &rreq)
		if err != nil {
			return err
		}
		if !hp.Empty() { // nothing to ask about otherwise: the run goes on as without a terminal
			a.showRollback(hp, g, o, st)
			if err := a.confirm(hp, applyOpts{yes: o.yes, pruneAll: o.pruneAll, json: o.json}); err != nil {
				return err
			}
			shown = hp
		}
	}
	ao := applyOpts{access: o.access, json: o.json, dry: o.dry}
	release := func() {}
	if !o.dry {
		lock, err := engine.LockHost(ctx, t, engine.LockOptions{})
		if err != nil {
			return err
		}
		release, req.Lock = lock.Release, lock
		defer release()
		rec, err := eng.Recover(ctx, t, engine.RecoverOptions{Observe: req.Observe, Lock: lock})
		if err != nil {
			return err
		}
		a.reportRecovery(t.Name(), rec, o.json)
		ws, err := engine.SettleWatchdog(ctx, t)
		a.reportWatchdog(t.Name(), ws, ao, req.Observe)
		if err != nil {
			return err
		}
	}
	if o.snapshot {
		gens, to, err := rollbackTarget(ctx, t, o)
		if err != nil {
			return err
		}
		return a.rollbackSnapshot(ctx, t, gens, to, o)
	}
	hp, g, err := a.planRollback(ctx, eng, t, o, &req)
	if err != nil {
		return err
	}
	if shown != nil {
		if !samePlan(shown, hp) {
			a.showRollback(hp, g, o, st)
			return fmt.Errorf("%s: the target changed after the plan above was shown: nothing applied; run chaos rollback again", hp.Target)
		}
	} else {
		empty := a.showRollback(hp, g, o, st)
		if o.dry {
			if !empty {
				return ExitError{Code: 2}
			}
			return nil
		}
		if err := a.confirm(hp, applyOpts{yes: o.yes, pruneAll: o.pruneAll, json: o.json}); err != nil {
			return err
		}
	}
	if req.Watchdog, err = a.accessCheck(t, hp, ao); err != nil {
		return err
	}
	res, err := eng.Apply(ctx, t, hp, req)
	if err != nil {
		if res != nil && (res.RolledBack || len(res.NotUndone) > 0) {
			fmt.Fprintf(a.stderr, "%s: rollback failed and was undone (%s)\n", hp.Target, plural(res.Ops, "op"))
			for _, n := range res.NotUndone {
				fmt.Fprintf(a.stderr, "  not undone: %s\n", n)
			}
			for _, u := range res.UndoErrors {
				fmt.Fprintf(a.stderr, "  %s\n", u)
			}
		}
		return err
	}
	if o.json {
		a.jsonLine(map[string]any{"type": "result", "result": res})
	} else {
		fmt.Fprintf(a.stdout, "%s: rolled back to generation %d: %s (%s) in %s\n", hp.Target, g.N, plural(res.Changed, "change"),
			plural(res.Ops, "op"), res.Elapsed.Round(time.Millisecond))
		a.reportGeneration(hp.Target, res)
	}
	if res.Watchdog != "" { // as after an apply (applyTarget)
		release()
		_ = t.Close()
		spec := o.target
		if spec == "" {
			spec = "@local"
		}
		return a.confirmAccess(ctx, spec, hp.Target, res.Watchdog, ao, req.Observe)
	}
	return nil
}

// rollbackTarget reads the generations of t and picks the one to go back to (--to, else the one
// before the latest).
func rollbackTarget(ctx context.Context, t transport.Transport, o rollbackOpts) ([]engine.Generation, int, error) {
	gens, err := engine.ReadGenerations(ctx, t)
	if err != nil {
		return nil, 0, err
	}
	if len(gens) == 0 {
		return nil, 0, fmt.Errorf("%s: no generations recorded: nothing to roll back to", t.Name())
	}
	to := o.to
	if to == 0 {
		if len(gens) < 2 {
			return nil, 0, fmt.Errorf("%s: only generation %d is recorded: nothing before it (use --to N)", t.Name(), gens[0].N)
		}
		to = gens[len(gens)-2].N
	}
	g, err := engine.FindGeneration(gens, to)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return gens, g.N, nil
}

// planRollback plans the rollback to the chosen generation: its files restored from their
// backups, then its Ch-obolo applied. It fills req's Chobolo, Tags, Source and Record.
func (a *app) planRollback(ctx context.Context, eng *engine.Engine, t transport.Transport, o rollbackOpts,
	req *engine.Request) (*engine.HostPlan, engine.Generation, error) {
	gens, to, err := rollbackTarget(ctx, t, o)
	if err != nil {
		return nil, engine.Generation{}, err
	}
	g, _ := engine.FindGeneration(gens, to)
	src, err := engine.ReadGenerationFile(ctx, t, g.N, "chobolo.yml")
	if err != nil {
		return nil, g, err
	}
	c, err := loadSource(fmt.Sprintf("generation %d", g.N), src)
	if err != nil {
		return nil, g, err
	}
	files, err := eng.RollbackFiles(ctx, t, g.N)
	if err != nil {
		return nil, g, err
	}
	req.Chobolo, req.Tags, req.Source = c, g.Tags, src
	req.Record = engine.RecordOptions{Kind: "rollback", Of: g.N}
	hp, err := eng.Plan(ctx, t, *req)
	if err != nil {
		return nil, g, err
	}
	engine.LeaveToRoles(files, hp.Roles)
	if !files.Empty() || len(files.Notes) > 0 {
		hp.Roles = append([]*engine.RolePlan{files}, hp.Roles...)
	}
	return hp, g, nil
}

// showRollback prints a rollback's plan (a JSON line with --json) and reports whether it is empty.
func (a *app) showRollback(hp *engine.HostPlan, g engine.Generation, o rollbackOpts, st engine.Style) (empty bool) {
	if o.json {
		a.jsonLine(map[string]any{"type": "plan", "target": hp.Target, "rollback_to": g.N, "changes": hp.Changes(), "plan": hp})
	} else {
		fmt.Fprintf(a.stdout, "%s: rollback to generation %d (%s)\n", hp.Target, g.N, g.Time.Local().Format(time.DateTime))
		engine.RenderPlan(a.stdout, hp, st)
		fmt.Fprintf(a.stdout, "%s: %s\n", hp.Target, engine.Summary(hp))
	}
	return hp.Empty()
}

type recoverOpts struct {
	target string
	resume bool
	yes    bool
	json   bool
	tx     txFlags
}

func (a *app) recoverCmd() *cobra.Command {
	var o recoverOpts
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Finish an interrupted apply: roll it back (default) or forward (--resume)",
		Long: `If chaos was killed in the middle of an apply (SIGKILL, lost connection, power loss), the host
keeps the journal of that apply in /var/lib/chaos/journal. recover runs the inverses of its ops in
reverse order, leaving the host as it was before that apply. With --resume it keeps what was done
and applies the interrupted apply's Ch-obolo again instead. ` + "`chaos apply`" + ` recovers by itself
(rolling back) before planning.`,
		Example: `  chaos recover --target @chroot/mnt
  chaos recover --resume -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.recover(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	f.BoolVar(&o.resume, "resume", false, "roll forward: re-apply the interrupted apply's Ch-obolo")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (with --resume; on a terminal chaos asks before any change)")
	f.BoolVar(&o.json, "json", false, "machine-readable output")
	o.tx.register(f)
	return cmd
}

func (a *app) recover(ctx context.Context, o recoverOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := a.openTarget(ctx, o.target, false)
	if err != nil {
		return err
	}
	defer t.Close()
	eng := &engine.Engine{Registry: a.registry}
	lock, err := engine.LockHost(ctx, t, engine.LockOptions{})
	if err != nil {
		return err
	}
	defer lock.Release()
	rec, err := eng.Recover(ctx, t, engine.RecoverOptions{Resume: o.resume, Lock: lock})
	if err != nil {
		return err
	}
	ws, err := engine.SettleWatchdog(ctx, t)
	a.reportWatchdog(t.Name(), ws, applyOpts{json: o.json}, nil)
	if err != nil {
		return err
	}
	if rec == nil {
		if o.json {
			a.jsonLine(map[string]any{"type": "recovered", "target": t.Name(), "recovery": nil})
		} else {
			fmt.Fprintf(a.stdout, "%s: no interrupted apply: nothing to recover\n", t.Name())
		}
		return nil
	}
	a.reportRecovery(t.Name(), rec, o.json)
	if rec.Action != "resume" {
		if len(rec.Errors) > 0 {
			return ExitError{Code: 1}
		}
		return nil
	}
	c, err := loadSource("the interrupted apply's Ch-obolo", rec.Source)
	if err != nil {
		return err
	}
	st := engine.Style{Color: a.color(a.stdout) && !o.json}
	ao := applyOpts{yes: o.yes, json: o.json, tx: o.tx}
	lock.Release() // the apply takes it again through its own transport (the lock is not re-entrant)
	_, err = a.applyTarget(ctx, eng, t.Name(), c, rec.Journal.Tags, ao, st)
	return err
}
