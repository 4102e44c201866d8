package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
)

func (a *app) checkCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:       "check roles|aliases|explanations|chobolo",
		Short:     "List roles, aliases and explanations, or validate a Ch-obolo",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"roles", "aliases", "explanations", "chobolo"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "roles":
				return a.checkRoles(asJSON)
			case "aliases":
				return a.checkAliases(asJSON)
			case "explanations":
				return a.checkExplanations(asJSON)
			case "chobolo", "ch", "c":
				return a.checkChobolo(asJSON)
			}
			return fmt.Errorf("check: unknown %q (roles, aliases, explanations, chobolo)", args[0])
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(data))
	return nil
}

func (a *app) checkRoles(asJSON bool) error {
	var metas []engine.Meta
	for _, r := range a.registry.All() {
		metas = append(metas, r.Meta())
	}
	return a.reporter(asJSON).Show(metas, func(w io.Writer) error {
		for _, m := range metas {
			cores := "all cores"
			if len(m.Cores) > 0 {
				cores = strings.Join(m.Cores, ",")
			}
			fmt.Fprintf(w, "%-12s %-40s keys: %s; %s\n", m.Name, m.Summary, strings.Join(m.Keys, ","), cores)
		}
		return nil
	})
}

func (a *app) aliases() (map[string]string, error) {
	all := a.registry.Aliases()
	tags, _, err := a.tagAliases()
	if err != nil {
		return nil, err
	}
	maps.Copy(all, tags)
	return all, nil
}

func (a *app) checkAliases(asJSON bool) error {
	all, err := a.aliases()
	if err != nil {
		return err
	}
	return a.reporter(asJSON).Show(all, func(w io.Writer) error {
		for _, k := range slices.Sorted(maps.Keys(all)) {
			fmt.Fprintf(w, "%-12s -> %s\n", k, all[k])
		}
		return nil
	})
}

func (a *app) checkExplanations(asJSON bool) error {
	lib, err := a.library()
	if err != nil {
		return err
	}
	out := map[string][]string{}
	for _, n := range lib.Names() {
		out[n] = lib[n].SectionNames()
	}
	return a.reporter(asJSON).Show(out, func(w io.Writer) error {
		for _, n := range lib.Names() {
			fmt.Fprintf(w, "%-12s %s\n", n, strings.Join(out[n], ", "))
		}
		return nil
	})
}

func (a *app) checkChobolo(asJSON bool) error {
	c, err := a.loadChobolo()
	if err == nil {
		// Everything an apply would refuse whatever the host holds (every core when `core:` is unset).
		err = a.checkStatic(c, c.Core, true)
	}
	if err != nil {
		if asJSON {
			_ = a.printJSON(map[string]any{"valid": false, "errors": checkErrors(err)})
			return ExitError{Code: 1}
		}
		return err
	}
	doc := map[string]any{"valid": true, "file": c.File, "keys": c.Keys(), "warnings": warningObjects(c.Warnings)}
	return a.reporter(asJSON).Show(doc, func(w io.Writer) error {
		keys := c.Keys()
		if len(keys) == 0 {
			_, err := fmt.Fprintf(w, "%s: valid, but declares nothing\n", c.File)
			return err
		}
		_, err := fmt.Fprintf(w, "%s: valid (%s)\n", c.File, strings.Join(slices.Sorted(slices.Values(keys)), ", "))
		return err
	})
}

// checkStatic runs every check of a loaded Ch-obolo that needs no host, and reports all their
// problems together as a chobolo.Errors: the roles' own checks and the ownership conflicts
// (engine.Registry.CheckStatic, which the engine runs again before it probes) and the fleet
// section (what `apply --fleet` decodes: connectors, host settings, groups, restrictions). `check
// chobolo` and `apply` (and so `apply --fleet`) both run it. With core "", `check` (allCores)
// reports the problems of every core, an apply those every core has (the engine checks the rest
// once the probe tells a target's core).
func (a *app) checkStatic(c *chobolo.Chobolo, core string, allCores bool) error {
	var all chobolo.Errors
	var err error
	switch {
	case core != "" || allCores:
		err = a.registry.CheckStatic(c, core)
	default:
		err = a.registry.CheckStaticAnyCore(c)
	}
	if err != nil {
		var ds chobolo.Errors
		if !errors.As(err, &ds) {
			return err
		}
		all = append(all, ds...)
	}
	if _, err := fleet.Decode(c, a.registry.Canonical, a.souls); err != nil {
		var fe fleet.Errors
		if !errors.As(err, &fe) {
			return err
		}
		for _, e := range fe {
			all = append(all, chobolo.Diagnostic{Pos: e.Pos, Severity: chobolo.SevError, Message: e.Msg})
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b chobolo.Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return all
}

// checkError is one problem in `check chobolo --json`: an object, so editors and CI need not parse
// "FILE:LINE:COL: error: ..." back out of a string. File, Line and Col are empty/0 when unknown.
type checkError struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message"`
}

// checkErrors turns the diagnostics of the loader and of checkStatic into checkErrors; any other
// error (an unreadable file, no Ch-obolo configured) is one object without a position.
func checkErrors(err error) []checkError {
	var diags chobolo.Errors
	switch {
	case errors.As(err, &diags):
		out := make([]checkError, len(diags))
		for i, d := range diags {
			sev := "error"
			if d.Severity == chobolo.SevWarning {
				sev = "warning"
			}
			out[i] = checkError{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col, Severity: sev, Code: d.Code, Message: d.Message}
		}
		return out
	}
	return []checkError{{Severity: "error", Message: err.Error()}}
}

// warningObjects is the loader's warnings as checkErrors (severity "warning"), [] rather than null
// when there is none.
func warningObjects(ws []chobolo.Diagnostic) []checkError {
	if len(ws) == 0 {
		return []checkError{}
	}
	return checkErrors(chobolo.Errors(ws))
}
