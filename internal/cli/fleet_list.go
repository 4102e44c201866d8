package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/fleet"
)

func (a *app) fleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "The fleet's inventory: static hosts, groups and boats",
	}
	cmd.AddCommand(a.fleetListCmd())
	return cmd
}

func (a *app) fleetListCmd() *cobra.Command {
	var limit string
	var asJSON bool
	var sf secretFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show the resolved inventory: every host with its source, address, user, port, groups and connector",
		Long: `List runs the Ch-obolo's boats (dynamic inventories), merges their hosts with fleet.hosts and
fleet.groups exactly as apply --fleet does, and prints one row per host. --limit selects hosts with
the same patterns as apply. A boat that fails is a warning (an error when it is required).

Empty USER and PORT ("-") are left to ~/.ssh/config and OpenSSH's defaults at connect time.`,
		Example: `  chaos fleet list -c fleet.yml
  chaos fleet list --limit 'web,!web3' --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.loadChobolo()
			if err != nil {
				return err
			}
			ctl, err := a.controller(nil)
			if err != nil {
				return err
			}
			inv, boats, err := a.loadInventory(cmd.Context(), ctl, c, true, a.newFleetSecrets(cmd.Context(), sf, c, nil))
			if err != nil {
				return err
			}
			hosts := inv.Hosts
			if limit != "" {
				if hosts, err = fleet.Limit(inv, limit, nil); err != nil {
					return err
				}
			}
			rows := listRows(hosts)
			if asJSON {
				return writeListJSON(a.stdout, rows, boats)
			}
			writeListTable(a.stdout, rows, boats, len(inv.Hosts))
			return nil
		},
	}
	cmd.Flags().StringVar(&limit, "limit", "", "select hosts: names, globs, groups, !exclude, &intersect, comma lists, @file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the inventory as one JSON document")
	sf.register(cmd.Flags())
	return cmd
}

// listRow is one host of `chaos fleet list`.
type listRow struct {
	Name      string   `json:"name"`
	Source    string   `json:"source"` // "static" or "boat"
	Boat      string   `json:"boat,omitempty"`
	Provider  string   `json:"provider,omitempty"`
	Connector string   `json:"connector"`
	Address   string   `json:"address,omitempty"`
	Path      string   `json:"path,omitempty"`
	User      string   `json:"user,omitempty"`
	Port      int      `json:"port,omitempty"`
	Groups    []string `json:"groups"`
	Become    bool     `json:"become,omitempty"`
	// BecomeSecret is the secrets path of the sudo password (the path, never the value).
	BecomeSecret string `json:"become_password_secret,omitempty"`
}

func listRows(hosts []*fleet.Host) []listRow {
	rows := make([]listRow, 0, len(hosts))
	for _, h := range hosts {
		r := listRow{Name: h.Name, Source: "static", Boat: h.Boat, Provider: h.Provider, Connector: h.Connector,
			Path: h.Path, User: h.User, Port: h.Port, Groups: h.Groups, Become: h.Become, BecomeSecret: h.BecomeSecret}
		if h.Boat != "" {
			r.Source = "boat"
		}
		if h.Connector == "ssh" {
			r.Address = h.Address
			if r.Address == "" {
				r.Address = h.Name
			}
		}
		if r.Groups == nil {
			r.Groups = []string{}
		}
		rows = append(rows, r)
	}
	return rows
}

type listBoat struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Hosts    int    `json:"hosts"`
	Elapsed  int64  `json:"elapsed_ns"`
	Error    string `json:"error,omitempty"`
}

func writeListJSON(w io.Writer, rows []listRow, boats []fleet.BoatResult) error {
	doc := struct {
		Hosts []listRow  `json:"hosts"`
		Boats []listBoat `json:"boats"`
	}{Hosts: rows, Boats: []listBoat{}}
	for _, b := range boats {
		lb := listBoat{Name: b.Name, Provider: b.Provider, Hosts: b.Hosts, Elapsed: int64(b.Elapsed)}
		if b.Err != nil {
			lb.Error = b.Err.Error()
		}
		doc.Boats = append(doc.Boats, lb)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func writeListTable(w io.Writer, rows []listRow, boats []fleet.BoatResult, all int) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	table := [][]string{{"HOST", "SOURCE", "CONNECTOR", "ADDRESS", "USER", "PORT", "GROUPS"}}
	for _, r := range rows {
		src := "static"
		if r.Boat != "" {
			src = "boat " + r.Boat + " (" + r.Provider + ")"
		}
		addr := r.Address
		if r.Connector == "chroot" {
			addr = r.Path
		}
		port := ""
		if r.Port != 0 {
			port = strconv.Itoa(r.Port)
		}
		user := r.User
		if r.Become {
			user = dash(user) + " (sudo)"
		}
		table = append(table, []string{r.Name, src, r.Connector, dash(addr), dash(user), dash(port), dash(strings.Join(r.Groups, ","))})
	}
	widths := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, row := range table {
		var b strings.Builder
		for i, cell := range row {
			if i == len(row)-1 {
				b.WriteString(cell)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line := fmt.Sprintf("%d hosts", len(rows))
	if len(rows) != all {
		line = fmt.Sprintf("%d of %d hosts", len(rows), all)
	}
	var parts []string
	for _, b := range boats {
		if b.Err != nil {
			parts = append(parts, fmt.Sprintf("%s (%s) failed", b.Name, b.Provider))
		} else {
			parts = append(parts, fmt.Sprintf("%s (%s) %d in %s", b.Name, b.Provider, b.Hosts, b.Elapsed.Round(time.Millisecond)))
		}
	}
	if len(parts) > 0 {
		line += "; boats: " + strings.Join(parts, ", ")
	}
	fmt.Fprintln(w, line)
}
