package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SchemaV1 is the "schema" field of the generic webhook's JSON body. A change that could break a
// receiver gets a new version; fields may be added within a version.
const SchemaV1 = "chaos.capitain.notification/v1"

// The generic webhook's headers.
const (
	HeaderTimestamp = "X-Chaos-Timestamp" // Unix seconds when this attempt was signed
	HeaderSignature = "X-Chaos-Signature" // "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderEvent     = "X-Chaos-Event"     // the event, to route without parsing the body
	HeaderDelivery  = "X-Chaos-Delivery"  // the notification id, the same on every retry
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Payload is the generic webhook's JSON body: the notification with its schema version.
type Payload struct {
	Schema string `json:"schema"`
	Notification
}

// Sign returns the X-Chaos-Signature value for body signed at ts: "v1=" and the hex HMAC-SHA256 of
// the decimal Unix timestamp, a dot, and the body, keyed by secret.
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify is what a Go receiver calls on a request's headers and raw body: it checks the signature
// in constant time and refuses a timestamp more than tolerance away from now (a replayed request).
// Receivers should also remember X-Chaos-Delivery ids for the tolerance window and drop repeats.
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	tsText := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("notify: bad %s %q", HeaderTimestamp, tsText)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("notify: timestamp %s is %s away from now (tolerance %s): replayed or clock skew", ts.UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	want := Sign(secret, ts, body)
	// Several signatures may be sent while a secret is rotated: any valid one passes.
	for _, got := range strings.Split(h.Get(HeaderSignature), ",") {
		if hmac.Equal([]byte(strings.TrimSpace(got)), []byte(want)) {
			return nil
		}
	}
	return errors.New("notify: signature does not match")
}

// webhook posts the signed JSON payload to a URL.
type webhook struct {
	url     string
	secrets []secretValue // the first signs; more while rotating (each adds a signature)
	client  *http.Client
}

func (w *webhook) send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(Payload{Schema: SchemaV1, Notification: n})
	if err != nil {
		return permanent(fmt.Errorf("encoding payload: %w", err))
	}
	ts := time.Now()
	sigs := make([]string, len(w.secrets))
	for i, s := range w.secrets {
		sigs[i] = Sign(s, ts, body)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, ","))
	h.Set(HeaderEvent, string(n.Event))
	h.Set(HeaderDelivery, n.ID)
	return post(ctx, w.client, w.url, h, body)
}
