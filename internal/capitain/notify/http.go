package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// newHTTPClient returns the client of the webhook and Slack channels. It does not follow redirects:
// a POST redirected to a GET is not a delivery, and a receiver that moved should be reconfigured.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post sends one attempt. The error never contains the URL (a Slack URL is a secret) and marks
// what retrying cannot fix as permanent (4xx other than 408 and 429, redirects).
func post(ctx context.Context, c *http.Client, target string, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent(errors.New("bad receiver URL"))
	}
	req.Header = h
	req.Header.Set("User-Agent", "chaos-capitain")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST to receiver: %w", err)
	}
	defer resp.Body.Close()
	// A short excerpt says why a receiver refused; the rest is drained so the connection is reused.
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("receiver answered %s: %s", resp.Status, strings.TrimSpace(string(excerpt)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return retryAfter(err, resp.Header.Get("Retry-After"))
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return err
	}
	return permanent(err)
}

// retryAfter attaches the receiver's Retry-After (seconds) to err, for the backoff to honour.
func retryAfter(err error, v string) error {
	s, perr := strconv.Atoi(strings.TrimSpace(v))
	if perr != nil || s <= 0 {
		return err
	}
	return &deliveryError{err: err, after: time.Duration(s) * time.Second}
}

// deliveryError carries what the dispatcher needs to know about a failed attempt.
type deliveryError struct {
	err       error
	permanent bool          // retrying cannot help
	after     time.Duration // the receiver asked to wait at least this long
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

func permanent(err error) error { return &deliveryError{err: err, permanent: true} }
