package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	terminal "github.com/buildkite/terminal-to-html/v3"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// hostsPageSize is the hosts page's length.
const hostsPageSize = 100

// hostRunsShown is how many of a host's last runs its page lists (the rest: the jobs history
// filtered by the host).
const hostRunsShown = 20

var statuses = []string{server.StatusSynced, server.StatusOutOfSync, server.StatusFailed, server.StatusUnreachable, server.StatusUnknown}

type hostsView struct {
	Q        url.Values
	Statuses []string
	Hosts    []*server.Host
	// Next is the link of the next page ("" on the last one); First that of the first page when
	// this one is not it.
	Next, First template.URL
	// CanRun is whether the viewer may plan on some project of this page: the bulk buttons
	// (the server checks each project again).
	CanRun bool
	// SortLinks are the column headers' links: each sorts by its column, reversing the order when
	// it already sorts by it.
	SortLinks map[string]template.URL
}

// hostsQuery reads the hosts page's query. A name without glob characters matches anywhere in
// the name (a search box), a glob is used as it is.
func hostsQuery(q url.Values) server.HostQuery {
	name := strings.TrimSpace(q.Get("name"))
	if name != "" && !strings.ContainsAny(name, "*?") {
		name = "*" + name + "*"
	}
	return server.HostQuery{Project: q.Get("project"), Status: q.Get("status"), Label: strings.TrimSpace(q.Get("label")),
		Core: strings.TrimSpace(q.Get("core")), Name: name, Sort: q.Get("sort"), Desc: q.Get("order") == "desc",
		Cursor: q.Get("cursor"), Limit: hostsPageSize}
}

func (ui *UI) hostsPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	hs, next, err := ui.srv.Hosts(r.Context(), p, hostsQuery(q))
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := hostsView{Q: q, Statuses: statuses, Hosts: hs, SortLinks: map[string]template.URL{}}
	for _, h := range hs {
		if !v.CanRun && auth.Authorize(p, auth.ActionPlan, h.Project) == nil {
			v.CanRun = true
		}
	}
	// with is this page's link with the parameters of set changed ("": removed), the cursor
	// dropped (url.Values.Encode escapes each value; html/template would escape the whole query).
	with := func(set map[string]string) template.URL {
		c := url.Values{}
		for k, vs := range q {
			if k != "cursor" && len(vs) > 0 && vs[0] != "" {
				c.Set(k, vs[0])
			}
		}
		for k, s := range set {
			if s == "" {
				c.Del(k)
			} else {
				c.Set(k, s)
			}
		}
		return template.URL("/hosts?" + c.Encode())
	}
	if next != "" {
		v.Next = with(map[string]string{"cursor": next})
	}
	if q.Get("cursor") != "" {
		v.First = with(nil)
	}
	cur := q.Get("sort")
	if cur == "" {
		cur = "name"
	}
	for _, col := range []string{"name", "status", "probed"} {
		order := ""
		if col == cur && q.Get("order") != "desc" {
			order = "desc"
		}
		v.SortLinks[col] = with(map[string]string{"sort": col, "order": order})
	}
	ui.render(w, r, http.StatusOK, "hosts", view{Title: "Hosts", Nav: "hosts", Page: v})
}

type hostView struct {
	Host *server.Host
	// Plan is the pending plan as the CLI shows it, its ANSI colours as HTML; Summary its counts.
	Plan    template.HTML
	Summary string
	// Runs are the host's last runs, newest first.
	Runs []server.HostRun
	// Can holds the job kinds the viewer may start on this host (the buttons shown; the server
	// checks again when one is pressed).
	Can map[string]bool
}

func (ui *UI) hostPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	h, err := ui.srv.Host(r.Context(), p, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	runs, err := ui.srv.HostRuns(r.Context(), p, h.Project, h.Name, hostRunsShown)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := hostView{Host: h, Runs: runs, Can: map[string]bool{}}
	for _, k := range []string{server.KindPlan, server.KindApply, server.KindRollback} {
		v.Can[k] = auth.Authorize(p, server.JobAction(k), h.Project) == nil
	}
	if len(h.PendingPlan) > 0 {
		var plan chaos.Plan
		if err := json.Unmarshal(h.PendingPlan, &plan); err != nil {
			ui.fail(w, r, err)
			return
		}
		var b bytes.Buffer
		chaos.RenderPlan(&b, &plan, true)
		v.Plan, v.Summary = planHTML(b.Bytes()), chaos.Summary(&plan)
	}
	ui.render(w, r, http.StatusOK, "host", view{Title: h.Name, Nav: "hosts", Page: v})
}

// ansiHTML is text with ANSI colours as HTML spans (terminal-to-html escapes the text).
func ansiHTML(b []byte) template.HTML {
	return template.HTML(terminal.Render(b)) //nolint:gosec // Render escapes everything it does not turn into spans
}

var (
	tagRE     = regexp.MustCompile(`<[^>]*>`)
	diffDelRE = regexp.MustCompile(`^\s*-`)
	diffAddRE = regexp.MustCompile(`^\s*\+`)
)

