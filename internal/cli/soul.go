package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

func (a *app) soulCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "soul",
		Short: "List, inspect, create and test Souls (plugins in any language)",
		Long: `Souls are plugins: a directory with soul.yaml and an executable, installed by copying it into
$CHAOS_SOUL_PATH, ~/.local/share/chaos/souls or /usr/share/chaos/souls. Their roles work like the
built-in ones. See docs/souls.md.`,
	}
	cmd.AddCommand(a.soulListCmd(), a.soulInfoCmd(), a.soulNewCmd(), a.soulTestCmd())
	return cmd
}

// soulEntry is one Soul in `soul list` and `soul info`.
type soulEntry struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Path     string   `json:"path"`
	About    string   `json:"about,omitempty"`
	Provides []string `json:"provides"`
}

func entryOf(s *souls.Soul) soulEntry {
	m := s.Manifest
	var p []string
	for _, r := range m.Roles {
		p = append(p, "role "+r.Name)
	}
	for _, k := range []struct {
		kind  string
		specs []string
	}{{"boat", names(m.Boats)}, {"provider", names(m.Providers)}, {"logbook sink", names(m.Limanis)}, {"chimera back end", names(m.Chimera)}} {
		for _, n := range k.specs {
			p = append(p, k.kind+" "+n)
		}
	}
	for _, al := range slices.Sorted(maps.Keys(m.Aliases)) {
		p = append(p, "alias "+al)
	}
	return soulEntry{Name: m.Name, Version: m.Version, Path: s.Dir, About: m.About, Provides: p}
}

