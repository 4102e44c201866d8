package server

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/ch-aos-ch/chaos/internal/capitain/notify"
)

// notifyJob tells the configured channels how a job ended: job.failed or job.succeeded with its
// hosts that did not succeed, sync.finished for an automatic or scheduled apply, host.drift for the
// hosts a check found newly OutOfSync and host.unreachable for those it could not reach. Rules
// (notify.Route) decide who gets what, per project.
func (srv *Server) notifyJob(ctx context.Context, j *Job) {
	if srv.notifier == nil {
		return
	}
	hs, err := srv.store.jobHostsNotified(ctx, j.ID)
	if err != nil {
		srv.log.Error("notifications", "job", j.ID, "error", err)
		return
	}
	var bad, drift, unreachable []notify.Host
	for _, h := range hs {
		nh := notify.Host{Name: h.Host, Status: h.State, Error: h.Error}
		switch h.State {
		case StateFailed, StateCancelled, "skipped":
			bad = append(bad, nh)
		case "unreachable":
			bad, unreachable = append(bad, nh), append(unreachable, nh)
		}
		if h.newDrift {
			nh.Status = StatusOutOfSync
			drift = append(drift, nh)
		}
	}
	ev := notify.JobSucceeded
	if j.State == StateFailed {
		ev = notify.JobFailed
	}
	srv.notifier.Notify(srv.notification(j, ev, bad, ""))
	if (j.Kind == KindApply || j.Kind == KindRollback) && j.Trigger != TriggerUser {
		srv.notifier.Notify(srv.notification(j, notify.SyncFinished, bad, ""))
	}
	if len(drift) > 0 {
		srv.notifier.Notify(srv.notification(j, notify.DriftDetected, drift, ""))
	}
	if len(unreachable) > 0 {
		srv.notifier.Notify(srv.notification(j, notify.HostUnreachable, unreachable, ""))
	}
}

// notifySync tells that an automatic or scheduled apply started.
func (srv *Server) notifySync(j *Job, ev notify.Event) {
	if srv.notifier != nil {
		srv.notifier.Notify(srv.notification(j, ev, nil, ""))
	}
}

func (srv *Server) notification(j *Job, ev notify.Event, hosts []notify.Host, summary string) notify.Notification {
	if hosts == nil {
		hosts = []notify.Host{}
	}
	n := notify.Notification{Event: ev, Project: j.Project, Hosts: hosts, Summary: summary,
		Job: &notify.Job{ID: strconv.FormatInt(j.ID, 10), Kind: j.Kind, Trigger: j.Trigger, Commit: j.Commit, Status: j.State}}
	if n.Summary == "" {
		n.Summary = n.Title()
	}
	return n
}

// notifiedHost is a job's host as a notification needs it.
type notifiedHost struct {
	JobHost
	newDrift bool
}

func (s *store) jobHostsNotified(ctx context.Context, id int64) ([]notifiedHost, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT host, state, error, new_drift FROM capitain_job_hosts
		WHERE job_id = ? AND (new_drift = 1 OR state NOT IN ('changed', 'unchanged', 'pending')) ORDER BY host`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notifiedHost
	for rows.Next() {
		var h notifiedHost
		var nd int
		if err := rows.Scan(&h.Host, &h.State, &h.Error, &nd); err != nil {
			return nil, err
		}
		h.newDrift = nd != 0
		out = append(out, h)
	}
	return out, rows.Err()
}

// deadLetters keeps the notifications the dispatcher gave up on in the database.
type deadLetters struct{ s *store }

func (d deadLetters) Record(ctx context.Context, dl notify.DeadLetter) error {
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	_, err = d.s.db.ExecContext(ctx, d.s.q(`INSERT INTO capitain_dead_letters (at, data) VALUES (?, ?)`), dl.Time.UnixNano(), string(b))
	return err
}
