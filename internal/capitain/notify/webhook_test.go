package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const hookSecret = "s3cr3t-signing-key-for-tests"

// hookReceiver is a receiver as its documentation tells a user to write one: it verifies the
// signature and the timestamp, refuses a delivery id it has seen, and answers 401 to what fails.
type hookReceiver struct {
	secret []byte
	mu     sync.Mutex
	seen   map[string]bool
	got    []receivedHook
	status []int // answers to give before 200, in order (500, 500 = fail twice)
}

type receivedHook struct {
	header http.Header
	body   []byte
	err    error // the verification's verdict
}

func newHookReceiver(t *testing.T, secret string) (*hookReceiver, *httptest.Server) {
	r := &hookReceiver{secret: []byte(secret), seen: map[string]bool{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	err := Verify(r.secret, req.Header, body, time.Now(), DefaultTolerance)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, receivedHook{header: req.Header.Clone(), body: body, err: err})
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusUnauthorized)
	case len(r.status) > 0:
		code := r.status[0]
		r.status = r.status[1:]
		http.Error(w, "try again", code)
	case r.seen[req.Header.Get(HeaderDelivery)]:
		w.WriteHeader(http.StatusOK) // a duplicate: acknowledged, not acted on twice
	default:
		r.seen[req.Header.Get(HeaderDelivery)] = true
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *hookReceiver) requests() []receivedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedHook(nil), r.got...)
}

func sampleNotification() Notification {
	return Notification{
		Event: JobFailed, Project: "shop",
		Job:     &Job{ID: "42", Kind: "apply", Trigger: "webhook", Commit: "9f1c2e3d4b5a69788766554433221100ffeeddcc", Status: "failed"},
		Hosts:   []Host{{Name: "web1", Labels: map[string]string{"env": "prod"}, Status: "failed", Error: "apt-get install nginx: exit status 100"}, {Name: "web2", Status: "changed"}},
		Summary: "1 of 2 hosts failed <check> & retry",
		Link:    "https://capitain.example.com/jobs/42",
	}
}

func webhookConfig(url string, secret Secret) Config {
	return Config{
		Channels: []ChannelConfig{{Name: "hook", Type: "webhook", URL: url, Secret: secret}},
		Rules:    []Rule{{Name: "all", Channels: []string{"hook"}}},
		Delivery: DeliveryConfig{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 5 * time.Second},
	}
}

// closeDispatcher waits for every delivery; a test whose deliveries cannot end fails here.
func closeDispatcher(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWebhookSignedDelivery(t *testing.T) {
	recv, srv := newHookReceiver(t, hookSecret)
	rec := newRecorder()
	d, err := New(webhookConfig(srv.URL, writeSecret(t, hookSecret)), rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	n := sampleNotification()
	if q := d.Notify(n); q != 1 {
		t.Fatalf("Notify queued %d deliveries, want 1", q)
	}
	closeDispatcher(t, d)
	got := recv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if got[0].err != nil {
		t.Fatalf("receiver refused the signature: %v", got[0].err)
	}
	h := got[0].header
	if h.Get("Content-Type") != "application/json" || h.Get(HeaderEvent) != "job.failed" || len(h.Get(HeaderDelivery)) != 32 {
		t.Errorf("headers: %v", h)
	}
	var p Payload
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Schema != SchemaV1 || p.ID != h.Get(HeaderDelivery) || p.Time.IsZero() {
		t.Errorf("payload schema/id/time: %q %q %v", p.Schema, p.ID, p.Time)
	}
	p.ID, p.Time = "", time.Time{}
	if !jsonEqual(t, p.Notification, n) {
		t.Errorf("payload notification = %+v, want %+v", p.Notification, n)
	}
	validatePayload(t, got[0].body)
	if o := rec.outcomes("hook"); len(o) != 1 || o[0] != Delivered {
		t.Errorf("outcomes = %v, want [delivered]", o)
	}
	if strings.Contains(rec.logText(), hookSecret) {
		t.Errorf("the secret is in the log: %s", rec.logText())
	}
}

func TestWebhookWrongSecretIsADeadLetterAtOnce(t *testing.T) {
	recv, srv := newHookReceiver(t, "the receiver's other secret")
	rec := newRecorder()
	d, err := New(webhookConfig(srv.URL, writeSecret(t, hookSecret)), rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	if n := len(recv.requests()); n != 1 {
		t.Errorf("a 401 was retried: %d requests", n)
	}
	dead := rec.deadLetters()
	if len(dead) != 1 || dead[0].Attempts != 1 || !strings.Contains(dead[0].Error, "401") {
		t.Fatalf("dead letters = %+v, want one after 1 attempt with the 401", dead)
	}
	if dead[0].Delivery.Channel != "hook" || dead[0].Delivery.Notification.Project != "shop" {
		t.Errorf("dead letter lost the delivery: %+v", dead[0].Delivery)
	}
	if strings.Contains(rec.logText(), hookSecret) || strings.Contains(dead[0].Error, hookSecret) {
		t.Error("the secret leaked into the log or the dead letter")
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(hookSecret)
	body := []byte(`{"schema":"chaos.capitain.notification/v1"}`)
	now := time.Unix(1_800_000_000, 0)
	headers := func(ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	good := Sign(secret, now, body)
	other := Sign([]byte("previous secret"), now, body)
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		want string
	}{
		{"valid", headers(now, good), body, ""},
		{"valid within tolerance", headers(now.Add(-4*time.Minute), Sign(secret, now.Add(-4*time.Minute), body)), body, ""},
		{"rotation: one of two signatures valid", headers(now, other+","+good), body, ""},
		{"body changed", headers(now, good), []byte(`{"schema":"x"}`), "does not match"},
		{"timestamp changed", headers(now.Add(time.Second), good), body, "does not match"},
		{"replayed later", headers(now.Add(-6*time.Minute), Sign(secret, now.Add(-6*time.Minute), body)), body, "replayed"},
		{"from the future", headers(now.Add(6*time.Minute), Sign(secret, now.Add(6*time.Minute), body)), body, "replayed"},
		{"other secret", headers(now, other), body, "does not match"},
		{"no timestamp", http.Header{HeaderSignature: {good}}, body, "bad X-Chaos-Timestamp"},
		{"no signature", headers(now, ""), body, "does not match"},
	} {
		err := Verify(secret, tc.h, tc.body, now, DefaultTolerance)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestWebhookRotationSendsBothSignatures(t *testing.T) {
	// A receiver still on the previous secret accepts deliveries while the sender rotates.
	recv, srv := newHookReceiver(t, "the previous secret")
	cfg := webhookConfig(srv.URL, writeSecret(t, hookSecret))
	cfg.Channels[0].PreviousSecret = writeSecret(t, "the previous secret")
	d, err := New(cfg, newRecorder().hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	got := recv.requests()
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("requests = %+v", got)
	}
	if sigs := strings.Split(got[0].header.Get(HeaderSignature), ","); len(sigs) != 2 {
		t.Errorf("signatures = %v, want 2", sigs)
	}
}

// jsonEqual compares two values by their JSON encoding.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
