// Package client is the Go client of Capitain's API (/api/v1) that `chaos capitain` uses, and
// where it keeps the server and token `chaos capitain login` saved.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Client talks to one server with one token.
type Client struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	http  *http.Client
}

// Error is an API error answer.
type Error struct {
	Status               int
	Code, Message, Field string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Field, e.Message, e.Code)
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// New is a client of url with token.
func New(url, token string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), Token: token}
}

func (c *Client) hc() *http.Client {
	if c.http == nil {
		c.http = &http.Client{Timeout: 5 * time.Minute}
	}
	return c.http
}

// configPath is where login saves the client: $XDG_CONFIG_HOME/chaos/capitain.json.
func configPath() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "chaos", "capitain.json"), nil
}

// Save writes the server and token for later commands (mode 0600).
func (c *Client) Save() (string, error) {
	p, err := configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// Load reads the client login saved.
func Load() (*Client, error) {
	p, err := configPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("not logged in to a Capitain server: run chaos capitain login URL")
	}
	if err != nil {
		return nil, err
	}
	var c Client
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &c, nil
}

// Do sends a request (body marshalled as JSON when not nil) and decodes the answer into out.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
		}
		return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Field: e.Error.Field}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Event is one event of a job as the API sends it.
type Event struct {
	Seq  int64           `json:"seq"`
	Host string          `json:"host"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// Events calls fn with a job's stored events in order; follow streams them live (SSE) until the
// job has finished, resuming after the last one seen when the connection drops.
func (c *Client) Events(ctx context.Context, job int64, follow bool, fn func(Event) error) error {
	var after int64
	if !follow {
		for {
			var page struct {
				Items []Event `json:"items"`
				Next  string  `json:"next"`
			}
			if err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/jobs/%d/events?limit=1000&after=%d", job, after), nil, &page); err != nil {
				return err
			}
			for _, e := range page.Items {
				if err := fn(e); err != nil {
					return err
				}
				after = e.Seq
			}
			if page.Next == "" {
				return nil
			}
		}
	}
	for tries := 0; ; tries++ {
		done, err := c.stream(ctx, job, &after, fn)
		if done || ctx.Err() != nil {
			return err
		}
		var ae *Error
		if errors.As(err, &ae) || tries > 10 {
			return err
		}
		time.Sleep(time.Second)
	}
}

// stream reads one SSE connection; done reports the job's end event.
func (c *Client) stream(ctx context.Context, job int64, after *int64, fn func(Event) error) (done bool, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/events", c.URL, job), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	resp, err := (&http.Client{}).Do(req) // no timeout: a stream lasts as long as its job
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false, &Error{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "":
			if event == "end" {
				return true, nil
			}
			var e Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return false, err
			}
			if err := fn(e); err != nil {
				return true, err
			}
			*after = e.Seq
			event, data = "", ""
		}
	}
	return false, fmt.Errorf("the event stream ended early: %v", sc.Err())
}

// Forget removes what login saved.
func Forget() error {
	p, err := configPath()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
