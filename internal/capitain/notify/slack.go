package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Slack's limits (https://api.slack.com/reference/block-kit/blocks): a message over them is refused
// with 400 invalid_blocks, so the message is cut to fit.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackHostsShown = 20 // hosts listed by name; the rest are counted
)

// slack posts a Slack-compatible incoming-webhook message: "text" (the fallback Mattermost and
// Rocket.Chat show, and Slack's notification text) and Block Kit "blocks".
type slack struct {
	url    secretValue // the URL carries the webhook's token
	client *http.Client
}

func (s *slack) send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(slackMessage(n))
	if err != nil {
		return permanent(fmt.Errorf("encoding message: %w", err))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return post(ctx, s.client, string(s.url), h, body)
}

type slackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"` // header, section, context, actions
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackElem `json:"elements,omitempty"`
}

type slackElem struct {
	Type string `json:"type"` // mrkdwn (in context), button (in actions)
	Text any    `json:"text"` // a string in a context element, a plain_text object in a button
	URL  string `json:"url,omitempty"`
}

type slackPayload struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

func slackMessage(n Notification) slackPayload {
	title := n.Title()
	icon := ":information_source:"
	switch {
	case n.Failure():
		icon = ":x:"
	case n.Event == DriftDetected:
		icon = ":warning:"
	case n.Event == JobSucceeded:
		icon = ":white_check_mark:"
	}
	var body strings.Builder
	if n.Summary != "" {
		body.WriteString(cut(slackEscape(n.Summary), slackSectionMax/2) + "\n")
	}
	for i, h := range n.Hosts {
		line := fmt.Sprintf("• `%s` %s", slackEscape(h.Name), slackEscape(h.Status))
		if h.Error != "" {
			line += ": " + slackEscape(oneLine(h.Error, 200))
		}
		// Room is kept for the line that counts the hosts left out.
		if i == slackHostsShown || body.Len()+len(line)+1 > slackSectionMax-40 {
			fmt.Fprintf(&body, "… and %d more hosts\n", len(n.Hosts)-i)
			break
		}
		body.WriteString(line + "\n")
	}
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: cut(title, slackHeaderMax)}}}
	if body.Len() > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: cut(body.String(), slackSectionMax)}})
	}
	ctx := []string{"project *" + slackEscape(n.Project) + "*", "event `" + string(n.Event) + "`"}
	if n.Job != nil {
		ctx = append(ctx, "job "+slackEscape(n.jobName()), "trigger "+slackEscape(n.Job.Trigger))
		if n.Job.Commit != "" {
			ctx = append(ctx, "commit `"+slackEscape(shortCommit(n.Job.Commit))+"`")
		}
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackElem{{Type: "mrkdwn", Text: cut(strings.Join(ctx, " · "), slackSectionMax)}}})
	if n.Link != "" {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: []slackElem{{
			Type: "button", Text: slackText{Type: "plain_text", Text: "Open in Capitain"}, URL: n.Link,
		}}})
	}
	text := icon + " " + slackEscape(title)
	if n.Link != "" {
		text += " <" + n.Link + "|open>"
	}
	return slackPayload{Text: text, Blocks: blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to (links, mentions).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// shortCommit is the first 12 characters of a commit id, as git shows abbreviated ids.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// cut shortens s to at most max runes, marking the cut with an ellipsis.
func cut(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// oneLine joins the lines of an error message and cuts it to max runes.
func oneLine(s string, max int) string {
	return cut(strings.Join(strings.Fields(s), " "), max)
}
