package notify

import (
	"reflect"
	"testing"
)

func TestRoute(t *testing.T) {
	web1 := Host{Name: "web1", Labels: map[string]string{"env": "prod", "role": "web"}, Status: "failed"}
	web2 := Host{Name: "web2", Labels: map[string]string{"env": "staging", "role": "web"}, Status: "failed"}
	db1 := Host{Name: "db1", Labels: map[string]string{"env": "prod", "role": "db"}, Status: "changed"}
	failed := Notification{Event: JobFailed, Project: "shop", Job: &Job{ID: "7", Status: "failed"}, Hosts: []Host{web1, web2, db1}}
	succeeded := Notification{Event: JobSucceeded, Project: "shop", Job: &Job{ID: "8", Status: "succeeded"}, Hosts: []Host{web1, web2}}
	syncFailed := Notification{Event: SyncFinished, Project: "shop", Job: &Job{ID: "9", Status: "failed"}, Hosts: []Host{web2}}
	drift := Notification{Event: DriftDetected, Project: "blog", Hosts: []Host{web2}}
	noHosts := Notification{Event: SyncStarted, Project: "shop"}

	all := Rule{Name: "all", Channels: []string{"audit"}}
	prodFailures := Rule{Name: "prod-failures", OnlyFailures: true, Labels: map[string]string{"env": "prod"}, Channels: []string{"pager", "chat"}}
	shopJobs := Rule{Name: "shop-jobs", Projects: []string{"shop"}, Events: []Event{JobFailed, JobSucceeded}, Channels: []string{"chat"}}
	webStaging := Rule{Name: "web-staging", Labels: map[string]string{"env": "staging", "role": "web"}, Channels: []string{"chat"}}

	hostsOf := func(ds []Delivery) map[string][]string {
		out := map[string][]string{}
		for _, d := range ds {
			names := []string{}
			for _, h := range d.Notification.Hosts {
				names = append(names, h.Name)
			}
			out[d.Channel] = names
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		n        Notification
		rules    []Rule
		channels []string            // in order
		hosts    map[string][]string // channel -> hosts kept
		matched  map[string][]string // channel -> rules
	}{
		{"no rules", failed, nil, nil, map[string][]string{}, nil},
		{"match all keeps every host", failed, []Rule{all}, []string{"audit"},
			map[string][]string{"audit": {"web1", "web2", "db1"}}, map[string][]string{"audit": {"all"}}},
		{"label filter keeps only prod hosts", failed, []Rule{prodFailures}, []string{"pager", "chat"},
			map[string][]string{"pager": {"web1", "db1"}, "chat": {"web1", "db1"}}, nil},
		{"only failures drops a success", succeeded, []Rule{prodFailures}, nil, map[string][]string{}, nil},
		{"a sync whose job failed is a failure", syncFailed, []Rule{{Name: "f", OnlyFailures: true, Channels: []string{"pager"}}}, []string{"pager"},
			map[string][]string{"pager": {"web2"}}, nil},
		{"label filter with no matching host sends nothing", syncFailed, []Rule{prodFailures}, nil, map[string][]string{}, nil},
		{"label filter on a notification without hosts sends nothing", noHosts, []Rule{prodFailures}, nil, map[string][]string{}, nil},
		{"no label filter sends a notification without hosts", noHosts, []Rule{all}, []string{"audit"}, map[string][]string{"audit": {}}, nil},
		{"project filter", drift, []Rule{shopJobs}, nil, map[string][]string{}, nil},
		{"event filter", drift, []Rule{{Name: "d", Events: []Event{DriftDetected}, Channels: []string{"chat"}}}, []string{"chat"},
			map[string][]string{"chat": {"web2"}}, nil},
		{"drift is not a failure", drift, []Rule{{Name: "f", OnlyFailures: true, Channels: []string{"pager"}}}, nil, map[string][]string{}, nil},
		{"two rules to one channel: one delivery, union of hosts in order", failed, []Rule{webStaging, prodFailures}, []string{"chat", "pager"},
			map[string][]string{"chat": {"web1", "web2", "db1"}, "pager": {"web1", "db1"}},
			map[string][]string{"chat": {"web-staging", "prod-failures"}, "pager": {"prod-failures"}}},
		{"all labels must match", failed, []Rule{webStaging}, []string{"chat"}, map[string][]string{"chat": {"web2"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Route(tc.n, tc.rules)
			var chans []string
			for _, d := range ds {
				chans = append(chans, d.Channel)
				if d.Notification.Event != tc.n.Event || d.Notification.Project != tc.n.Project || d.Notification.Job != tc.n.Job {
					t.Errorf("%s: notification changed beyond its hosts: %+v", d.Channel, d.Notification)
				}
			}
			if !reflect.DeepEqual(chans, tc.channels) {
				t.Errorf("channels = %v, want %v", chans, tc.channels)
			}
			if got := hostsOf(ds); !reflect.DeepEqual(got, tc.hosts) {
				t.Errorf("hosts = %v, want %v", got, tc.hosts)
			}
			for _, d := range ds {
				if want, ok := tc.matched[d.Channel]; ok && !reflect.DeepEqual(d.Rules, want) {
					t.Errorf("%s: rules = %v, want %v", d.Channel, d.Rules, want)
				}
			}
		})
	}
	// Route must not touch the caller's hosts.
	if len(failed.Hosts) != 3 || failed.Hosts[1].Name != "web2" {
		t.Errorf("Route changed its input: %+v", failed.Hosts)
	}
}

func TestCheckRule(t *testing.T) {
	cfg := webhookConfig("http://127.0.0.1:1/", writeSecret(t, hookSecret))
	cfg.Channels[0].Name, cfg.Rules = "chat", nil
	d, err := New(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDispatcher(t, d)
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Name: "ok", Events: []Event{JobFailed}, Channels: []string{"chat"}}, ""},
		{Rule{Name: "r"}, `rule "r": no channels`},
		{Rule{Name: "r", Channels: []string{"mail"}}, `rule "r": no channel named "mail"`},
		{Rule{Name: "r", Events: []Event{"job.exploded"}, Channels: []string{"chat"}}, `rule "r": unknown event "job.exploded"`},
	} {
		err := d.CheckRule(tc.rule)
		if (err == nil) != (tc.want == "") || (err != nil && !contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err = %v, want %q", tc.rule, err, tc.want)
		}
	}
}

func TestTitle(t *testing.T) {
	for _, tc := range []struct {
		n    Notification
		want string
	}{
		{Notification{Event: JobFailed, Project: "shop", Job: &Job{ID: "42", Kind: "apply"}, Hosts: []Host{{Name: "a"}, {Name: "b"}}}, "project shop: job 42 (apply) failed on 2 hosts"},
		{Notification{Event: JobSucceeded, Project: "shop", Job: &Job{ID: "42"}}, "project shop: job 42 succeeded"},
		{Notification{Event: DriftDetected, Project: "shop", Hosts: []Host{{Name: "web1"}}}, "project shop: drift detected on web1"},
		{Notification{Event: SyncFinished, Project: "shop", Job: &Job{Status: "failed"}}, "project shop: sync failed"},
		{Notification{Event: HostUnreachable, Project: "a\r\nBcc: x@y", Hosts: []Host{{Name: "h"}}}, "project a Bcc: x@y: host unreachable on h"},
	} {
		if got := tc.n.Title(); got != tc.want {
			t.Errorf("Title() = %q, want %q", got, tc.want)
		}
	}
}
