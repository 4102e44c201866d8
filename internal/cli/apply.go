package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

type applyOpts struct {
	targets  []string
	dry      bool
	yes      bool
	json     bool
	core     string
	pruneAll bool
	// secrets is -s (with -sf, -ss, -p): decrypt the secrets file in memory for the roles.
	secrets    secretFlags
	useSecrets bool
	store      engine.SecretStore
	// allowBootloaderInstall lets the bootloader role run grub-install/bootctl/refind-install in a chroot.
	allowBootloaderInstall bool
	// fleet is --fleet, --limit, --serial and the SSH options (fleet.go).
	fleet fleetFlags
	// log is --logbook, --limani, --no-logbook and the run being recorded (logbook.go).
	log logFlags
	// snapshot is --snapshot: a read-only btrfs snapshot of / before the apply (generations.go).
	snapshot bool
	// tx is --keep-generations, --generations-max-size and --force-remove (retention.go).
	tx txFlags
	// access is --no-confirm-access and --confirm-timeout (access.go).
	access accessFlags
}

func (a *app) applyCmd() *cobra.Command {
	var o applyOpts
	cmd := &cobra.Command{
		Use:   "apply [ROLES...]",
		Short: "Make targets match the Ch-obolo (plan, confirm, apply)",
		Long: `Apply probes each target once, computes every selected role's plan and executes it.
Without ROLES, every role with data in the Ch-obolo runs. Roles may be given by name or alias.

Exit codes: 0 done (or, with --dry, nothing to do); 2 with --dry when changes are pending; 1 on error.`,
		Example: `  chaos apply -c machine.yml --dry
  chaos apply users packages -c machine.yml -y
  chaos apply -c machine.yml --target @chroot/mnt`,
		RunE:              func(cmd *cobra.Command, args []string) error { return a.apply(cmd.Context(), args, o) },
		ValidArgsFunction: a.completeRoles,
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "target: @local (default), @chroot/PATH (a root file system other than /), @pid/N or [user@]host[:port]; repeatable")
	f.BoolVarP(&o.dry, "dry", "d", false, "show the plan and stop (exit 2 when changes are pending)")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (on a terminal chaos asks before any change; without one, removals need -y)")
	f.BoolVar(&o.yes, "i-know-what-im-doing", false, "same as --yes")
	f.BoolVar(&o.json, "json", false, "machine-readable output: the plan as JSON, events as JSON lines")
	f.StringVar(&o.core, "core", "", "force the core: debian, arch or fedora")
	f.BoolVar(&o.pruneAll, "prune-all", false, "allow prunes that remove a large share of a domain")
	f.BoolVarP(&o.useSecrets, "secrets", "s", false, "decrypt the secrets file (in memory) and hand it to the roles (user passwords)")
	o.secrets.register(f)
	f.BoolVar(&o.allowBootloaderInstall, "allow-bootloader-install", false, "let the bootloader role install a boot loader inside a chroot (Arch)")
	o.fleet.register(f)
	o.log.register(f)
	f.BoolVar(&o.snapshot, "snapshot", false, "take a read-only btrfs snapshot of / before applying (refused when / is not on btrfs)")
	o.tx.register(f)
	o.access.register(f)
	return cmd
}

