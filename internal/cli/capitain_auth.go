package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/client"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

// The `chaos capitain` commands of users, tokens, project members and the audit log.

func (a *app) capitainLoginCmd() *cobra.Command {
	var token, user string
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Log in to a Capitain server with a user and password (--user) or an API token, saved for the other commands",
		Long: `Log in to a Capitain server and save it with the credential (mode 0600, in
$XDG_CONFIG_HOME/chaos/capitain.json) for the other commands. With --user, the password is read
without echo on a terminal, else as a line of stdin, and the server opens a session (12 hours by
default). Without --user, the API token is --token or a line of stdin.`,
		Example: `  chaos capitain login http://capitain:8080 --user alice
  chaos capitain login http://capitain:8080 < token.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client.New(args[0], "")
			switch {
			case user != "":
				pw, err := a.readSecret("password for " + user + ": ")
				if err != nil {
					return err
				}
				var l auth.LoginResponse
				if err := c.Do(cmd.Context(), "POST", "/api/v1/login", auth.LoginRequest{User: user, Password: string(pw)}, &l); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				c.Token = l.Token
			case token == "":
				t, err := a.readSecret("token: ")
				if err != nil {
					return err
				}
				c.Token = strings.TrimSpace(string(t))
			default:
				c.Token = token
			}
			var me auth.Principal
			if err := c.Do(cmd.Context(), "GET", "/api/v1/me", nil, &me); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			p, err := c.Save()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "logged in to %s as %s until %s (saved in %s)\n", c.URL, me.User, me.Expires.Local().Format(time.DateTime), p)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "API token (default: read a line from stdin)")
	cmd.Flags().StringVarP(&user, "user", "u", "", "log in as this user with their password")
	return cmd
}

func (a *app) capitainLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the saved session (an API token stays valid: revoke it with tokens revoke) and forget the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			if strings.HasPrefix(c.Token, auth.SessionTokenPrefix) {
				var ae *client.Error
				if err := c.Do(cmd.Context(), "POST", "/api/v1/logout", nil, nil); err != nil && !(errors.As(err, &ae) && ae.Status == 401) {
					return err
				}
			}
			if err := client.Forget(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "logged out of %s\n", c.URL)
			return nil
		},
	}
}

func (a *app) capitainWhoamiCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the saved credential is: user, roles, scopes, expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			var me auth.Principal
			if err := c.Do(cmd.Context(), "GET", "/api/v1/me", nil, &me); err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(me)
			}
			fmt.Fprintf(a.stdout, "%s on %s (%s %s, scopes %s, expires %s)\n", me.User, c.URL, me.Kind, me.TokenID, joinScopes(me.Scopes),
				me.Expires.Local().Format(time.DateTime))
			if me.Admin {
				fmt.Fprintln(a.stdout, "global admin")
			}
			if me.Project != "" {
				fmt.Fprintf(a.stdout, "restricted to project %s\n", me.Project)
			}
			for p, r := range me.Roles {
				fmt.Fprintf(a.stdout, "%s on %s\n", r, p)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func joinScopes(sc []auth.Scope) string {
	s := make([]string, len(sc))
	for i, x := range sc {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func (a *app) printUsers(us []auth.User, asJSON bool) error {
	if asJSON {
		return a.printJSON(us)
	}
	a.table("NAME\tADMIN\tDISABLED\tPASSWORD\tCREATED", func(w io.Writer) {
		for _, u := range us {
			fmt.Fprintf(w, "%s\t%v\t%v\t%v\t%s\n", u.Name, u.Admin, u.Disabled, u.Password, u.Created.Local().Format(time.DateTime))
		}
	})
	return nil
}

func (a *app) capitainUsersCmd() *cobra.Command {
	var asJSON, admin, withPassword bool
	cmd := &cobra.Command{
		Use:   "users [ls | show NAME | add NAME [--admin] [--password] | rm NAME | passwd NAME | admin NAME on|off | disable NAME | enable NAME]",
		Short: "Manage users (global admins; anyone shows and sets their own password)",
		Long: `List, show, add and remove users, set passwords and the global admin and disabled flags. Passwords
(at least 12 characters) are read without echo on a terminal, else as lines of stdin: passwd asks
for the current one first when you change your own. A disabled user's tokens and sessions stop
working at once; the last enabled global admin can be neither demoted, disabled nor removed.`,
		Example: `  chaos capitain users add alice --password
  chaos capitain users admin alice on
  chaos capitain users disable bob`,
		Args: cobra.RangeArgs(0, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			verb := "ls"
			if len(args) > 0 {
				verb = args[0]
			}
			want := map[string]int{"ls": 1, "show": 2, "add": 2, "rm": 2, "passwd": 2, "admin": 3, "disable": 2, "enable": 2}
			n, ok := want[verb]
			switch {
			case !ok:
				return fmt.Errorf("users: unknown action %q (ls, show, add, rm, passwd, admin, disable, enable)", verb)
			case max(len(args), 1) != n:
				return fmt.Errorf("users %s takes %d argument(s)", verb, n-1)
			}
			ctx := cmd.Context()
			var u auth.User
			switch verb {
			case "ls":
				var page struct{ Items []auth.User }
				if err := c.Do(ctx, "GET", "/api/v1/users", nil, &page); err != nil {
					return err
				}
				return a.printUsers(page.Items, asJSON)
			case "show":
				err = c.Do(ctx, "GET", "/api/v1/users/"+url.PathEscape(args[1]), nil, &u)
			case "add":
				in := server.UserInput{Name: args[1], Admin: admin}
				if withPassword {
					pw, err := a.readSecret("password for " + args[1] + ": ")
					if err != nil {
						return err
					}
					in.Password = string(pw)
				}
				err = c.Do(ctx, "POST", "/api/v1/users", in, &u)
			case "rm":
				if err := c.Do(ctx, "DELETE", "/api/v1/users/"+url.PathEscape(args[1]), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "user %s removed with their tokens and roles\n", args[1])
				return nil
			case "passwd":
				var in server.PasswordInput
				var me auth.Principal
				if err := c.Do(ctx, "GET", "/api/v1/me", nil, &me); err != nil {
					return err
				}
				if me.User == strings.ToLower(args[1]) && !me.Admin {
					cur, err := a.readSecret("current password: ")
					if err != nil {
						return err
					}
					in.Current = string(cur)
				}
				pw, err := a.readSecret("new password for " + args[1] + ": ")
				if err != nil {
					return err
				}
				in.Password = string(pw)
				if err := c.Do(ctx, "PUT", "/api/v1/users/"+url.PathEscape(args[1])+"/password", in, nil); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "password of %s set; their sessions ended\n", args[1])
				return nil
			case "admin", "disable", "enable":
				var up server.UserUpdate
				switch verb {
				case "admin":
					on := args[2] == "on"
					if !on && args[2] != "off" {
						return fmt.Errorf("users admin %s: on or off, not %q", args[1], args[2])
					}
					up.Admin = &on
				default:
					off := verb == "disable"
					up.Disabled = &off
				}
				err = c.Do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(args[1]), up, &u)
			}
			if err != nil {
				return err
			}
			return a.printUsers([]auth.User{u}, asJSON)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&admin, "admin", false, "add: a global admin")
	f.BoolVar(&withPassword, "password", false, "add: set a password (read from the terminal or stdin); without it the user logs in with tokens only")
	return cmd
}

func (a *app) capitainTokensCmd() *cobra.Command {
	var asJSON bool
	var user, project, expires string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "tokens [ls | create NAME [--scope ...] [--project P] [--expires 720h] | revoke ID]",
		Short: "List, create and revoke API tokens (yours, or --user's for global admins)",
		Long: `API tokens authenticate scripts and CI: Authorization: Bearer TOKEN. A token is shown once, when
created; the server keeps only its hash. Every token expires (--expires: a duration up to 366 days,
or a date-time), has scopes (read: see; run: plan, apply, rollback, cancel; write: change projects
and members; admin: users and tokens) within its user's roles, and may be restricted to one
project. Revoking one stops it at once.`,
		Example: `  chaos capitain tokens create ci --scope read,run --project web --expires 720h
  chaos capitain tokens ls
  chaos capitain tokens revoke 3f2a9c1e0b7d4a66`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			verb := "ls"
			if len(args) > 0 {
				verb = args[0]
			}
			switch {
			case verb == "ls" && len(args) <= 1:
				q := url.Values{}
				if user != "" {
					q.Set("user", user)
				}
				var page struct{ Items []auth.Token }
				if err := c.Do(ctx, "GET", "/api/v1/tokens?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(page.Items)
				}
				now := time.Now()
				a.table("ID\tNAME\tHINT\tSCOPES\tPROJECT\tEXPIRES\tLAST USED\tSTATE", func(w io.Writer) {
					for _, t := range page.Items {
						state := "valid"
						switch {
						case !t.Revoked.IsZero():
							state = "revoked"
						case !now.Before(t.Expires):
							state = "expired"
						}
						used := "never"
						if !t.LastUsed.IsZero() {
							used = t.LastUsed.Local().Format(time.DateTime) + " from " + t.LastAddr
						}
						fmt.Fprintf(w, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Hint, joinScopes(t.Scopes), t.Project,
							t.Expires.Local().Format(time.DateTime), used, state)
					}
				})
				return nil
			case verb == "create" && len(args) == 2:
				in := server.TokenInput{User: user, Name: args[1], Project: project}
				for _, s := range scopes {
					in.Scopes = append(in.Scopes, auth.Scope(s))
				}
				if t, err := time.Parse(time.RFC3339, expires); err == nil {
					in.Expires = &t
				} else {
					in.ExpiresIn = expires
				}
				var nt server.NewToken
				if err := c.Do(ctx, "POST", "/api/v1/tokens", in, &nt); err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(nt)
				}
				fmt.Fprintf(a.stderr, "token %s (%s) for %s, scopes %s, expires %s; shown once, keep it:\n", nt.Info.ID, nt.Info.Name, nt.Info.User,
					joinScopes(nt.Info.Scopes), nt.Info.Expires.Local().Format(time.DateTime))
				fmt.Fprintln(a.stdout, nt.Token)
				return nil
			case verb == "revoke" && len(args) == 2:
				if err := c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(args[1]), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "token %s revoked\n", args[1])
				return nil
			}
			return fmt.Errorf("tokens: ls, create NAME or revoke ID, not %q", strings.Join(args, " "))
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&user, "user", "", "whose tokens (default: yours; others' for global admins)")
	f.StringSliceVar(&scopes, "scope", []string{"read"}, "create: scopes (read, run, write, admin)")
	f.StringVar(&project, "project", "", "create: restrict the token to this project")
	f.StringVar(&expires, "expires", "720h", "create: a duration from now or a date-time (RFC 3339)")
	return cmd
}

func (a *app) capitainMembersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members PROJECT [ls | set USER ROLE | rm USER]",
		Short: "List a project's users and roles, give a user a role (viewer, operator, admin) or remove them",
		Args:  cobra.RangeArgs(1, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			base := "/api/v1/projects/" + url.PathEscape(args[0]) + "/members"
			var page struct{ Items []auth.Member }
			switch {
			case len(args) == 1 || args[1] == "ls" && len(args) == 2:
				err = c.Do(cmd.Context(), "GET", base, nil, &page)
			case args[1] == "set" && len(args) == 4:
				err = c.Do(cmd.Context(), "PUT", base+"/"+url.PathEscape(args[2]), server.MemberInput{Role: auth.Role(args[3])}, &page)
			case args[1] == "rm" && len(args) == 3:
				err = c.Do(cmd.Context(), "DELETE", base+"/"+url.PathEscape(args[2]), nil, &page)
			default:
				return fmt.Errorf("members %s: ls, set USER ROLE or rm USER", args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(page.Items)
			}
			a.table("USER\tROLE", func(w io.Writer) {
				for _, m := range page.Items {
					fmt.Fprintf(w, "%s\t%s\n", m.User, m.Role)
				}
			})
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) capitainAuditCmd() *cobra.Command {
	var asJSON bool
	var limit int
	q := map[string]*string{"project": new(string), "actor": new(string), "action": new(string), "target": new(string), "since": new(string), "until": new(string)}
	cmd := &cobra.Command{
		Use:   "audit [--project P] [--actor USER] [--action A] [--target T] [--since TIME] [--until TIME] [-n N]",
		Short: "Show the audit log, newest first: who changed what, when, from where",
		Long: `Show the audit log, newest first: a project's (its admins, --project) or the whole log (global
admins). --action matches one action or, ending in ".", all under it ("user.", "job.", "token.");
--since and --until take RFC 3339 times or durations back from now (24h).`,
		Example: `  chaos capitain audit --project web --action job. --since 24h
  chaos capitain audit --actor alice -n 200 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := capitainClient()
			if err != nil {
				return err
			}
			v := url.Values{}
			for k, p := range q {
				val := *p
				if d, err := time.ParseDuration(val); err == nil && (k == "since" || k == "until") {
					val = time.Now().Add(-d).UTC().Format(time.RFC3339)
				}
				if val != "" {
					v.Set(k, val)
				}
			}
			var out []auth.Entry
			for len(out) < limit {
				v.Set("limit", fmt.Sprint(min(limit-len(out), auth.MaxAuditLimit)))
				var page auth.AuditPage
				if err := c.Do(cmd.Context(), "GET", "/api/v1/audit?"+v.Encode(), nil, &page); err != nil {
					return err
				}
				out = append(out, page.Entries...)
				if page.Next == "" {
					break
				}
				v.Set("cursor", page.Next)
			}
			if asJSON {
				return a.printJSON(out)
			}
			a.table("TIME\tACTOR\tFROM\tACTION\tPROJECT\tTARGET\tDETAIL", func(w io.Writer) {
				for _, e := range out {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Addr, e.Action, e.Project, e.Target, e.Detail)
				}
			})
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.IntVarP(&limit, "limit", "n", 50, "how many entries")
	for _, k := range []string{"project", "actor", "action", "target", "since", "until"} {
		f.StringVar(q[k], k, "", "only entries with this "+k)
	}
	return cmd
}
