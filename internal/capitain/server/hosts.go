package server

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The sync statuses of a host.
const (
	StatusSynced      = "Synced"
	StatusOutOfSync   = "OutOfSync"
	StatusFailed      = "Failed"
	StatusUnreachable = "Unreachable"
	StatusUnknown     = "Unknown"
)

// Host is one host of a project's fleet and what Capitain last learnt about it.
type Host struct {
	Project string   `json:"project"`
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Groups  []string `json:"groups"`
	// Probed is the last probe; Core and OS what it found.
	Probed *time.Time `json:"probed,omitempty"`
	Core   string     `json:"core"`
	OS     string     `json:"os"`
	// Generation is the host's latest generation; SyncedCommit the commit it was last applied at.
	Generation   int    `json:"generation"`
	SyncedCommit string `json:"synced_commit"`
	// Status is Synced, OutOfSync, Failed, Unreachable or Unknown; PendingPlan the plan an
	// OutOfSync host waits on (the plan event's object); Error why it failed.
	Status      string          `json:"status"`
	PendingPlan json.RawMessage `json:"pending_plan,omitempty"`
	Error       string          `json:"error"`
}

const hostColumns = `project, name, address, groups_json, probed, core, os, generation, synced_commit, status, pending_plan, error`

func scanHost(sc interface{ Scan(...any) error }, withPlan bool) (*Host, error) {
	var h Host
	var groups, plan string
	var probed int64
	if err := sc.Scan(&h.Project, &h.Name, &h.Address, &groups, &probed, &h.Core, &h.OS, &h.Generation, &h.SyncedCommit,
		&h.Status, &plan, &h.Error); err != nil {
		return nil, err
	}
	if probed != 0 {
		t := time.Unix(0, probed).UTC()
		h.Probed = &t
	}
	if err := json.Unmarshal([]byte(groups), &h.Groups); err != nil {
		return nil, err
	}
	if withPlan && plan != "" {
		h.PendingPlan = json.RawMessage(plan)
	}
	return &h, nil
}

func (s *store) host(ctx context.Context, project, name string) (*Host, error) {
	h, err := scanHost(s.db.QueryRowContext(ctx, s.q(`SELECT `+hostColumns+` FROM capitain_hosts WHERE project = ? AND name = ?`), project, name), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return h, err
}

// hostFilter selects and orders a page of hosts.
type hostFilter struct {
	Project, Status, Label string
	// Name is a glob (* and ?) on the host's name.
	Name string
	// Sort is name (default), status or probed; Desc reverses it.
	Sort string
	Desc bool
	// Cursor is the page's start (the previous page's Next); Limit its size.
	Cursor string
	Limit  int
	// Readable limits the hosts to those of these projects unless ReadAll.
	Readable []string
	ReadAll  bool
}

// hostSorts are the sortable columns and whether they hold numbers.
var hostSorts = map[string]bool{"name": false, "status": false, "probed": true}

// cursor is the position after a row: its sort value, project and name.
type cursor struct {
	V string `json:"v"`
	P string `json:"p"`
	N string `json:"n"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, &fieldError{"cursor", "not a cursor this server gave"}
	}
	return c, nil
}

// inList is "column IN (?, ...)" of values, and its arguments ("1 = 0" when values is empty).
func inList(column string, values []string) (string, []any) {
	if len(values) == 0 {
		return "1 = 0", nil
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return column + " IN (?" + strings.Repeat(", ?", len(values)-1) + ")", args
}

// globToLike turns a glob into a LIKE pattern (escape character \).
func globToLike(g string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`, `?`, `_`)
	return r.Replace(g)
}

// hosts lists a page of hosts and the cursor of the next page ("" at the end).
func (s *store) hosts(ctx context.Context, f hostFilter) ([]*Host, string, error) {
	sortCol := f.Sort
	if sortCol == "" {
		sortCol = "name"
	}
	numeric, ok := hostSorts[sortCol]
	if !ok {
		return nil, "", &fieldError{"sort", "name, status or probed"}
	}
	var where []string
	var args []any
	if !f.ReadAll {
		cond, a := inList("project", f.Readable)
		where, args = append(where, cond), append(args, a...)
	}
	if f.Project != "" {
		where, args = append(where, "project = ?"), append(args, f.Project)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Label != "" {
		// groups_json is a JSON array of strings; a quoted match is exact.
		lbl, _ := json.Marshal(f.Label)
		where, args = append(where, `groups_json LIKE ? ESCAPE '\'`), append(args, "%"+globToLike(string(lbl))+"%")
	}
	if f.Name != "" {
		where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, globToLike(f.Name))
	}
	op, dir := ">", "ASC"
	if f.Desc {
		op, dir = "<", "DESC"
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		var v any = c.V
		if numeric {
			n, err := strconv.ParseInt(c.V, 10, 64)
			if err != nil {
				return nil, "", &fieldError{"cursor", "not a cursor this server gave"}
			}
			v = n
		}
		if sortCol == "name" {
			where = append(where, "(name "+op+" ? OR (name = ? AND project "+op+" ?))")
			args = append(args, c.N, c.N, c.P)
		} else {
			where = append(where, "("+sortCol+" "+op+" ? OR ("+sortCol+" = ? AND (name "+op+" ? OR (name = ? AND project "+op+" ?))))")
			args = append(args, v, v, c.N, c.N, c.P)
		}
	}
	q := `SELECT ` + hostColumns + ` FROM capitain_hosts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	order := sortCol + " " + dir + ", name " + dir + ", project " + dir
	if sortCol == "name" {
		order = "name " + dir + ", project " + dir
	}
	q += " ORDER BY " + order + " LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Host
	for rows.Next() {
		h, err := scanHost(rows, false)
		if err != nil {
			return nil, "", err
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		c := cursor{P: last.Project, N: last.Name}
		switch sortCol {
		case "status":
			c.V = last.Status
		case "probed":
			c.V = "0"
			if last.Probed != nil {
				c.V = strconv.FormatInt(last.Probed.UnixNano(), 10)
			}
		}
		next = encodeCursor(c)
	}
	return out, next, nil
}
