package auth

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAuthorizeMatrix checks every action for every kind of principal against a table written
// out by hand (not derived from rules), so that a change to who may do what shows here.
func TestAuthorizeMatrix(t *testing.T) {
	const P, Q = "proj-a", "proj-b"
	session := func(admin bool, roles map[string]Role) *Principal {
		return &Principal{UserID: "u", User: "u", Admin: admin, Roles: roles, Kind: KindSession, Scopes: AllScopes,
			Expires: time.Now().Add(time.Hour)}
	}
	who := []struct {
		name string
		p    *Principal
	}{
		{"global admin", session(true, nil)},
		{"admin of P", session(false, map[string]Role{P: RoleAdmin})},
		{"operator of P", session(false, map[string]Role{P: RoleOperator, Q: RoleViewer})},
		{"viewer of P", session(false, map[string]Role{P: RoleViewer})},
		{"no role", session(false, nil)},
		{"admin of Q", session(false, map[string]Role{Q: RoleAdmin})},
	}
	// Y: allowed; columns in the order of who.
	matrix := []struct {
		action  Action
		project string
		allowed string
	}{
		{ActionReadProject, P, "YYYYNN"},
		{ActionReadProject, "", "YYYYYY"}, // listing: filtered per project
		{ActionUpdateProject, P, "YYNNNN"},
		{ActionDeleteProject, P, "YYNNNN"},
		{ActionPlan, P, "YYYNNN"},
		{ActionApply, P, "YYYNNN"},
		{ActionRollback, P, "YYYNNN"},
		{ActionCancelJob, P, "YYYNNN"},
		{ActionManageHosts, P, "YYNNNN"},
		{ActionManageSchedules, P, "YYNNNN"},
		{ActionManageNotifications, P, "YYNNNN"},
		{ActionManageMembers, P, "YYNNNN"},
		{ActionReadAudit, P, "YYNNNN"},
		{ActionReadAudit, "", "YNNNNN"}, // the whole log
		{ActionCreateProject, "", "YNNNNN"},
		{ActionManageUsers, "", "YNNNNN"},
		{ActionManageTokens, "", "YNNNNN"},
		{ActionOwnTokens, "", "YYYYYY"},
		// A project action without a project, a global one with a project: nobody.
		{ActionApply, "", "NNNNNN"},
		{ActionUpdateProject, "", "NNNNNN"},
		{ActionManageUsers, P, "NNNNNN"},
		{ActionCreateProject, P, "NNNNNN"},
		{Action("job.explode"), P, "NNNNNN"},
	}
	covered := map[Action]bool{}
	for _, m := range matrix {
		covered[m.action] = true
		for i, w := range who {
			err := Authorize(w.p, m.action, m.project)
			want := m.allowed[i] == 'Y'
			if (err == nil) != want {
				t.Errorf("%s %s on %q: err=%v, want allowed=%v", w.name, m.action, m.project, err, want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("%s %s on %q: %v is not ErrForbidden", w.name, m.action, m.project, err)
			}
		}
	}
	for _, a := range Actions() {
		if !covered[a] {
			t.Errorf("action %s has no row in the matrix", a)
		}
	}
}

// TestAuthorizeTokenLimits: scopes, project restriction, expiry and absence.
func TestAuthorizeTokenLimits(t *testing.T) {
	const P, Q = "proj-a", "proj-b"
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	roles := map[string]Role{P: RoleOperator, Q: RoleOperator}
	readOnlyAdmin := &Principal{User: "root", Admin: true, Kind: KindAPIToken, Scopes: []Scope{ScopeRead}, Expires: future}
	pinned := &Principal{User: "ci", Roles: roles, Kind: KindAPIToken, Scopes: []Scope{ScopeRead, ScopeRun, ScopeAdmin}, Project: P, Expires: future}
	pinnedAdmin := &Principal{User: "root", Admin: true, Kind: KindAPIToken, Scopes: AllScopes, Project: P, Expires: future}
	expired := &Principal{User: "root", Admin: true, Kind: KindAPIToken, Scopes: AllScopes, Expires: past}
	for _, c := range []struct {
		name    string
		p       *Principal
		action  Action
		project string
		want    error // nil: allowed
	}{
		{"read-only admin token reads", readOnlyAdmin, ActionReadProject, P, nil},
		{"read-only admin token reads the audit log", readOnlyAdmin, ActionReadAudit, "", nil},
		{"read-only admin token cannot apply", readOnlyAdmin, ActionApply, P, ErrForbidden},
		{"read-only admin token cannot manage users", readOnlyAdmin, ActionManageUsers, "", ErrForbidden},
		{"read-only admin token cannot change a project", readOnlyAdmin, ActionUpdateProject, P, ErrForbidden},
		{"token of P applies on P", pinned, ActionApply, P, nil},
		{"token of P cannot read Q", pinned, ActionReadProject, Q, ErrForbidden},
		{"token of P cannot apply on Q", pinned, ActionApply, Q, ErrForbidden},
		{"token of P lists (only P, filtered)", pinned, ActionReadProject, "", nil},
		{"token of P manages its owner's tokens", pinned, ActionOwnTokens, "", nil},
		{"token of P without write cannot change P", pinned, ActionUpdateProject, P, ErrForbidden},
		{"admin token of P cannot read Q", pinnedAdmin, ActionReadProject, Q, ErrForbidden},
		{"admin token of P cannot create projects", pinnedAdmin, ActionCreateProject, "", ErrForbidden},
		{"admin token of P cannot manage users", pinnedAdmin, ActionManageUsers, "", ErrForbidden},
		{"admin token of P cannot read the whole audit log", pinnedAdmin, ActionReadAudit, "", ErrForbidden},
		{"admin token of P reads P's audit log", pinnedAdmin, ActionReadAudit, P, nil},
		{"expired token refused", expired, ActionReadProject, P, ErrUnauthenticated},
		{"expired token cannot list", expired, ActionReadProject, "", ErrUnauthenticated},
		{"no principal", nil, ActionReadProject, "", ErrUnauthenticated},
		{"system", System(), ActionManageUsers, "", nil},
	} {
		err := Authorize(c.p, c.action, c.project)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, r := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
		if !r.Valid() {
			t.Errorf("%s invalid", r)
		}
	}
	if Role("owner").Valid() || Role("").Valid() {
		t.Error("unknown role valid")
	}
	p := &Principal{Roles: map[string]Role{"a": RoleViewer}}
	if p.Role("a") != RoleViewer || p.Role("b") != "" || System().Role("b") != RoleAdmin {
		t.Error("Principal.Role")
	}
	if !slices.IsSorted(Actions()) || len(Actions()) != len(rules) {
		t.Error("Actions")
	}
}

// TestVisible agrees with Authorize on which projects a principal reads.
func TestVisible(t *testing.T) {
	roles := map[string]Role{"a": RoleViewer, "b": RoleAdmin, "c": "bogus"}
	for _, c := range []struct {
		name string
		p    *Principal
		all  bool
		ids  []string
	}{
		{"nil", nil, false, nil},
		{"admin", &Principal{Admin: true, Scopes: AllScopes}, true, nil},
		{"admin pinned to z", &Principal{Admin: true, Scopes: AllScopes, Project: "z"}, false, []string{"z"}},
		{"member", &Principal{Roles: roles, Scopes: AllScopes}, false, []string{"a", "b"}},
		{"member pinned to b", &Principal{Roles: roles, Scopes: AllScopes, Project: "b"}, false, []string{"b"}},
		{"member pinned elsewhere", &Principal{Roles: roles, Scopes: AllScopes, Project: "z"}, false, nil},
		{"no read scope", &Principal{Admin: true, Scopes: []Scope{ScopeRun}}, false, nil},
	} {
		all, ids := c.p.Visible()
		if all != c.all || !slices.Equal(ids, c.ids) {
			t.Errorf("%s: %v %v, want %v %v", c.name, all, ids, c.all, c.ids)
		}
		for _, id := range []string{"a", "b", "c", "z"} {
			want := c.all || slices.Contains(c.ids, id)
			if got := Authorize(c.p, ActionReadProject, id) == nil; c.p != nil && got != want {
				t.Errorf("%s: Visible says %v for %s, Authorize %v", c.name, want, id, got)
			}
		}
	}
}
