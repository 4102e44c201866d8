package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// slackReceiver answers like Slack's incoming webhooks: "ok" for a message it would post, 400 with
// Slack's error names for one it would refuse (no text, unknown block, text over its limits).
type slackReceiver struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if err := slackCheck(m); err != nil {
		http.Error(w, "invalid_blocks: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

// slackCheck applies the Block Kit rules a message of ours could break.
func slackCheck(m map[string]any) error {
	text, _ := m["text"].(string)
	if text == "" {
		return fmt.Errorf("no text")
	}
	blocks, _ := m["blocks"].([]any)
	if len(blocks) == 0 || len(blocks) > 50 {
		return fmt.Errorf("%d blocks", len(blocks))
	}
	textOf := func(v any, kinds ...string) (string, error) {
		o, _ := v.(map[string]any)
		typ, _ := o["type"].(string)
		s, _ := o["text"].(string)
		for _, k := range kinds {
			if typ == k && s != "" {
				return s, nil
			}
		}
		return "", fmt.Errorf("text object %v: want type %v and text", v, kinds)
	}
	for _, b := range blocks {
		blk, _ := b.(map[string]any)
		switch blk["type"] {
		case "header":
			s, err := textOf(blk["text"], "plain_text")
			if err != nil || utf8.RuneCountInString(s) > 150 {
				return fmt.Errorf("header: %v (%d chars)", err, utf8.RuneCountInString(s))
			}
		case "section":
			s, err := textOf(blk["text"], "mrkdwn", "plain_text")
			if err != nil || utf8.RuneCountInString(s) > 3000 {
				return fmt.Errorf("section: %v (%d chars)", err, utf8.RuneCountInString(s))
			}
		case "context":
			els, _ := blk["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return fmt.Errorf("context with %d elements", len(els))
			}
			for _, e := range els {
				if _, err := textOf(e, "mrkdwn", "plain_text"); err != nil {
					return fmt.Errorf("context: %v", err)
				}
			}
		case "actions":
			els, _ := blk["elements"].([]any)
			for _, e := range els {
				el, _ := e.(map[string]any)
				if el["type"] != "button" {
					return fmt.Errorf("action %v", el["type"])
				}
				if _, err := textOf(el["text"], "plain_text"); err != nil {
					return fmt.Errorf("button: %v", err)
				}
				if u, _ := el["url"].(string); !strings.HasPrefix(u, "http") {
					return fmt.Errorf("button url %q", u)
				}
			}
		default:
			return fmt.Errorf("unknown block type %v", blk["type"])
		}
	}
	return nil
}

func TestSlackMessageReachesReceiver(t *testing.T) {
	recv := &slackReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	// The URL's path is the webhook's token, as in Slack's hooks.slack.com/services/T/B/TOKEN.
	const token = "T000/B000/XXXXsecretTOKEN"
	url := srv.URL + "/services/" + token
	rec := newRecorder()
	cfg := Config{
		Channels: []ChannelConfig{{Name: "chat", Type: "slack", URLSecret: writeSecret(t, url)}},
		Rules:    []Rule{{Name: "all", Channels: []string{"chat"}}},
	}
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	n := sampleNotification()
	// Enough hosts and a long enough error to go past Slack's limits if nothing cut them.
	for i := range 60 {
		n.Hosts = append(n.Hosts, Host{Name: fmt.Sprintf("node%02d", i), Status: "failed", Error: strings.Repeat("dpkg: error processing <pkg> & more\n", 20)})
	}
	n.Project = strings.Repeat("a-very-long-project-name-", 8)
	d.Notify(n)
	closeDispatcher(t, d)
	if dead := rec.deadLetters(); len(dead) > 0 {
		t.Fatalf("the Slack-shaped receiver refused the message: %s", dead[0].Error)
	}
	if len(recv.msgs) != 1 {
		t.Fatalf("receiver got %d messages, want 1", len(recv.msgs))
	}
	raw, _ := json.Marshal(recv.msgs[0])
	msg := string(raw)
	for _, want := range []string{`:x: project a-very-long`, `1 of 2 hosts failed \u0026lt;check\u0026gt; \u0026amp; retry`, "`web1` failed: apt-get install nginx: exit status 100", "Open in Capitain", "https://capitain.example.com/jobs/42", "commit `9f1c2e3d4b5a`"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// Every host is either listed or counted.
	section := recv.msgs[0]["blocks"].([]any)[1].(map[string]any)["text"].(map[string]any)["text"].(string)
	var more int
	if _, err := fmt.Sscanf(section[strings.LastIndex(section, "…"):], "… and %d more hosts", &more); err != nil {
		t.Fatalf("no count of the hosts left out: %v\n%s", err, section)
	}
	if listed := strings.Count(section, "\n• "); listed+more != len(n.Hosts) {
		t.Errorf("%d hosts listed + %d counted != %d", listed, more, len(n.Hosts))
	}
	if strings.Contains(rec.logText(), token) {
		t.Errorf("the webhook URL's token is in the log")
	}
}

func TestSlackErrorsHideTheURL(t *testing.T) {
	// Nothing listens on this port: the error must say so without the URL (its path is a token).
	const token = "T000/B000/closedPortTOKEN"
	s := &slack{url: secretValue("http://127.0.0.1:1/services/" + token), client: newHTTPClient()}
	err := s.send(t.Context(), sampleNotification())
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "127.0.0.1:1/") {
		t.Errorf("err = %v: want a connection error without the URL", err)
	}
	if got := fmt.Sprintf("%v %s %+v %#v", s.url, s.url, s, s.url); strings.Contains(got, token) {
		t.Errorf("printing the channel shows its URL: %s", got)
	}
}
