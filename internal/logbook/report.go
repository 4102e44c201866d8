package logbook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// RunSummary is one line of `chaos logbook list`.
type RunSummary struct {
	ID         string        `json:"id"`
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Command    string        `json:"command"`
	Chobolo    string        `json:"chobolo,omitempty"`
	Controller string        `json:"controller,omitempty"`
	User       string        `json:"user,omitempty"`
	Status     string        `json:"status"`
	Error      string        `json:"error,omitempty"`
	Hosts      int           `json:"hosts"`
	Failed     int           `json:"failed_hosts"`
	Changed    int           `json:"changed"`
	Ops        int           `json:"ops"`
}

// HostReport is a host's outcome in a run.
type HostReport struct {
	Target     string        `json:"target"`
	Status     string        `json:"status"`
	Duration   time.Duration `json:"duration_ns"`
	Probe      time.Duration `json:"probe_ns"`
	Changed    int           `json:"changed"`
	Ops        int           `json:"ops"`
	RolledBack bool          `json:"rolled_back,omitempty"`
	Generation int           `json:"generation,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// OpReport is one op of a run.
type OpReport struct {
	Seq      int           `json:"seq"`
	Target   string        `json:"target"`
	Role     string        `json:"role"`
	Op       string        `json:"op"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
	// Stdout and Stderr are the tails of what the op printed.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// Percentiles of op durations (nearest rank).
type Percentiles struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
	Total time.Duration `json:"total_ns"`
}

// Report is `chaos logbook show|export RUN`.
type Report struct {
	Run   RunSummary   `json:"run"`
	Hosts []HostReport `json:"hosts"`
	Ops   []OpReport   `json:"ops"`
	Undos []OpReport   `json:"undos,omitempty"`
	// Access are the confirmations of access after applies over SSH and what the next run found of
	// a host's access watchdog (engine.EventAccess, engine.EventWatchdog): Op says what, Error
	// says what went wrong.
	Access []OpReport             `json:"access,omitempty"`
	OpTime Percentiles            `json:"op_durations"`
	ByRole map[string]Percentiles `json:"op_durations_by_role"`
}

const runSummaryQuery = `SELECT r.id, r.started, COALESCE(r.ended, 0), r.command, r.chobolo, r.controller, r.username, r.status, r.error,
	(SELECT COUNT(*) FROM hosts h WHERE h.run_id = r.id),
	(SELECT COUNT(*) FROM hosts h WHERE h.run_id = r.id AND h.status IN ('failed', 'rolled back')),
	(SELECT COALESCE(SUM(h.changed), 0) FROM hosts h WHERE h.run_id = r.id),
	(SELECT COALESCE(SUM(h.ops), 0) FROM hosts h WHERE h.run_id = r.id)
	FROM runs r`

func scanRun(sc interface{ Scan(...any) error }) (RunSummary, error) {
	var r RunSummary
	var started, ended int64
	err := sc.Scan(&r.ID, &started, &ended, &r.Command, &r.Chobolo, &r.Controller, &r.User, &r.Status, &r.Error,
		&r.Hosts, &r.Failed, &r.Changed, &r.Ops)
	r.Started = time.Unix(0, started)
	if ended > 0 {
		r.Duration = time.Duration(ended - started)
	}
	return r, err
}

