package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRetriesThenDelivers(t *testing.T) {
	recv, srv := newHookReceiver(t, hookSecret)
	recv.status = []int{http.StatusInternalServerError, http.StatusInternalServerError}
	rec := newRecorder()
	d, err := New(webhookConfig(srv.URL, writeSecret(t, hookSecret)), rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	got := recv.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (500, 500, 200)", len(got))
	}
	for _, r := range got {
		if r.err != nil || r.header.Get(HeaderDelivery) != got[0].header.Get(HeaderDelivery) {
			t.Errorf("a retry was not the same signed delivery: %v %v", r.err, r.header)
		}
	}
	if o := rec.outcomes("hook"); !reflect.DeepEqual(o, []Outcome{Retried, Retried, Delivered}) {
		t.Errorf("outcomes = %v", o)
	}
	for i, o := range rec.obs {
		if o.Attempt != i+1 || o.Event != JobFailed || o.Duration <= 0 {
			t.Errorf("observation %d = %+v", i, o)
		}
	}
	if dead := rec.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters: %+v", dead)
	}
	if p := d.Pending(); p != 0 {
		t.Errorf("Pending = %d after Close, want 0", p)
	}
}

// hangingServer accepts requests and never answers until the test ends.
func hangingServer(t *testing.T) (*httptest.Server, chan struct{}) {
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, arrived
}

func TestAttemptTimeout(t *testing.T) {
	srv, arrived := hangingServer(t)
	rec := newRecorder()
	cfg := webhookConfig(srv.URL, writeSecret(t, hookSecret))
	cfg.Delivery.Timeout = 500 * time.Millisecond
	cfg.Delivery.Attempts = 2
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	// Notify returns while the receiver hangs: the caller (a job) is never held up.
	if q := d.Notify(sampleNotification()); q != 1 {
		t.Fatalf("queued %d", q)
	}
	closeDispatcher(t, d)
	if len(arrived) != 2 {
		t.Errorf("receiver saw %d attempts, want 2", len(arrived))
	}
	if o := rec.outcomes("hook"); !reflect.DeepEqual(o, []Outcome{Retried, Failed}) {
		t.Errorf("outcomes = %v", o)
	}
	dead := rec.deadLetters()
	if len(dead) != 1 || dead[0].Attempts != 2 || !strings.Contains(dead[0].Error, "timed out after 500ms") {
		t.Fatalf("dead letters = %+v, want one timed out after 2 attempts", dead)
	}
}

func TestQueueFullAndShutdownAreDeadLetters(t *testing.T) {
	srv, arrived := hangingServer(t)
	rec := newRecorder()
	cfg := webhookConfig(srv.URL, writeSecret(t, hookSecret))
	cfg.Delivery = DeliveryConfig{Queue: 2, Workers: 1, Timeout: time.Hour}
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	first, second, third := sampleNotification(), sampleNotification(), sampleNotification()
	first.ID, second.ID, third.ID = "first", "second", "third"
	d.Notify(first)
	<-arrived // the one worker is held by the first delivery; the second waits in the queue
	if q := d.Notify(second); q != 1 {
		t.Fatalf("second: queued %d", q)
	}
	if p := d.Pending(); p != 2 {
		t.Errorf("Pending = %d, want 2", p)
	}
	if q := d.Notify(third); q != 0 {
		t.Fatalf("third: queued %d into a full queue", q)
	}
	dead := rec.deadLetters()
	if len(dead) != 1 || dead[0].Delivery.Notification.ID != "third" || dead[0].Attempts != 0 || dead[0].Error != ErrQueueFull.Error() {
		t.Fatalf("dead letters = %+v, want the third, never attempted, queue full", dead)
	}
	// Shutting down with no time left: the attempt in flight is aborted and nothing is lost.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 deliveries pending") {
		t.Fatalf("Close = %v, want 2 deliveries pending", err)
	}
	byID := map[string]DeadLetter{}
	for _, dl := range rec.deadLetters() {
		byID[dl.Delivery.Notification.ID] = dl
	}
	if dl := byID["first"]; dl.Attempts != 1 || !strings.Contains(dl.Error, "context canceled") {
		t.Errorf("first = %+v, want aborted in flight", dl)
	}
	if dl := byID["second"]; dl.Attempts != 0 || !strings.Contains(dl.Error, "stopped before the delivery was attempted") {
		t.Errorf("second = %+v, want never attempted", dl)
	}
	if o := rec.outcomes("hook"); !reflect.DeepEqual(sortedOutcomes(o), []Outcome{Dropped, Dropped, Failed}) {
		t.Errorf("outcomes = %v", o)
	}
	if err := d.Enqueue(Delivery{Channel: "hook", Notification: first}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if n := len(rec.deadLetters()); n != 4 {
		t.Errorf("%d dead letters, want 4 (the delivery refused after Close is one)", n)
	}
}

