package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/gitsync"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// Project is a git repository holding a Ch-obolo whose fleet Capitain manages.
type Project struct {
	Name string `json:"name"`
	// Repo is the git URL; Ref a branch, tag or commit ("": the remote's HEAD); Path the Ch-obolo
	// inside the repository.
	Repo string `json:"repo"`
	Ref  string `json:"ref"`
	Path string `json:"path"`
	// PollInterval is how often the repository is polled (a Go duration; "" or "0s": never).
	PollInterval string `json:"poll_interval"`
	// SyncPolicy is "manual" or "auto"; Prune allows removals without a human, SelfHeal re-applies
	// drift.
	SyncPolicy string `json:"sync_policy"`
	Prune      bool   `json:"prune"`
	SelfHeal   bool   `json:"self_heal"`
	// Commit is the commit of the last refresh; Refreshed when it ran.
	Commit    string     `json:"commit"`
	Refreshed *time.Time `json:"refreshed,omitempty"`
	// Problems are why the last refresh applies nothing (Ch-obolo errors with their position, a
	// fetch error) and the hosts another project also claims.
	Problems []Problem `json:"problems"`
	Hosts    int       `json:"hosts"`
	Created  time.Time `json:"created"`
	// The GitOps settings (gitops.go): credentials, webhook secret, sync windows, retention.
	ProjectSettings
}

// Problem is one error shown on a project.
type Problem struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	problemRE = regexp.MustCompile(`^(.+?):(\d+):(\d+): (?:error: )?(.*)$`)
)

// fieldError is a request problem with the field it concerns (a 400).
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// validate checks a project a client sent and fills defaults.
func (p *Project) validate() error {
	p.SyncPolicy = strings.TrimSpace(p.SyncPolicy)
	switch {
	case !nameRE.MatchString(p.Name):
		return &fieldError{"name", "lowercase letters, digits and '-', at most 63, starting with a letter or digit"}
	case strings.TrimSpace(p.Repo) == "" || strings.ContainsAny(p.Repo, "\n\r\x00"):
		return &fieldError{"repo", "a git URL is required"}
	case strings.HasPrefix(p.Repo, "-") || strings.HasPrefix(p.Ref, "-"):
		return &fieldError{"repo", "must not start with '-'"}
	case p.Path == "" || path.IsAbs(p.Path) || path.Clean(p.Path) != p.Path || strings.HasPrefix(p.Path, ".."):
		return &fieldError{"path", "a clean relative path of the Ch-obolo inside the repository is required"}
	}
	if p.SyncPolicy == "" {
		p.SyncPolicy = "manual"
	}
	if p.SyncPolicy != "manual" && p.SyncPolicy != "auto" {
		return &fieldError{"sync_policy", `"manual" or "auto"`}
	}
	if p.PollInterval != "" {
		d, err := time.ParseDuration(p.PollInterval)
		if err != nil || d < 0 {
			return &fieldError{"poll_interval", "a duration such as 3m"}
		}
		p.PollInterval = d.String()
	}
	return p.ProjectSettings.validate()
}

const projectColumns = `name, repo, ref, path, poll_interval_s, sync_policy, prune, self_heal, commit_sha, refreshed, problems, created, settings,
	(SELECT COUNT(*) FROM capitain_hosts h WHERE h.project = capitain_projects.name)`

func scanProject(sc interface{ Scan(...any) error }) (*Project, error) {
	var p Project
	var poll, refreshed, created int64
	var prune, heal int
	var problems, settings string
	if err := sc.Scan(&p.Name, &p.Repo, &p.Ref, &p.Path, &poll, &p.SyncPolicy, &prune, &heal, &p.Commit, &refreshed,
		&problems, &created, &settings, &p.Hosts); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &p.ProjectSettings); err != nil {
		return nil, fmt.Errorf("project %s: settings: %w", p.Name, err)
	}
	p.PollInterval = (time.Duration(poll) * time.Second).String()
	p.Prune, p.SelfHeal = prune != 0, heal != 0
	if refreshed != 0 {
		t := time.Unix(0, refreshed).UTC()
		p.Refreshed = &t
	}
	p.Created = time.Unix(0, created).UTC()
	if err := json.Unmarshal([]byte(problems), &p.Problems); err != nil {
		return nil, err
	}
	return &p, nil
}

var errNotFound = errors.New("not found")

// createProjectTx creates a project and audits it, in one transaction.
func (srv *Server) createProjectTx(ctx context.Context, p *Project) error {
	s := srv.store
	poll := pollSeconds(p.PollInterval)
	p.Created = time.Now().UTC()
	p.Problems = []Problem{}
	settings, err := json.Marshal(p.ProjectSettings)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO capitain_projects (name, repo, ref, path, poll_interval_s, sync_policy, prune, self_heal, created, settings)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), p.Name, p.Repo, p.Ref, p.Path, poll, p.SyncPolicy, b2i(p.Prune), b2i(p.SelfHeal), p.Created.UnixNano(),
		string(settings))
	if err != nil && (strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "duplicate key")) {
		return &fieldError{"name", "a project " + p.Name + " exists already"}
	}
	if err != nil {
		return err
	}
	if err := srv.audit(ctx, tx, auth.Entry{Action: "project.create", Project: p.Name, Target: "project:" + p.Name,
		Detail: mustJSON(map[string]any{"repo": p.Repo, "ref": p.Ref, "path": p.Path, "sync_policy": p.SyncPolicy})}); err != nil {
		return err
	}
	return tx.Commit()
}

