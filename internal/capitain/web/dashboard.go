package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

type statusCount struct {
	Status string
	N      int
}

type dashboardView struct {
	Counts []statusCount
	Total  int
	// Chart is the counts for the chart's script: {"statuses": [...], "counts": [...]}.
	Chart    string
	Jobs     []*server.Job
	Projects []*server.Project
}

func (ui *UI) dashboard(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ctx := r.Context()
	counts, err := ui.srv.HostCounts(ctx, p)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := dashboardView{}
	var chart struct {
		Statuses []string `json:"statuses"`
		Counts   []int    `json:"counts"`
	}
	for _, s := range statuses {
		v.Counts = append(v.Counts, statusCount{s, counts[s]})
		v.Total += counts[s]
		chart.Statuses, chart.Counts = append(chart.Statuses, s), append(chart.Counts, counts[s])
	}
	b, _ := json.Marshal(chart)
	v.Chart = string(b)
	if v.Jobs, _, err = ui.srv.Jobs(ctx, p, server.JobQuery{Limit: 10}); err != nil {
		ui.fail(w, r, err)
		return
	}
	if v.Projects, err = ui.srv.Projects(ctx, p, "", 50); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Page: v})
}

type projectsView struct {
	Projects []*server.Project
	// CanSync holds the projects whose sync button the viewer gets (the server checks again).
	CanSync map[string]bool
	// More is the link of the next page ("" on the last one).
	More template.URL
}

const projectsPageSize = 100

func (ui *UI) projectsPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ps, err := ui.srv.Projects(r.Context(), p, r.URL.Query().Get("after"), projectsPageSize+1)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := projectsView{Projects: ps, CanSync: map[string]bool{}}
	if len(ps) > projectsPageSize {
		v.Projects = ps[:projectsPageSize]
		v.More = template.URL("/projects?after=" + template.URLQueryEscaper(ps[projectsPageSize-1].Name))
	}
	for _, pr := range v.Projects {
		v.CanSync[pr.Name] = auth.Authorize(p, auth.ActionApply, pr.Name) == nil
	}
	ui.render(w, r, http.StatusOK, "projects", view{Title: "Projects", Nav: "projects", Page: v})
}

// syncProject refreshes a project and applies it to every host (the Sync button).
func (ui *UI) syncProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	j, err := ui.srv.SyncNow(r.Context(), p, r.PathValue("name"))
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", j.ID), http.StatusSeeOther)
}