// planHTML is a plan rendered by the CLI (ANSI) as HTML, each removed or added line of a diff
// (a line whose text starts with - or +) wrapped in diff-del or diff-add: the CLI prints file
// diffs in one faint colour, a page can afford red and green. Render closes its spans at the
// end of each line, so a line wraps whole.
func planHTML(b []byte) template.HTML {
	lines := strings.Split(string(ansiHTML(b)), "\n")
	for i, l := range lines {
		text := html.UnescapeString(tagRE.ReplaceAllString(l, ""))
		switch {
		case diffDelRE.MatchString(text):
			lines[i] = `<span class="diff-del">` + l + `</span>`
		case diffAddRE.MatchString(text):
			lines[i] = `<span class="diff-add">` + l + `</span>`
		}
	}
	return template.HTML(strings.Join(lines, "\n")) //nolint:gosec // ansiHTML's escaped output, wrapped in fixed spans
}

var funcs = template.FuncMap{
	"ago": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		d := time.Since(*t).Round(time.Second)
		switch {
		case d < time.Minute:
			return d.String() + " ago"
		case d < time.Hour:
			return d.Round(time.Minute).String() + " ago"
		case d < 48*time.Hour:
			return d.Round(time.Hour).String() + " ago"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"short": func(s string) string {
		if len(s) > 10 {
			return s[:10]
		}
		return s
	},
	"dur": func(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() },
	"took": func(a, b *time.Time) string {
		if a == nil || b == nil {
			return ""
		}
		return b.Sub(*a).Round(time.Millisecond).String()
	},
	"ptr":   func(t time.Time) *time.Time { return &t },
	"lower": strings.ToLower,
	"join":  strings.Join,
}

// hostJob starts a plan, apply (sync) or rollback of one host and shows its job.
func (ui *UI) hostJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	to := 0
	if s := r.PostFormValue("to_generation"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			ui.fail(w, r, &auth.FieldError{Field: "to_generation", Message: "a generation number"})
			return
		}
		to = n
	}
	j, err := ui.srv.StartJob(r.Context(), p, server.JobRequest{Project: r.PathValue("project"), Kind: r.PostFormValue("kind"),
		Limit: r.PathValue("name"), ToGeneration: to})
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", j.ID), http.StatusSeeOther)
}

// plainName is a host name that a --limit pattern matches as itself (no glob, regexp, group
// operator or separator).
var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// bulkJob starts a plan or apply of the hosts selected on the hosts page (values PROJECT/HOST):
// one job per project, limited to those hosts. One job shows its page, several the history.
func (ui *UI) bulkJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	byProject := map[string][]string{}
	var order []string
	for _, v := range r.PostForm["host"] {
		project, host, ok := strings.Cut(v, "/")
		if !ok || !plainName.MatchString(host) {
			ui.fail(w, r, fmt.Errorf("%w: host %q is not PROJECT/HOST", auth.ErrInvalid, v))
			return
		}
		if byProject[project] == nil {
			order = append(order, project)
		}
		byProject[project] = append(byProject[project], host)
	}
	if len(order) == 0 {
		ui.fail(w, r, fmt.Errorf("%w: select at least one host", auth.ErrInvalid))
		return
	}
	var last *server.Job
	for _, project := range order {
		j, err := ui.srv.StartJob(r.Context(), p, server.JobRequest{Project: project, Kind: r.PostFormValue("kind"),
			Limit: strings.Join(byProject[project], ",")})
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		last = j
	}
	if len(order) > 1 {
		http.Redirect(w, r, "/jobs", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", last.ID), http.StatusSeeOther)
}

type generationsView struct {
	Project, Host string
	// Generations are newest first.
	Generations []chaos.Generation
	// From and To are the generations compared (0: none yet); Diff their diff.
	From, To    int
	Diff        *chaos.GenerationDiff
	CanRollback bool
}

// generationsPage lists the generations recorded on a host (read from the host), compares two
// of them (?from=&to=) and offers a rollback to each.
func (ui *UI) generationsPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	project, name := r.PathValue("project"), r.PathValue("name")
	gens, err := ui.srv.HostGenerations(r.Context(), p, project, name)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := generationsView{Project: project, Host: name, CanRollback: auth.Authorize(p, auth.ActionRollback, project) == nil}
	for i := len(gens) - 1; i >= 0; i-- {
		v.Generations = append(v.Generations, gens[i])
	}
	q := r.URL.Query()
	if q.Get("from") != "" || q.Get("to") != "" {
		for _, c := range []struct {
			field string
			to    *int
		}{{"from", &v.From}, {"to", &v.To}} {
			n, err := strconv.Atoi(q.Get(c.field))
			if err != nil {
				ui.fail(w, r, &auth.FieldError{Field: c.field, Message: "a generation number"})
				return
			}
			*c.to = n
		}
		if v.Diff, err = ui.srv.HostGenerationDiff(r.Context(), p, project, name, v.From, v.To); err != nil {
			ui.fail(w, r, err)
			return
		}
	} else if len(gens) >= 2 {
		v.From, v.To = gens[len(gens)-2].N, gens[len(gens)-1].N
	}
	ui.render(w, r, http.StatusOK, "generations", view{Title: name + " generations", Nav: "hosts", Page: v})
}