// Runs lists the latest runs, newest first.
func (s *Store) Runs(ctx context.Context, limit int) ([]RunSummary, error) {
	if err := s.opened(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.db.QueryContext(ctx, s.q(runSummaryQuery+` ORDER BY r.started DESC LIMIT ?`), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunSummary
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErrNoRun is returned for an unknown run id.
var ErrNoRun = errors.New("no such run")

// maxCandidates is how many ids an ambiguous reference lists.
const maxCandidates = 10

// Resolve turns "last", a run id, or a prefix or suffix of exactly one run id (the date, or the
// random hex part) into a run id. An ambiguous reference is an error that lists the candidates.
func (s *Store) Resolve(ctx context.Context, ref string) (string, error) {
	if err := s.opened(); err != nil {
		return "", err
	}
	if ref == "" || ref == "last" || ref == "latest" {
		var id string
		err := s.db.QueryRowContext(ctx, `SELECT id FROM runs ORDER BY started DESC LIMIT 1`).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("the logbook is empty: %w", ErrNoRun)
		}
		return id, err
	}
	// LIKE narrows the scan; the Go check is the rule, since _ and % in ref are LIKE wildcards.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM runs WHERE id LIKE ? OR id LIKE ? ORDER BY started DESC`), ref+"%", "%"+ref)
	if err != nil {
		return "", fmt.Errorf("limani %s: %w", s.Where, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("limani %s: %w", s.Where, err)
		}
		if id == ref {
			return id, nil
		}
		if strings.HasPrefix(id, ref) || strings.HasSuffix(id, ref) {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("limani %s: %w", s.Where, err)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("run %q: %w", ref, ErrNoRun)
	case 1:
		return ids[0], nil
	}
	list := ids[:min(len(ids), maxCandidates)]
	more := ""
	if n := len(ids) - len(list); n > 0 {
		more = fmt.Sprintf("\n  ... and %d more", n)
	}
	return "", fmt.Errorf("run %q matches %d runs; give more of the id:\n  %s%s", ref, len(ids), strings.Join(list, "\n  "), more)
}

// Report builds the report of one run.
func (s *Store) Report(ctx context.Context, ref string) (*Report, error) {
	id, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	rep := &Report{ByRole: map[string]Percentiles{}}
	if rep.Run, err = scanRun(s.db.QueryRowContext(ctx, s.q(runSummaryQuery+` WHERE r.id = ?`), id)); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT target, status, started, COALESCE(ended, 0), probe_ns, changed, ops, rolled_back, generation, error
		FROM hosts WHERE run_id = ? ORDER BY target`), id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var h HostReport
		var started, ended, probe int64
		var rb int
		if err := rows.Scan(&h.Target, &h.Status, &started, &ended, &probe, &h.Changed, &h.Ops, &rb, &h.Generation, &h.Error); err != nil {
			rows.Close()
			return nil, err
		}
		if ended > 0 {
			h.Duration = time.Duration(ended - started)
		}
		h.Probe, h.RolledBack = time.Duration(probe), rb != 0
		rep.Hosts = append(rep.Hosts, h)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT seq, type, target, role, op, duration_ns, error, stdout, stderr FROM events
		WHERE run_id = ? AND type IN ('op.end', 'undo', '`+string(engine.EventAccess)+`', '`+string(engine.EventWatchdog)+`') ORDER BY seq`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []time.Duration
	byRole := map[string][]time.Duration{}
	for rows.Next() {
		var o OpReport
		var typ string
		var d int64
		if err := rows.Scan(&o.Seq, &typ, &o.Target, &o.Role, &o.Op, &d, &o.Error, &o.Stdout, &o.Stderr); err != nil {
			return nil, err
		}
		o.Duration = time.Duration(d)
		switch typ {
		case "undo":
			rep.Undos = append(rep.Undos, o)
			continue
		case string(engine.EventAccess), string(engine.EventWatchdog):
			rep.Access = append(rep.Access, o)
			continue
		}
		rep.Ops = append(rep.Ops, o)
		all = append(all, o.Duration)
		byRole[o.Role] = append(byRole[o.Role], o.Duration)
	}
	rep.OpTime = Percentile(all)
	for role, ds := range byRole {
		rep.ByRole[role] = Percentile(ds)
	}
	return rep, rows.Err()
}

// Percentile computes nearest-rank percentiles of ds.
func Percentile(ds []time.Duration) Percentiles {
	p := Percentiles{Count: len(ds)}
	if len(ds) == 0 {
		return p
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	p.P50, p.P90, p.P95, p.P99, p.Max = rank(0.50), rank(0.90), rank(0.95), rank(0.99), s[len(s)-1]
	for _, d := range s {
		p.Total += d
	}
	return p
}