// pollSeconds is a validated poll interval in seconds ("" is 0: never).
func pollSeconds(interval string) int64 {
	d, _ := time.ParseDuration(interval)
	return int64(d / time.Second)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// project reads one project with its problems (claims included).
func (s *store) project(ctx context.Context, name string) (*Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx, s.q(`SELECT `+projectColumns+` FROM capitain_projects WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return p, s.addClaims(ctx, []*Project{p})
}

// projects lists projects by name after cursor (a name), at most limit, only those of readable
// unless readAll.
func (s *store) projects(ctx context.Context, after string, limit int, readAll bool, readable []string) ([]*Project, error) {
	cond, args := "1 = 1", []any{after}
	if !readAll {
		var a []any
		cond, a = inList("name", readable)
		args = append(args, a...)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+projectColumns+` FROM capitain_projects WHERE name > ? AND `+cond+` ORDER BY name LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.addClaims(ctx, out)
}

// addClaims adds to each project the hosts it claims that another owns, and those it owns that
// another claims: one owner per host, the conflict shown on both.
func (s *store) addClaims(ctx context.Context, ps []*Project) error {
	if len(ps) == 0 {
		return nil
	}
	by := map[string]*Project{}
	for _, p := range ps {
		by[p.Name] = p
	}
	rows, err := s.db.QueryContext(ctx, `SELECT project, host, address, owner, owner_host FROM capitain_claims ORDER BY project, host`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var project, host, addr, owner, ownerHost string
		if err := rows.Scan(&project, &host, &addr, &owner, &ownerHost); err != nil {
			return err
		}
		if p := by[project]; p != nil {
			p.Problems = append(p.Problems, Problem{Message: fmt.Sprintf("host %s (%s) belongs to project %s (as %s): not managed here", host, addr, owner, ownerHost)})
		}
		if p := by[owner]; p != nil {
			p.Problems = append(p.Problems, Problem{Message: fmt.Sprintf("host %s (%s) is also claimed by project %s (as %s)", ownerHost, addr, project, host)})
		}
	}
	return rows.Err()
}

// hostAddress identifies a machine across projects: where its connector reaches it.
func hostAddress(h *chaos.Host) string {
	switch h.Connector {
	case "ssh", "":
		port := h.Port
		if port == 0 {
			port = 22
		}
		return "ssh:" + h.Address + ":" + strconv.Itoa(port)
	case "chroot":
		return "chroot:" + h.Path
	case "local":
		return "local:"
	}
	return h.Connector + ":" + h.Target
}

// loadedProject is a project's Ch-obolo and fleet at one commit.
type loadedProject struct {
	chobolo *chaos.Chobolo
	fleet   *chaos.Fleet
	// tree is the directory the commit was extracted to: stripped from the paths in plans and
	// events, which then name files relative to the repository.
	tree string
}

// load reads the Ch-obolo of a checkout (its imports and templates from the checkout only) and
// its fleet. Problems name files relative to the repository.
func (srv *Server) load(ctx context.Context, co *gitsync.Checkout) (*loadedProject, []Problem) {
	c, err := chaos.Load(co.Chobolo, chaos.LoadOptions{ReadFile: co.ReadFile})
	if err != nil {
		return nil, problems(co.Dir, err)
	}
	f, _, _, err := srv.ctl.LoadInventory(ctx, c, chaos.InventoryOptions{Boats: true})
	if err != nil {
		return nil, problems(co.Dir, err)
	}
	return &loadedProject{chobolo: c, fleet: f, tree: co.Dir}, nil
}

// problems splits an error into its lines, with FILE:LINE:COL parsed and FILE made relative to
// the repository.
func problems(tree string, err error) []Problem {
	var out []Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.ReplaceAll(line, tree+"/", ""))
		if line == "" {
			continue
		}
		if m := problemRE.FindStringSubmatch(line); m != nil {
			l, _ := strconv.Atoi(m[2])
			c, _ := strconv.Atoi(m[3])
			out = append(out, Problem{File: m[1], Line: l, Col: c, Message: m[4]})
			continue
		}
		out = append(out, Problem{Message: line})
	}
	return out
}

// Refresh fetches the project's repository, loads its Ch-obolo at the new commit and, when it is
// valid, replaces the project's hosts with its fleet (hosts another project owns are refused and
// shown on both). An invalid Ch-obolo is stored as the project's problems; nothing is applied.
func (srv *Server) Refresh(ctx context.Context, name string) (*Project, error) {
	p, _, err := srv.refresh(ctx, name, "")
	return p, err
}

