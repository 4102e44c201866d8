package auth

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Role is a user's role on one project.
type Role string

const (
	// RoleViewer reads the project: hosts, plans, jobs and their events.
	RoleViewer Role = "viewer"
	// RoleOperator also runs jobs: plan, apply, rollback, cancel.
	RoleOperator Role = "operator"
	// RoleAdmin also changes the project: settings, hosts, schedules, notifications, members,
	// and reads its audit log.
	RoleAdmin Role = "admin"
)

// rank orders roles; 0 is no role.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Scope limits what an API token may do, below what its user may do.
type Scope string

const (
	// ScopeRead: read actions (projects, hosts, jobs, events, audit).
	ScopeRead Scope = "read"
	// ScopeRun: start and cancel jobs (plan, apply, rollback).
	ScopeRun Scope = "run"
	// ScopeWrite: change projects and their hosts, schedules, notifications and members.
	ScopeWrite Scope = "write"
	// ScopeAdmin: manage users and tokens.
	ScopeAdmin Scope = "admin"
)

// AllScopes are every scope, which sessions and the bootstrap token have.
var AllScopes = []Scope{ScopeRead, ScopeRun, ScopeWrite, ScopeAdmin}

func (s Scope) valid() bool { return slices.Contains(AllScopes, s) }

// Action is something the API does; Authorize decides who may.
type Action string

const (
	// Project actions: Authorize needs the project's ID.
	ActionReadProject         Action = "project.read" // the project, its hosts, jobs, events; "" lists projects
	ActionUpdateProject       Action = "project.update"
	ActionDeleteProject       Action = "project.delete"
	ActionPlan                Action = "job.plan" // plan and drift-check jobs
	ActionApply               Action = "job.apply"
	ActionRollback            Action = "job.rollback"
	ActionCancelJob           Action = "job.cancel"
	ActionManageHosts         Action = "host.manage" // labels, push/pull mode, agent enrollment and revocation
	ActionManageSchedules     Action = "schedule.manage"
	ActionManageNotifications Action = "notification.manage"
	ActionManageMembers       Action = "member.manage"
	ActionReadAudit           Action = "audit.read" // the project's entries; "" is the whole log
	// Global actions: Authorize needs project "".
	ActionCreateProject Action = "project.create"
	ActionManageUsers   Action = "user.manage"
	ActionManageTokens  Action = "token.manage" // every user's tokens
	ActionOwnTokens     Action = "token.own"    // the principal's own tokens
)

// rule is who may do an action: the scope a token needs, and the least project role (0: only a
// global admin). global actions take no project.
type rule struct {
	scope  Scope
	role   Role
	global bool
}

var rules = map[Action]rule{
	ActionReadProject:         {scope: ScopeRead, role: RoleViewer},
	ActionUpdateProject:       {scope: ScopeWrite, role: RoleAdmin},
	ActionDeleteProject:       {scope: ScopeWrite, role: RoleAdmin},
	ActionPlan:                {scope: ScopeRun, role: RoleOperator},
	ActionApply:               {scope: ScopeRun, role: RoleOperator},
	ActionRollback:            {scope: ScopeRun, role: RoleOperator},
	ActionCancelJob:           {scope: ScopeRun, role: RoleOperator},
	ActionManageHosts:         {scope: ScopeWrite, role: RoleAdmin},
	ActionManageSchedules:     {scope: ScopeWrite, role: RoleAdmin},
	ActionManageNotifications: {scope: ScopeWrite, role: RoleAdmin},
	ActionManageMembers:       {scope: ScopeWrite, role: RoleAdmin},
	ActionReadAudit:           {scope: ScopeRead, role: RoleAdmin},
	ActionCreateProject:       {scope: ScopeWrite, global: true},
	ActionManageUsers:         {scope: ScopeAdmin, global: true},
	ActionManageTokens:        {scope: ScopeAdmin, global: true},
	ActionOwnTokens:           {scope: ScopeAdmin, global: true},
}