func TestCloseWithARetryWaiting(t *testing.T) {
	recv, srv := newHookReceiver(t, hookSecret)
	recv.status = []int{http.StatusBadGateway}
	rec := newRecorder()
	retried := make(chan struct{}, 1)
	metrics := rec.hooks.Metrics
	rec.hooks.Metrics = func(o Observation) {
		metrics(o)
		if o.Outcome == Retried {
			retried <- struct{}{}
		}
	}
	cfg := webhookConfig(srv.URL, writeSecret(t, hookSecret))
	cfg.Delivery.Backoff, cfg.Delivery.MaxBackoff = time.Hour, time.Hour
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	<-retried
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); err == nil {
		t.Fatal("Close with a retry an hour away returned nil")
	}
	dead := rec.deadLetters()
	if len(dead) != 1 || dead[0].Attempts != 1 || !strings.Contains(dead[0].Error, "502") {
		t.Fatalf("dead letters = %+v, want the waiting retry with its last error", dead)
	}
	// The dead letter can be sent again by a new dispatcher (the receiver now answers 200).
	d2, err := New(webhookConfig(srv.URL, writeSecret(t, hookSecret)), rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Enqueue(dead[0].Delivery); err != nil {
		t.Fatal(err)
	}
	closeDispatcher(t, d2)
	got := recv.requests()
	if len(got) != 2 || got[1].err != nil || got[1].header.Get(HeaderDelivery) != got[0].header.Get(HeaderDelivery) {
		t.Errorf("redelivery: %+v", got)
	}
}

func sortedOutcomes(o []Outcome) []Outcome {
	out := append([]Outcome(nil), o...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPostClassifiesAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/limited":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/gone":
			http.Error(w, "no such hook", http.StatusNotFound)
		case "/slow":
			w.WriteHeader(http.StatusRequestTimeout)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path      string
		ok        bool
		permanent bool
		after     time.Duration
		text      string
	}{
		{"/", true, false, 0, ""},
		{"/busy", false, false, 7 * time.Second, "503"},
		{"/limited", false, false, 0, "429"},
		{"/slow", false, false, 0, "408"},
		{"/moved", false, true, 0, "302"},
		{"/gone", false, true, 0, "404 Not Found: no such hook"},
	} {
		err := post(t.Context(), newHTTPClient(), srv.URL+tc.path, http.Header{}, []byte("{}"))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.path, err)
			continue
		}
		if err == nil {
			continue
		}
		var de *deliveryError
		isDE := errors.As(err, &de)
		if perm := isDE && de.permanent; perm != tc.permanent {
			t.Errorf("%s: permanent = %v, want %v (%v)", tc.path, perm, tc.permanent, err)
		}
		if isDE && de.after != tc.after || !isDE && tc.after != 0 {
			t.Errorf("%s: Retry-After not honoured: %v", tc.path, err)
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: err = %v, want %q", tc.path, err, tc.text)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := DeliveryConfig{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for attempt, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		for range 50 {
			if w := c.backoff(attempt); w < full/2 || w > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, w, full/2, full)
			}
		}
	}
}