// refresh is Refresh at commit ("": the commit the project's ref names now). moved reports that
// the project is now at a commit it was not at before, with a valid Ch-obolo: of replicas refreshing
// to one commit at once, exactly one sees moved.
func (srv *Server) refresh(ctx context.Context, name, commit string) (p *Project, moved bool, err error) {
	if p, err = srv.store.project(ctx, name); err != nil {
		return nil, false, err
	}
	unfetched := func(cause error) (*Project, bool, error) {
		if err := srv.store.setProblems(ctx, name, []Problem{{Message: cause.Error()}}); err != nil {
			return nil, false, err
		}
		p, err := srv.store.project(ctx, name)
		return p, false, err
	}
	src, err := p.source(commit)
	if err != nil {
		return unfetched(err)
	}
	co, err := srv.git.Sync(ctx, p.Name, src)
	if err != nil {
		return unfetched(err)
	}
	lp, probs := srv.load(ctx, co)
	var hosts []*chaos.Host
	if lp != nil {
		hosts = lp.fleet.Hosts
	}
	moved, err = srv.setRefresh(ctx, p, co.Commit, probs, hosts)
	if err != nil {
		return nil, false, err
	}
	srv.metrics.refreshes.Inc()
	p, err = srv.store.project(ctx, name)
	return p, moved && lp != nil, err
}

// setProblems records a refresh that got no commit (a fetch or credentials error).
func (s *store) setProblems(ctx context.Context, project string, probs []Problem) error {
	pj, err := json.Marshal(probs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`UPDATE capitain_projects SET problems = ?, refreshed = ? WHERE name = ?`), string(pj), time.Now().UnixNano(), project)
	return err
}

// setRefresh records a refresh of p: the commit and problems, and (hosts != nil) the project's
// hosts. It reports whether the project's commit changed. The audit log has it when a user asked
// for it or the commit changed (a poll that finds nothing new is not a change worth a line).
func (srv *Server) setRefresh(ctx context.Context, p *Project, commit string, probs []Problem, hosts []*chaos.Host) (moved bool, err error) {
	s, project := srv.store, p.Name
	if probs == nil {
		probs = []Problem{}
	}
	pj, err := json.Marshal(probs)
	if err != nil {
		return false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if s.postgres {
		// Two refreshes claiming one host at once: one after the other.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock+1); err != nil {
			return false, err
		}
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_projects SET commit_sha = ? WHERE name = ? AND commit_sha <> ?`), commit, project, commit)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	moved = n == 1
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_projects SET problems = ?, refreshed = ? WHERE name = ?`),
		string(pj), time.Now().UnixNano(), project); err != nil {
		return false, err
	}
	if auth.FromContext(ctx) != nil || moved {
		if err := srv.audit(ctx, tx, auth.Entry{Action: "project.refresh", Project: project, Target: "project:" + project,
			Detail: mustJSON(map[string]any{"from": p.Commit, "commit": commit, "problems": len(probs), "hosts": len(hosts)})}); err != nil {
			return false, err
		}
	}
	if hosts == nil {
		return moved, tx.Commit()
	}
	owned := map[string][2]string{} // address -> project, host of the other projects
	rows, err := tx.QueryContext(ctx, s.q(`SELECT project, name, address FROM capitain_hosts WHERE project <> ?`), project)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var p, n, a string
		if err := rows.Scan(&p, &n, &a); err != nil {
			rows.Close()
			return false, err
		}
		owned[a] = [2]string{p, n}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM capitain_claims WHERE project = ?`), project); err != nil {
		return false, err
	}
	keep := map[string]bool{}
	for _, h := range hosts {
		addr := hostAddress(h)
		if o, ok := owned[addr]; ok {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO capitain_claims (project, host, address, owner, owner_host) VALUES (?, ?, ?, ?, ?)`),
				project, h.Name, addr, o[0], o[1]); err != nil {
				return false, err
			}
			continue
		}
		groups, _ := json.Marshal(append([]string{}, h.Groups...))
		keep[h.Name] = true
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO capitain_hosts (project, name, address, groups_json) VALUES (?, ?, ?, ?)
			ON CONFLICT (project, name) DO UPDATE SET address = excluded.address, groups_json = excluded.groups_json`),
			project, h.Name, addr, string(groups)); err != nil {
			return false, err
		}
	}
	// Hosts that left the fleet leave the project.
	rows, err = tx.QueryContext(ctx, s.q(`SELECT name FROM capitain_hosts WHERE project = ?`), project)
	if err != nil {
		return false, err
	}
	var gone []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return false, err
		}
		if !keep[n] {
			gone = append(gone, n)
		}
	}
	rows.Close()
	for _, n := range gone {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM capitain_hosts WHERE project = ? AND name = ?`), project, n); err != nil {
			return false, err
		}
	}
	return moved, tx.Commit()
}
