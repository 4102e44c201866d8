package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fleetNotification is a job.failed on n hosts, a tenth of them labelled env=prod.
func fleetNotification(n int) Notification {
	no := sampleNotification()
	no.Hosts = make([]Host, n)
	for i := range no.Hosts {
		env := "staging"
		if i%10 == 0 {
			env = "prod"
		}
		no.Hosts[i] = Host{Name: fmt.Sprintf("host%05d", i), Labels: map[string]string{"env": env, "role": "web"}, Status: "failed", Error: "exit status 1"}
	}
	return no
}

// BenchmarkRoute10kHosts: the rules' decision for a job.failed on 10,000 hosts, with a label rule
// (keeps 1,000 hosts), a failures rule and a project rule over three channels.
func BenchmarkRoute10kHosts(b *testing.B) {
	n := fleetNotification(10_000)
	rules := []Rule{
		{Name: "prod", OnlyFailures: true, Labels: map[string]string{"env": "prod"}, Channels: []string{"pager"}},
		{Name: "failures", Events: []Event{JobFailed}, Channels: []string{"chat"}},
		{Name: "shop", Projects: []string{"shop"}, Channels: []string{"hook", "chat"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if ds := Route(n, rules); len(ds) != 3 {
			b.Fatal(len(ds))
		}
	}
	body, _ := json.Marshal(Payload{Schema: SchemaV1, Notification: n})
	b.ReportMetric(float64(len(body)), "webhook-bytes")
}

// BenchmarkNotify is what a job pays to notify: routing and queueing one delivery, while the
// workers post the earlier ones to a receiver on loopback.
func BenchmarkNotify(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	secret := writeSecret(b, hookSecret)
	cfg := webhookConfig(srv.URL, secret)
	cfg.Delivery.Queue = 1 << 20
	d, err := New(cfg, Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	n := sampleNotification()
	b.ReportAllocs()
	for b.Loop() {
		if d.Notify(n) != 1 {
			b.Fatal("not queued")
		}
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