func names(specs []soul.KindSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

func (a *app) soulListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the installed Souls: name, version, path and what each provides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			entries := []soulEntry{}
			for _, s := range a.souls.List() {
				entries = append(entries, entryOf(s))
			}
			return a.reporter(asJSON).Show(entries, func(w io.Writer) error {
				if len(entries) == 0 {
					fmt.Fprintf(w, "no Souls installed (searched %s)\n", strings.Join(souls.Paths(), ", "))
				}
				for _, e := range entries {
					fmt.Fprintf(w, "%-16s %-10s %s\n    provides: %s\n", e.Name, e.Version, e.Path, strings.Join(e.Provides, ", "))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) soulInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "info NAME",
		Short:             "Show an installed Soul's manifest",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeSouls,
		RunE: func(cmd *cobra.Command, args []string) error {
			i := slices.IndexFunc(a.souls.List(), func(s *souls.Soul) bool { return s.Manifest.Name == args[0] })
			if i < 0 {
				var known []string
				for _, s := range a.souls.List() {
					known = append(known, s.Manifest.Name)
				}
				return fmt.Errorf("no Soul named %q is installed%s (see `chaos soul list`)", args[0], chobolo.DidYouMean(args[0], known))
			}
			s := a.souls.List()[i]
			info := struct {
				soulEntry
				File     string `json:"file"`
				Manifest any    `json:"manifest"`
			}{entryOf(s), s.File, s.Manifest}
			return a.reporter(asJSON).Show(info, func(w io.Writer) error {
				m := s.Manifest
				fmt.Fprintf(w, "%s %s (protocol %d)\n%s\nmanifest: %s\nexec: %s\n", m.Name, m.Version, m.Protocol, m.About, s.File, strings.Join(m.Exec, " "))
				for _, r := range m.Roles {
					fmt.Fprintf(w, "role %s: %s\n    keys: %s", r.Name, r.Summary, strings.Join(r.Keys, ", "))
					if len(r.Aliases) > 0 {
						fmt.Fprintf(w, "; aliases: %s", strings.Join(r.Aliases, ", "))
					}
					if len(r.Secrets) > 0 {
						fmt.Fprintf(w, "; secrets: %s", strings.Join(r.Secrets, ", "))
					}
					if len(r.Domains) > 0 {
						fmt.Fprintf(w, "; ledger domains: %s", strings.Join(r.Domains, ", "))
					}
					fmt.Fprintln(w)
				}
				for _, p := range entryOf(s).Provides {
					if !strings.HasPrefix(p, "role ") {
						fmt.Fprintln(w, p)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) soulNewCmd() *cobra.Command {
	var lang, out string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write a new Soul that passes chaos soul test as written",
		Example: `  chaos soul new motd --lang python
  chaos soul new motd --lang go -o ~/src/motd && (cd ~/src/motd && go build -o motd .)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := out
			if dir == "" {
				dir = args[0]
			}
			if err := souls.Scaffold(dir, args[0], lang); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "wrote the %s Soul %s in %s; check it with: chaos soul test %s\n", lang, args[0], dir, dir)
			if lang == "go" {
				fmt.Fprintf(a.stderr, "build it first: (cd %s && go build -o %s .)\n", dir, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "go", "language: "+strings.Join(souls.Languages, ", "))
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to create (default: NAME)")
	_ = cmd.RegisterFlagCompletionFunc("lang", cobra.FixedCompletions(souls.Languages, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) soulTestCmd() *cobra.Command {
	var root string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Check a Soul against the protocol (its probes run on a read-only overlay of a real root)",
		Long: `Checks the Soul in DIR: its manifest; that its roles take no built-in role's name or key; that
its boilerplate passes its schemas; that its process answers role.probe and role.plan for each role
with the boilerplate's keys against the root file system ROOT (default /), run through chaos's own
engine on an overlay of ROOT (nothing reaches ROOT; a probe that writes anything fails the test);
that the plan's ops are valid; and that one process served the whole run. Needs root (overlayfs).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			checks, err := souls.Conformance(cmd.Context(), args[0], root, builtin.Roles())
			if asJSON {
				if jerr := a.printJSON(map[string]any{"ok": err == nil, "checks": checks}); jerr != nil {
					return jerr
				}
				if err != nil {
					return ExitError{Code: 1}
				}
				return nil
			}
			for _, c := range checks {
				mark := "ok  "
				if !c.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(a.stdout, "%s %s: %s\n", mark, c.Name, c.Detail)
			}
			if err != nil {
				return fmt.Errorf("soul test %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "%s passes\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "the root file system the probes run against (read-only overlay)")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

// soulExplanations are the installed Souls' `chaos explain` topics; a topic chaos has already
// keeps chaos's text.
func (a *app) soulExplanations() map[string]string {
	out := map[string]string{}
	for _, s := range a.souls.List() {
		ex, err := s.Explanations()
		if err != nil {
			fmt.Fprintln(a.stderr, "chaos: warning: "+err.Error())
			continue
		}
		maps.Copy(out, ex)
	}
	return out
}

// soulBoilerplate is what `init chobolo` adds for the installed Souls.
func (a *app) soulBoilerplate() string {
	var b strings.Builder
	for _, s := range a.souls.List() {
		text, err := s.Boilerplate()
		if err != nil {
			fmt.Fprintln(a.stderr, "chaos: warning: "+err.Error())
			continue
		}
		if text != "" {
			b.WriteString("\n" + strings.TrimRight(text, "\n") + "\n")
		}
	}
	return b.String()
}

// schema is the Ch-obolo's JSON Schema with the installed Souls' keys.
func (a *app) schema() ([]byte, error) {
	base := chobolo.Schema()
	var extra map[string]any
	for _, r := range a.registry.All() {
		if sr, ok := r.(*souls.Role); ok {
			if extra == nil {
				extra = map[string]any{}
			}
			maps.Copy(extra, sr.KeySchemas())
		}
	}
	if extra == nil {
		return base, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, err
	}
	props, _ := doc["properties"].(map[string]any)
	for k, v := range extra {
		if _, ok := props[k]; !ok {
			props[k] = v
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

// tagAliases are the aliases tags resolve through (alias -> space-separated tags), with where each
// is defined: the installed Souls' (soul.yaml's aliases), then the user's from config.yml, which
// win.
func (a *app) tagAliases() (map[string]string, map[string]chobolo.Pos, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	al, pos := a.souls.Aliases()
	maps.Copy(al, cfg.Aliases)
	maps.Copy(pos, cfg.AliasPos)
	return al, pos, nil
}

// completeSouls completes an installed Soul's name.
func (a *app) completeSouls(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	if len(args) == 0 {
		for _, s := range a.souls.List() {
			out = append(out, cobra.CompletionWithDesc(s.Manifest.Name, s.Manifest.About))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