func (a *app) loadChobolo() (*chobolo.Chobolo, error) {
	path, err := a.choboloPath()
	if err != nil {
		return nil, err
	}
	c, err := chobolo.Load(path, chobolo.LoadOptions{})
	if c != nil {
		for _, w := range c.Warnings {
			fmt.Fprintln(a.stderr, w.String())
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// resolveTags expands user aliases from config.yml (alias -> space-separated tags, recursively)
// and refuses, before anything is contacted, a tag that names no role: one given on the command
// line with the closest role, built-in alias or user alias when it looks like a typo, one in an
// alias's expansion at its place in config.yml.
func (a *app) resolveTags(args []string, cfg *Config) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(tag string, chain []string) error
	walk = func(tag string, chain []string) error {
		for _, c := range chain {
			if c == tag {
				return fmt.Errorf("alias cycle: %s -> %s", strings.Join(chain, " -> "), tag)
			}
		}
		if exp, ok := cfg.Aliases[tag]; ok {
			for _, t := range strings.Fields(exp) {
				if err := walk(t, append(chain, tag)); err != nil {
					return err
				}
			}
			return nil
		}
		if a.registry.Canonical(tag) == "" {
			var known []string
			for _, r := range a.registry.All() {
				known = append(append(known, r.Meta().Name), r.Meta().Aliases...)
			}
			if len(chain) > 0 {
				alias := chain[len(chain)-1]
				return fmt.Errorf("%s: alias %q: unknown role or alias %q%s (see `chaos check roles`)",
					cfg.aliasPos[alias], alias, tag, chobolo.DidYouMean(tag, slices.Concat(known, slices.Sorted(maps.Keys(cfg.Aliases)))))
			}
			return fmt.Errorf("unknown role or alias %q%s (see `chaos check roles` and `chaos check aliases`)",
				tag, chobolo.DidYouMean(tag, slices.Concat(known, slices.Sorted(maps.Keys(cfg.Aliases)))))
		}
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
		return nil
	}
	for _, a := range args {
		if err := walk(a, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *app) apply(ctx context.Context, args []string, o applyOpts) (retErr error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every --target is checked before anything else happens: a bad spelling stops the whole run.
	for _, spec := range o.targets {
		if _, err := transport.ParseSpec(spec); err != nil {
			return err
		}
	}
	if err := o.access.check(); err != nil {
		return err
	}
	c, err := a.loadChobolo()
	if err != nil {
		return err
	}
	// What no host can make valid (two roles managing one path, a reserved path, a fleet host
	// chaos cannot connect to, ...): refused before any target is touched, with every problem. The
	// roles' checks need the core: without one the engine runs them as soon as the probe tells it.
	if err := a.checkStatic(c, cmp.Or(o.core, c.Core), false); err != nil {
		return err
	}
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	// A mistyped role is refused (with a suggestion) before secrets are decrypted or a target is
	// contacted.
	tags, err := a.resolveTags(args, cfg)
	if err != nil {
		return err
	}
	if o.useSecrets || o.secrets.file != "" || o.secrets.provider != "" {
		// Decrypted before any target is touched: a bad key or a tampered file applies nothing.
		v, err := a.loadApplySecrets(ctx, o.secrets, c)
		if err != nil {
			return err
		}
		o.store = v
	}
	// Every run goes to the logbook (logbook.go); a logbook problem never fails the apply.
	o.log.start(ctx, a, cfg, "apply", o.dry)
	defer func() { o.log.finish(a, retErr, o.json) }()
	// An @terraform target is the hosts its output names, each applied to as an SSH target.
	expanded, err := fleet.ExpandTargets(ctx, o.targets)
	if err != nil {
		return err
	}
	o.targets = expanded
	if isFleet, err := a.prepareFleet(ctx, c, &o); err != nil || isFleet {
		if err != nil {
			return err
		}
		return a.applyFleet(ctx, c, tags, o)
	}
	targets := o.targets
	if len(targets) == 0 {
		targets = []string{"@local"}
	}
	eng := &engine.Engine{Registry: a.registry}
	st := engine.Style{Color: a.color(a.stdout) && !o.json}
	failed, pending := 0, false
	for _, spec := range targets {
		changed, err := a.applyTarget(ctx, eng, spec, c, tags, o, st)
		if changed {
			pending = true
		}
		if err != nil {
			failed++
			if o.json {
				a.jsonLine(map[string]any{"type": "error", "target": spec, "error": err.Error()})
			} else {
				fmt.Fprintf(a.stderr, "chaos: %s\n", printable.Text(err.Error()))
			}
		}
	}
	switch {
	case failed > 0:
		return ExitError{Code: 1}
	case o.dry && pending:
		return ExitError{Code: 2}
	}
	return nil
}

func (a *app) jsonLine(v any) {
	data, _ := json.Marshal(v)
	fmt.Fprintln(a.stdout, string(data))
}

// applyTarget plans and (unless dry) applies one target. It reports whether changes were pending.
func (a *app) applyTarget(ctx context.Context, eng *engine.Engine, spec string, c *chobolo.Chobolo, tags []string,
	o applyOpts, st engine.Style) (bool, error) {
	t, err := a.openApplyTarget(ctx, spec, o)
	if err != nil {
		return false, err
	}
	defer t.Close()
	var watchdog *engine.WatchdogOptions
	req := engine.Request{Chobolo: c, Tags: tags, Core: o.core, Assume: o.yes, PruneAll: o.pruneAll, ReadOnly: o.dry,
		Allow: map[string]bool{"bootloader-install": o.allowBootloaderInstall}}
	req.Secrets = o.store
	req.Skip = o.fleet.skip
	if o.json {
		req.Observe = func(ev engine.Event) { a.jsonLine(ev) }
	} else {
		req.Observe = a.progress(st, a.verbose)
	}
	req.Observe = o.log.observe(req.Observe)
	if f := o.fleet.observe; f != nil { // a fleet run's progress (progress.go)
		next := req.Observe
		req.Observe = func(ev engine.Event) { f(ev); next(ev) }
	}
	// On a terminal without -y, the question comes before the host lock, on the plan of a read-only
	// probe, so that answering no leaves the target untouched. After a yes the plan is made again
	// under the lock (after recovery), and only the plan that was shown is applied.
	var shown *engine.HostPlan
	if !o.dry && !o.yes && a.terminal() {
		ro, rreq := o, req
		ro.dry, rreq.ReadOnly = true, true
		if _, err := a.beginTarget(ctx, eng, t, c, &rreq, ro); err != nil {
			return false, err
		}
		hp, err := eng.Plan(ctx, t, rreq)
		if err != nil {
			return false, err
		}
		if a.showPlan(hp, o, st) {
			return false, nil
		}
		if watchdog, err = a.accessCheck(t, hp, o); err != nil {
			return true, err
		}
		if err := a.confirm(hp, o); err != nil {
			return true, err
		}
		shown = hp
	}
	// The host lock, then recovery of an interrupted apply, before anything else (generations.go).
	lockRelease, err := a.beginTarget(ctx, eng, t, c, &req, o)
	if err != nil {
		return false, err
	}
	release := sync.OnceFunc(lockRelease)
	defer release()
	hp, err := eng.Plan(ctx, t, req)
	if err != nil {
		return false, err
	}
	if shown != nil {
		if !samePlan(shown, hp) {
			a.showPlan(hp, o, st)
			return true, fmt.Errorf("%s: the target changed after the plan above was shown: nothing applied; run chaos apply again", hp.Target)
		}
	} else {
		if a.showPlan(hp, o, st) {
			return false, nil
		}
		if watchdog, err = a.accessCheck(t, hp, o); err != nil || o.dry {
			return true, err
		}
		if err := a.confirm(hp, o); err != nil {
			return true, err
		}
	}
	req.Watchdog = watchdog
	res, err := eng.Apply(ctx, t, hp, req)
	if err != nil {
		if res != nil && (res.RolledBack || len(res.NotUndone) > 0) {
			msg := fmt.Sprintf("%s: failed, rolled back %s", hp.Target, plural(res.Ops, "op"))
			if len(res.NotUndone) > 0 {
				msg = fmt.Sprintf("%s: failed, rolled back only in part: these ops cannot be undone and their effect stays:\n  %s",
					hp.Target, strings.Join(res.NotUndone, "\n  "))
			}
			if len(res.UndoErrors) > 0 {
				msg += "; undo problems:\n  " + strings.Join(res.UndoErrors, "\n  ")
			}
			fmt.Fprintln(a.stderr, msg)
		}
		return true, err
	}
	if o.json {
		a.jsonLine(map[string]any{"type": "result", "result": res})
	} else {
		fmt.Fprintf(a.stdout, "%s: applied %s (%s) in %s\n", hp.Target, plural(res.Changed, "change"),
			plural(res.Ops, "op"), res.Elapsed.Round(time.Millisecond))
		a.reportGeneration(hp.Target, res)
	}
	if res.Watchdog != "" {
		// The lock and the apply's connection go first: the fresh connection must stand alone,
		// and the host's watchdog counts its time from the lock's release.
		release()
		_ = t.Close()
		return true, a.confirmAccess(ctx, spec, hp.Target, res.Watchdog, o, req.Observe)
	}
	return true, nil
}

// showPlan prints the plan (a JSON line with --json) and reports whether it is empty.
func (a *app) showPlan(hp *engine.HostPlan, o applyOpts, st engine.Style) (empty bool) {
	if o.fleet.onPlan != nil {
		o.fleet.onPlan(hp)
	}
	if o.json {
		a.jsonLine(map[string]any{"type": "plan", "target": hp.Target, "changes": hp.Changes(), "plan": hp})
	}
	if hp.Empty() {
		if !o.json {
			fmt.Fprintf(a.stdout, "%s: no changes (probe %s)\n", hp.Target, hp.ProbeTime.Round(time.Millisecond))
			if a.verbose > 0 {
				engine.RenderPlan(a.stdout, hp, st)
			}
		}
		return true
	}
	if !o.json {
		engine.RenderPlan(a.stdout, hp, st)
		fmt.Fprintf(a.stdout, "%s: %s\n", hp.Target, engine.Summary(hp))
	}
	return false
}

// samePlan reports whether two plans of one target do the same (roles, steps, ops, notes).
func samePlan(a, b *engine.HostPlan) bool {
	ja, err1 := json.Marshal([]any{a.Roles, a.Notes})
	jb, err2 := json.Marshal([]any{b.Roles, b.Notes})
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// confirm decides whether a plan with changes is applied. On a terminal (stdin and stdout) it asks
// before any change, under the plan and its summary line, unless -y; without one, removals need -y
// (a script never removes by surprise) and the rest applies. A guarded prune (a large share of a
// domain) needs an explicit yes even with -y, or --prune-all.
func (a *app) confirm(hp *engine.HostPlan, o applyOpts) error {
	var guards []string
	if !o.pruneAll {
		guards = hp.Guards()
	}
	if !a.terminal() {
		var reasons []string
		flags := "-y"
		switch {
		case len(guards) > 0:
			reasons, flags = guards, "-y and --prune-all"
		case hp.Removes() && !o.yes:
			reasons = []string{"the plan removes things"}
		default:
			return nil
		}
		return fmt.Errorf("%s: %s; refusing without confirmation (use %s)", hp.Target, strings.Join(reasons, "; "), flags)
	}
	if o.yes && len(guards) == 0 {
		return nil
	}
	out := a.stdout
	if o.json { // stdout is JSON lines: the question and the summary it refers to go to stderr
		out = a.stderr
		fmt.Fprintf(out, "%s: %s\n", hp.Target, engine.Summary(hp))
	}
	if len(guards) > 0 {
		fmt.Fprintf(out, "%s: %s\n", hp.Target, strings.Join(guards, "; "))
	}
	fmt.Fprint(out, "Apply these changes? [y/N] ")
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return fmt.Errorf("%s: not applied", hp.Target)
	}
	return nil
}

// progress prints one line per finished op (and per undo); on a terminal, a long op shows it is
// still running (liveness.go).
func (a *app) progress(st engine.Style, verbose int) func(engine.Event) {
	live := a.stillRunning() // nil unless stdout is a terminal
	return func(ev engine.Event) {
		switch ev.Type {
		case engine.EventOpStart:
			if live != nil {
				live.start(ev.Role, ev.Op)
			}
		case engine.EventOpEnd:
			if live != nil {
				live.end()
			}
			mark := st.Paint("32", "ok")
			if ev.Error != "" {
				mark = st.Paint("31", "FAILED")
			}
			fmt.Fprintf(a.stdout, "  %s %s: %s (%s)\n", mark, ev.Role, printable.Line(ev.Op), ev.Duration.Round(time.Millisecond))
			if ev.Error != "" && verbose > 0 {
				fmt.Fprintf(a.stdout, "     %s\n", printable.Text(ev.Error))
			}
		case engine.EventUndo:
			fmt.Fprintf(a.stdout, "  %s %s: %s\n", st.Paint("33", "undo"), ev.Role, printable.Line(ev.Op))
		case engine.EventReplanned:
			// The plan of this role changed after earlier roles ran (engine.Settler): say how.
			for _, n := range ev.Notes {
				fmt.Fprintf(a.stdout, "  %s %s: %s\n", st.Paint("33", "re-planned"), ev.Role, printable.Line(n))
			}
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
