package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/capitain/client"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

// The client commands of `chaos capitain`: they talk to the server `login` saved.

func (a *app) capitainClientCmds() []*cobra.Command {
	return []*cobra.Command{a.capitainLoginCmd(), a.capitainLogoutCmd(), a.capitainWhoamiCmd(), a.capitainUsersCmd(),
		a.capitainTokensCmd(), a.capitainMembersCmd(), a.capitainAuditCmd(), a.capitainProjectsCmd(), a.capitainHostsCmd(),
		a.capitainJobsCmd(), a.capitainSyncCmd(), a.capitainLogsCmd(), a.capitainRollbackCmd()}
}

// capitainClient is the saved client.
func capitainClient() (*client.Client, error) { return client.Load() }

func (a *app) table(header string, rows func(w io.Writer)) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	_ = tw.Flush()
}

// listAll reads every page of a list.
func listAll[T any](cmd *cobra.Command, c *client.Client, path string, q url.Values) ([]T, error) {
	var all []T
	for {
		var page struct {
			Items []T    `json:"items"`
			Next  string `json:"next"`
		}
		if err := c.Do(cmd.Context(), "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		q.Set("cursor", page.Next)
	}
}

func (a *app) capitainProjectsCmd() *cobra.Command {
	var asJSON bool
	var add server.Project
	cmd := &cobra.Command{
		Use:   "projects [ls | show NAME | add NAME --repo URL --path FILE | refresh NAME]",
		Short: "List, show, add and refresh projects",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			verb := "ls"
			if len(args) > 0 {
				verb = args[0]
			}
			if verb != "ls" && len(args) != 2 {
				return fmt.Errorf("projects %s needs a project name", verb)
			}
			var p server.Project
			switch verb {
			case "ls":
				ps, err := listAll[server.Project](cmd, c, "/api/v1/projects", url.Values{})
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(ps)
				}
				a.table("NAME\tHOSTS\tCOMMIT\tPOLICY\tPROBLEMS\tREPO", func(w io.Writer) {
					for _, p := range ps {
						fmt.Fprintf(w, "%s\t%d\t%.12s\t%s\t%d\t%s\n", p.Name, p.Hosts, p.Commit, p.SyncPolicy, len(p.Problems), p.Repo)
					}
				})
				return nil
			case "show":
				err = c.Do(cmd.Context(), "GET", "/api/v1/projects/"+url.PathEscape(args[1]), nil, &p)
			case "add":
				add.Name = args[1]
				err = c.Do(cmd.Context(), "POST", "/api/v1/projects", add, &p)
			case "refresh":
				err = c.Do(cmd.Context(), "POST", "/api/v1/projects/"+url.PathEscape(args[1])+"/refresh", nil, &p)
			default:
				return fmt.Errorf("projects: unknown action %q (ls, show, add, refresh)", verb)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "%s: %s %s %s\ncommit %s, %d hosts, sync %s (prune %v, self-heal %v)\n", p.Name, p.Repo, p.Ref, p.Path,
				p.Commit, p.Hosts, p.SyncPolicy, p.Prune, p.SelfHeal)
			for _, pr := range p.Problems {
				if pr.File != "" {
					fmt.Fprintf(a.stdout, "  %s:%d:%d: %s\n", pr.File, pr.Line, pr.Col, pr.Message)
				} else {
					fmt.Fprintf(a.stdout, "  %s\n", pr.Message)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&add.Repo, "repo", "", "add: the git URL")
	f.StringVar(&add.Ref, "ref", "", "add: branch, tag or commit (default: the remote's HEAD)")
	f.StringVar(&add.Path, "path", "", "add: the Ch-obolo's path in the repository")
	f.StringVar(&add.SyncPolicy, "sync-policy", "", "add: manual (default) or auto")
	f.BoolVar(&add.Prune, "prune", false, "add: allow removals without a human")
	f.BoolVar(&add.SelfHeal, "self-heal", false, "add: re-apply drift")
	return cmd
}

func (a *app) capitainHostsCmd() *cobra.Command {
	var asJSON bool
	var project, status, label, name string
	cmd := &cobra.Command{
		Use:   "hosts [ls | show PROJECT/HOST]",
		Short: "List hosts with their sync status, or show one with its pending plan",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			if len(args) == 2 && args[0] == "show" {
				pr, h, ok := strings.Cut(args[1], "/")
				if !ok {
					return fmt.Errorf("hosts show PROJECT/HOST")
				}
				var host server.Host
				if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(pr)+"/"+url.PathEscape(h), nil, &host); err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(host)
				}
				fmt.Fprintf(a.stdout, "%s/%s (%s): %s, generation %d, commit %.12s, %s %s\n", host.Project, host.Name, host.Address,
					host.Status, host.Generation, host.SyncedCommit, host.Core, host.OS)
				if host.Error != "" {
					fmt.Fprintf(a.stdout, "error: %s\n", host.Error)
				}
				if len(host.PendingPlan) > 0 {
					fmt.Fprintf(a.stdout, "pending plan:\n%s\n", host.PendingPlan)
				}
				return nil
			}
			if len(args) > 0 && args[0] != "ls" {
				return fmt.Errorf("hosts: unknown action %q (ls, show)", args[0])
			}
			q := url.Values{}
			for k, v := range map[string]string{"project": project, "status": status, "label": label, "name": name} {
				if v != "" {
					q.Set(k, v)
				}
			}
			hs, err := listAll[server.Host](cmd, c, "/api/v1/hosts", q)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(hs)
			}
			a.table("PROJECT\tHOST\tSTATUS\tGEN\tCOMMIT\tCORE\tGROUPS", func(w io.Writer) {
				for _, h := range hs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.12s\t%s\t%s\n", h.Project, h.Name, h.Status, h.Generation, h.SyncedCommit, h.Core, strings.Join(h.Groups, ","))
				}
			})
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&project, "project", "", "only this project's hosts")
	f.StringVar(&status, "status", "", "only hosts with this sync status (Synced, OutOfSync, Failed, Unreachable, Unknown)")
	f.StringVar(&label, "label", "", "only hosts in this group")
	f.StringVar(&name, "name", "", "only hosts whose name matches this glob")
	return cmd
}

