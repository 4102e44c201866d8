package web

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

const jobsPageSize = 50

type jobsView struct {
	Q        url.Values
	States   []string
	Kinds    []string
	Triggers []string
	Jobs     []*server.Job
	// Older is the link of the next page of older jobs ("" on the last one).
	Older template.URL
}

func (ui *UI) jobsPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	js, next, err := ui.srv.Jobs(r.Context(), p, server.JobQuery{Project: q.Get("project"), State: q.Get("state"), Kind: q.Get("kind"),
		Trigger: q.Get("trigger"), Host: q.Get("host"), Cursor: q.Get("cursor"), Limit: jobsPageSize})
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := jobsView{Q: q, Jobs: js,
		States:   []string{server.StateQueued, server.StateRunning, server.StateSucceeded, server.StateFailed, server.StateCancelled},
		Kinds:    []string{server.KindPlan, server.KindApply, server.KindRollback, server.KindDriftCheck},
		Triggers: []string{server.TriggerUser, server.TriggerSchedule, server.TriggerWebhook, server.TriggerAutoSync}}
	if next != "" {
		o := url.Values{}
		for _, k := range []string{"project", "host", "state", "kind", "trigger"} {
			if s := q.Get(k); s != "" {
				o.Set(k, s)
			}
		}
		o.Set("cursor", next)
		v.Older = template.URL("/jobs?" + o.Encode())
	}
	ui.render(w, r, http.StatusOK, "jobs", view{Title: "Jobs", Nav: "jobs", Page: v})
}

// pathJob is the job the path's {id} names, with its hosts.
func (ui *UI) pathJob(r *http.Request, p *auth.Principal) (*server.Job, []*server.JobHost, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: job %q", auth.ErrNotFound, r.PathValue("id"))
	}
	return ui.srv.Job(r.Context(), p, id)
}

// jobHostsPageSize is the job page's hosts table length.
const jobHostsPageSize = 100

type jobView struct {
	Job   *server.Job
	Hosts []*server.JobHost
	// Next is the link of the hosts table's next page ("" on the last one); First that of the
	// first page when this one is not it.
	Next, First template.URL
}

func (ui *UI) jobPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("%w: job %q", auth.ErrNotFound, r.PathValue("id")))
		return
	}
	j, err := ui.srv.JobInfo(r.Context(), p, id)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	after := r.URL.Query().Get("after")
	hs, next, err := ui.srv.JobHosts(r.Context(), j, after, jobHostsPageSize)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := jobView{Job: j, Hosts: hs}
	if next != "" {
		v.Next = template.URL(fmt.Sprintf("/jobs/%d?after=%s", j.ID, url.QueryEscape(next)))
	}
	if after != "" {
		v.First = template.URL(fmt.Sprintf("/jobs/%d", j.ID))
	}
	ui.render(w, r, http.StatusOK, "job", view{Title: fmt.Sprintf("Job %d", j.ID), Nav: "jobs", Page: v})
}

// report is a job's export: the job and each host's result.
type report struct {
	Job   *server.Job       `json:"job"`
	Hosts []*server.JobHost `json:"hosts"`
}

func (ui *UI) jobReport(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	j, hs, err := ui.pathJob(r, p)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	name := fmt.Sprintf("capitain-job-%d", j.ID)
	switch r.PathValue("format") {
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report{Job: j, Hosts: hs})
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"job", "project", "kind", "commit", "host", "state", "changes", "ops", "generation", "duration_s", "error"})
		for _, h := range hs {
			_ = cw.Write([]string{strconv.FormatInt(j.ID, 10), j.Project, j.Kind, j.Commit, h.Host, h.State, strconv.Itoa(h.Changes),
				strconv.Itoa(h.Ops), strconv.Itoa(h.Generation), strconv.FormatFloat(time.Duration(h.DurationNS).Seconds(), 'f', 3, 64), h.Error})
		}
		cw.Flush()
	default:
		ui.fail(w, r, fmt.Errorf("%w: report format %q (json or csv)", auth.ErrNotFound, r.PathValue("format")))
	}
}