// Actions lists every action, for documentation and tests.
func Actions() []Action {
	out := make([]Action, 0, len(rules))
	for a := range rules {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Kind is how a principal authenticated.
type Kind string

const (
	KindAPIToken Kind = "api"     // an API token (Bearer)
	KindSession  Kind = "session" // a session from a login (Bearer or cookie)
	KindSystem   Kind = "system"  // the server itself (System): bootstrap, schedules, webhooks
)

// Principal is who makes a request, as Authenticate found them: the user, their roles, and the
// limits of the token used.
type Principal struct {
	UserID string `json:"userId,omitempty"`
	User   string `json:"user"`
	// Admin is the user's global admin flag: every action on every project (within Scopes).
	Admin bool `json:"admin"`
	// Roles are the user's roles by project ID.
	Roles map[string]Role `json:"roles,omitempty"`
	Kind  Kind            `json:"kind"`
	// TokenID is the token's (or session's) ID; "" for System.
	TokenID string `json:"tokenId,omitempty"`
	// Scopes are what the token allows; sessions and System have AllScopes.
	Scopes []Scope `json:"scopes"`
	// Project, when set, is the only project the token may touch.
	Project string `json:"project,omitempty"`
	// Expires is when the token stops working (zero: never, for System).
	Expires time.Time `json:"expires,omitzero"`
	// Addr is the client's address (ClientAddr), for the audit log.
	Addr string `json:"addr,omitempty"`
}

// System is the server acting on its own (bootstrap, schedules, webhooks, auto-sync): a global
// admin with every scope, recorded in the audit log as "system".
func System() *Principal {
	return &Principal{User: "system", Admin: true, Kind: KindSystem, Scopes: AllScopes}
}

// Role is the principal's effective role on project: admin for a global admin, else their
// membership's ("" when none).
func (p *Principal) Role(project string) Role {
	if p.Admin {
		return RoleAdmin
	}
	return p.Roles[project]
}

// Authorize reports whether p may do action on project (a project ID, or "" for a global action
// and for listing). It reads no database: nil or expired principals are ErrUnauthenticated, and
// everything else that is refused is ErrForbidden, with the reason. A token restricted to one
// project may do nothing elsewhere, nor anything global but its owner's own tokens.
func Authorize(p *Principal, action Action, project string) error {
	return authorizeAt(p, action, project, time.Now())
}

func authorizeAt(p *Principal, action Action, project string, now time.Time) error {
	if p == nil {
		return fmt.Errorf("%w: no credentials", ErrUnauthenticated)
	}
	if !p.Expires.IsZero() && !now.Before(p.Expires) {
		return fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	r, ok := rules[action]
	if !ok {
		return fmt.Errorf("%w: unknown action %q", ErrForbidden, action)
	}
	if !slices.Contains(p.Scopes, r.scope) {
		return fmt.Errorf("%w: %s needs a token with scope %q", ErrForbidden, action, r.scope)
	}
	listing := action == ActionReadProject && project == ""
	switch {
	case r.global && project != "":
		return fmt.Errorf("%w: %s is not a project action", ErrForbidden, action)
	case !r.global && project == "" && !listing && action != ActionReadAudit:
		return fmt.Errorf("%w: %s needs a project", ErrForbidden, action)
	}
	if p.Project != "" {
		switch {
		case project != "" && project != p.Project:
			return fmt.Errorf("%w: this token is restricted to project %s", ErrForbidden, p.Project)
		case project == "" && !listing && action != ActionOwnTokens:
			return fmt.Errorf("%w: a token restricted to a project cannot %s", ErrForbidden, action)
		}
	}
	if listing || action == ActionOwnTokens {
		return nil // a list is filtered by Authorize per project; every user manages their own tokens
	}
	if p.Admin {
		return nil
	}
	if r.global || project == "" {
		return fmt.Errorf("%w: %s needs a global admin", ErrForbidden, action)
	}
	if have := p.Roles[project]; have.rank() < r.role.rank() {
		if have == "" {
			return fmt.Errorf("%w: no role on project %s", ErrForbidden, project)
		}
		return fmt.Errorf("%w: %s needs role %s on project %s, not %s", ErrForbidden, action, r.role, project, have)
	}
	return nil
}

// Visible is which projects p may read, for filtering a list in the query rather than row by
// row: all of them, or only those named (sorted; none when empty).
func (p *Principal) Visible() (all bool, projects []string) {
	if p == nil || !slices.Contains(p.Scopes, ScopeRead) {
		return false, nil
	}
	switch {
	case p.Project != "" && p.Role(p.Project) != "":
		return false, []string{p.Project}
	case p.Project != "":
		return false, nil
	case p.Admin:
		return true, nil
	}
	for id, r := range p.Roles {
		if r.Valid() {
			projects = append(projects, id)
		}
	}
	slices.Sort(projects)
	return false, projects
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p (Middleware does this for requests).
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext is the principal Middleware found for the request, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