func (a *app) printJob(j *server.Job, asJSON bool) error {
	if asJSON {
		return a.printJSON(j)
	}
	var counts []string
	for k, v := range j.Counts {
		counts = append(counts, fmt.Sprintf("%d %s", v, k))
	}
	fmt.Fprintf(a.stdout, "job %d: %s %s on %s (%d hosts: %s), %s by %s at %.12s\n", j.ID, j.Kind, j.State, j.Project, j.Hosts,
		strings.Join(counts, ", "), j.Trigger, j.Actor, j.Commit)
	return nil
}

func (a *app) capitainJobsCmd() *cobra.Command {
	var asJSON bool
	var project, state string
	cmd := &cobra.Command{
		Use:   "jobs [ls | show ID | cancel ID]",
		Short: "List jobs (newest first), show one with its hosts, or cancel one",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			if len(args) == 0 || args[0] == "ls" {
				q := url.Values{"limit": {"50"}}
				if project != "" {
					q.Set("project", project)
				}
				if state != "" {
					q.Set("state", state)
				}
				var page struct{ Items []server.Job }
				if err := c.Do(cmd.Context(), "GET", "/api/v1/jobs?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(page.Items)
				}
				a.table("ID\tPROJECT\tKIND\tSTATE\tHOSTS\tTRIGGER\tCOMMIT\tCREATED", func(w io.Writer) {
					for _, j := range page.Items {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%.12s\t%s\n", j.ID, j.Project, j.Kind, j.State, j.Hosts, j.Trigger, j.Commit,
							j.Created.Local().Format("2006-01-02 15:04:05"))
					}
				})
				return nil
			}
			if len(args) != 2 {
				return fmt.Errorf("jobs %s needs a job id", args[0])
			}
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("job id %q: not a number", args[1])
			}
			var j server.Job
			switch args[0] {
			case "show":
				if err := c.Do(cmd.Context(), "GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j); err != nil {
					return err
				}
				var hosts struct{ Items []server.JobHost }
				if err := c.Do(cmd.Context(), "GET", fmt.Sprintf("/api/v1/jobs/%d/hosts", id), nil, &hosts); err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(map[string]any{"job": j, "hosts": hosts.Items})
				}
				_ = a.printJob(&j, false)
				a.table("HOST\tSTATE\tCHANGES\tOPS\tGEN\tSECONDS\tERROR", func(w io.Writer) {
					for _, h := range hosts.Items {
						fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\n", h.Host, h.State, h.Changes, h.Ops, h.Generation, float64(h.DurationNS)/1e9, h.Error)
					}
				})
				return nil
			case "cancel":
				if err := c.Do(cmd.Context(), "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", id), nil, &j); err != nil {
					return err
				}
				return a.printJob(&j, asJSON)
			}
			return fmt.Errorf("jobs: unknown action %q (ls, show, cancel)", args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&project, "project", "", "only this project's jobs")
	f.StringVar(&state, "state", "", "only jobs in this state")
	return cmd
}

