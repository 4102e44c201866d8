package server

import (
	"slices"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/notify"
)

func TestAutoApply(t *testing.T) {
	const now, old = "c2", "c1"
	hosts := []*Host{
		{Name: "new-commit", Status: StatusOutOfSync, SyncedCommit: old},
		{Name: "never-synced", Status: StatusOutOfSync},
		{Name: "by-hand", Status: StatusOutOfSync, SyncedCommit: now},
		{Name: "failed", Status: StatusFailed, SyncedCommit: old},
	}
	for _, tc := range []struct {
		policy string
		heal   bool
		want   []string
	}{
		{"manual", false, nil},
		{"auto", false, []string{"new-commit", "never-synced"}},
		{"manual", true, []string{"by-hand"}},
		{"auto", true, []string{"new-commit", "never-synced", "by-hand"}},
	} {
		p := &Project{SyncPolicy: tc.policy, SelfHeal: tc.heal}
		if got := autoApply(p, hosts, now, nil); !slices.Equal(got, tc.want) {
			t.Errorf("policy %s selfHeal %v: %v, want %v", tc.policy, tc.heal, got, tc.want)
		}
	}
	// A host an automatic apply of this commit left waiting for a person is not tried again.
	p := &Project{SyncPolicy: "auto", SelfHeal: true}
	if got := autoApply(p, hosts, now, map[string]bool{"new-commit": true}); !slices.Equal(got, []string{"never-synced", "by-hand"}) {
		t.Errorf("with a waiting host: %v", got)
	}
}

func TestProjectSettingsValidate(t *testing.T) {
	f := notify.Secret{File: "/run/secrets/k"}
	for _, tc := range []struct {
		name  string
		s     ProjectSettings
		field string // "" valid
	}{
		{"empty", ProjectSettings{}, ""},
		{"token from env", ProjectSettings{Credentials: GitCredentials{Username: "oauth2", Token: notify.Secret{Env: "T"}}}, ""},
		{"deploy key", ProjectSettings{Credentials: GitCredentials{SSHKey: f, KnownHosts: f}}, ""},
		{"deploy key without known_hosts", ProjectSettings{Credentials: GitCredentials{SSHKey: f}}, "credentials.known_hosts"},
		{"file and env", ProjectSettings{WebhookSecret: notify.Secret{File: "/a", Env: "B"}}, "webhook_secret"},
		{"window", ProjectSettings{Windows: []SyncWindow{{Kind: "allow", Schedule: "0 22 * * *", Duration: "8h"}}}, ""},
		{"window without duration", ProjectSettings{Windows: []SyncWindow{{Kind: "allow", Schedule: "0 22 * * *"}}}, "windows[0]"},
		{"window bad cron", ProjectSettings{Windows: []SyncWindow{{Kind: "deny", Schedule: "61 * * * *", Duration: "1h"}}}, "windows[0]"},
		{"window bad kind", ProjectSettings{Windows: []SyncWindow{{Kind: "maybe", Schedule: "@daily", Duration: "1h"}}}, "windows[0]"},
		{"retention", ProjectSettings{Retention: Retention{MaxJobs: 100, MaxAge: "720h"}}, ""},
		{"retention negative", ProjectSettings{Retention: Retention{MaxJobs: -1}}, "retention.max_jobs"},
		{"retention bad age", ProjectSettings{Retention: Retention{MaxAge: "a month"}}, "retention.max_age"},
	} {
		err := tc.s.validate()
		fe, _ := err.(*fieldError)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (fe == nil || fe.field != tc.field):
			t.Errorf("%s: %v, want a problem with %s", tc.name, err, tc.field)
		}
	}
}

// An automatic sync asks the project's windows (gitsync.MaySync with manual false).
func TestProjectMaySync(t *testing.T) {
	at := time.Date(2026, 12, 4, 16, 30, 0, 0, time.UTC) // a Friday
	night := SyncWindow{Kind: "allow", Schedule: "0 22 * * *", Duration: "6h"}
	friday := SyncWindow{Kind: "deny", Schedule: "0 15 * * 5", Duration: "64h", ManualSync: true}
	for _, tc := range []struct {
		name    string
		windows []SyncWindow
		at      time.Time
		want    bool
	}{
		{"no windows", nil, at, true},
		{"outside the allow window", []SyncWindow{night}, at, false},
		{"inside the allow window", []SyncWindow{night}, at.Add(6 * time.Hour), true},
		{"deny window active, manual_sync does not let an automatic sync through", []SyncWindow{friday}, at, false},
		{"deny window over", []SyncWindow{friday}, at.Add(72 * time.Hour), true},
	} {
		p := &Project{ProjectSettings: ProjectSettings{Windows: tc.windows}}
		if got := p.maySync(tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
