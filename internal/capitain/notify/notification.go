// Package notify sends Capitain's notifications: a job failed or succeeded, a host drifted or became
// unreachable, a sync started or finished. Channels are signed generic webhooks, Slack-compatible
// incoming webhooks (Mattermost and Rocket.Chat accept the same messages) and SMTP email.
//
// The server builds a [Dispatcher] from a [Config] once, then calls [Dispatcher.Notify] for every
// event; per-project [Rule]s decide which channels get it ([Route] is that decision, a pure
// function). Delivery never slows or fails a job: Notify only enqueues into a bounded queue, and
// workers send with a timeout per attempt, retry with exponential backoff, and hand what they gave
// up on to the server's [DeadLetters]. [Hooks.Metrics] sees every outcome, for Prometheus.
//
// Secrets (webhook signing keys, Slack URLs, the SMTP password) come from files or environment
// variables ([Secret]) and never appear in logs, errors or the String of any value here.
package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Event is what happened. Its string is the payload's "event" field and a rule's event name.
type Event string

// The events Capitain notifies.
const (
	JobFailed       Event = "job.failed"
	JobSucceeded    Event = "job.succeeded"
	DriftDetected   Event = "host.drift"       // a host went OutOfSync (new drift, not one already known)
	HostUnreachable Event = "host.unreachable" // a host could not be reached for a job or a check
	SyncStarted     Event = "sync.started"
	SyncFinished    Event = "sync.finished"
)

// Events lists every Event, in the order the documentation gives them.
var Events = []Event{JobFailed, JobSucceeded, DriftDetected, HostUnreachable, SyncStarted, SyncFinished}

func (e Event) valid() bool {
	for _, k := range Events {
		if e == k {
			return true
		}
	}
	return false
}

// Notification is one event, as every channel renders it. The server fills it; the dispatcher adds
// ID and Time when they are empty.
type Notification struct {
	// ID is the same on every delivery and retry of this notification: receivers deduplicate on it.
	ID      string    `json:"id"`
	Event   Event     `json:"event"`
	Time    time.Time `json:"time"`
	Project string    `json:"project"`
	Job     *Job      `json:"job,omitempty"`
	// Hosts are the hosts concerned; a rule with a label filter keeps only those that match.
	Hosts   []Host `json:"hosts"`
	Summary string `json:"summary"`
	// Link is an absolute URL to the job or host in Capitain's UI.
	Link string `json:"link,omitempty"`
}

// Job identifies the job a notification is about.
type Job struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`    // plan, apply, rollback, drift-check
	Trigger string `json:"trigger"` // user, schedule, webhook, auto-sync
	Commit  string `json:"commit,omitempty"`
	// Status is the job's state: queued, running, succeeded, failed, cancelled.
	Status string `json:"status"`
}

// Host is one host of a notification.
type Host struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Status is the host's sync status (Synced, OutOfSync, Failed, Unreachable, Unknown) or its
	// outcome in the job (changed, unchanged, failed, ...).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Failure reports whether n is bad news: a failed job, an unreachable host, or any event whose job
// failed. Drift is not a failure (nothing broke; the host differs from the commit). Rules with
// only_failures keep exactly these.
func (n Notification) Failure() bool {
	switch n.Event {
	case JobFailed, HostUnreachable:
		return true
	}
	return n.Job != nil && n.Job.Status == "failed"
}

// Title is a one-line description ("project web: job 42 (apply) failed on 3 hosts"), used as the
// email subject and the chat header. It never contains a line break.
func (n Notification) Title() string {
	var what string
	switch n.Event {
	case JobFailed, JobSucceeded:
		verb := "failed"
		if n.Event == JobSucceeded {
			verb = "succeeded"
		}
		what = "job " + n.jobName() + " " + verb
	case DriftDetected:
		what = "drift detected"
	case HostUnreachable:
		what = "host unreachable"
	case SyncStarted:
		what = "sync started"
	case SyncFinished:
		what = "sync finished"
		if n.Failure() {
			what = "sync failed"
		}
	default:
		what = string(n.Event)
	}
	t := fmt.Sprintf("project %s: %s", n.Project, what)
	switch len(n.Hosts) {
	case 0:
	case 1:
		t += " on " + n.Hosts[0].Name
	default:
		t += fmt.Sprintf(" on %d hosts", len(n.Hosts))
	}
	// Names come from repositories and inventories: keep a header or subject on one line.
	return strings.Join(strings.Fields(t), " ")
}

func (n Notification) jobName() string {
	if n.Job == nil {
		return ""
	}
	if n.Job.Kind == "" {
		return n.Job.ID
	}
	return n.Job.ID + " (" + n.Job.Kind + ")"
}

// newID returns a random 128-bit hex id for a notification the server did not name.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b[:])
}