func (a *app) capitainSyncCmd() *cobra.Command {
	var limit string
	var dry, asJSON, noRefresh bool
	cmd := &cobra.Command{
		Use:   "sync PROJECT",
		Short: "Refresh a project from git and apply it to its hosts (--dry: plan only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			if !noRefresh {
				var p server.Project
				if err := c.Do(cmd.Context(), "POST", "/api/v1/projects/"+url.PathEscape(args[0])+"/refresh", nil, &p); err != nil {
					return err
				}
				if len(p.Problems) > 0 && p.Hosts == 0 {
					return fmt.Errorf("%s at %.12s: %s", p.Name, p.Commit, p.Problems[0].Message)
				}
			}
			kind := server.KindApply
			if dry {
				kind = server.KindPlan
			}
			var j server.Job
			if err := c.Do(cmd.Context(), "POST", "/api/v1/jobs", server.JobRequest{Project: args[0], Kind: kind, Limit: limit}, &j); err != nil {
				return err
			}
			return a.printJob(&j, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&limit, "limit", "", "hosts, groups or patterns (chaos apply's --limit)")
	f.BoolVar(&dry, "dry", false, "plan only: hosts with changes become OutOfSync")
	f.BoolVar(&noRefresh, "no-refresh", false, "use the project's current commit (no git fetch)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) capitainRollbackCmd() *cobra.Command {
	var limit, commit string
	var to int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollback PROJECT [--limit HOSTS] [--to N | --commit SHA]",
		Short: "Roll a project's hosts back to a generation (default: each host's previous one), or the project to an earlier commit",
		Long: `Roll hosts back to a generation (--to; default: the one before each host's latest), or, with
--commit, pin the project to an earlier commit of its ref and apply it: polls, webhooks, auto sync
and self-heal then hold the fleet at that commit until the project's ref is set back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			var j server.Job
			if commit != "" {
				if to != 0 {
					return fmt.Errorf("--to and --commit: one or the other")
				}
				err = c.Do(cmd.Context(), "POST", "/api/v1/projects/"+url.PathEscape(args[0])+"/rollback", map[string]string{"commit": commit, "limit": limit}, &j)
			} else {
				err = c.Do(cmd.Context(), "POST", "/api/v1/jobs", server.JobRequest{Project: args[0], Kind: server.KindRollback, Limit: limit, ToGeneration: to}, &j)
			}
			if err != nil {
				return err
			}
			return a.printJob(&j, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&limit, "limit", "", "hosts, groups or patterns")
	f.IntVar(&to, "to", 0, "the generation to go back to (default: the one before each host's latest)")
	f.StringVar(&commit, "commit", "", "the project's earlier commit (full id) to pin and apply")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) capitainLogsCmd() *cobra.Command {
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "logs JOB [-f]",
		Short: "A job's events, every host's; -f follows them live until the job ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("job id %q: not a number", args[0])
			}
			return c.Events(cmd.Context(), id, follow, func(e client.Event) error {
				if asJSON {
					_, err := fmt.Fprintf(a.stdout, "%s\n", e.Data)
					return err
				}
				_, err := fmt.Fprintln(a.stdout, eventLine(e))
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream live until the job ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each event's JSON (as chaos apply --json)")
	return cmd
}

// eventLine renders one event on a line: time, host, type and what it says.
func eventLine(e client.Event) string {
	var d struct {
		Phase, Op, Error, Message, Role string
		Changes, Generation             int
		Host                            *struct{ Status string }
	}
	_ = json.Unmarshal(e.Data, &d)
	var parts []string
	for _, s := range []string{d.Phase, d.Role, d.Op, d.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if d.Changes > 0 {
		parts = append(parts, fmt.Sprintf("%d changes", d.Changes))
	}
	if d.Generation > 0 {
		parts = append(parts, fmt.Sprintf("generation %d", d.Generation))
	}
	if d.Host != nil {
		parts = append(parts, d.Host.Status)
	}
	if d.Error != "" {
		parts = append(parts, "error: "+d.Error)
	}
	return fmt.Sprintf("%s %-10s %-14s %s", e.Time.Local().Format("15:04:05.000"), e.Host, e.Type, strings.Join(parts, " "))
}
