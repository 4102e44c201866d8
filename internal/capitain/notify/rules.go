package notify

import (
	"fmt"
	"slices"
)

// Rule sends some events of some projects to some channels. Every filter that is set must match;
// an empty filter matches everything.
type Rule struct {
	Name string `yaml:"name" json:"name"`
	// Projects the rule applies to; empty means every project.
	Projects []string `yaml:"projects,omitempty" json:"projects,omitempty"`
	// Events the rule applies to; empty means every event.
	Events []Event `yaml:"events,omitempty" json:"events,omitempty"`
	// OnlyFailures keeps only notifications whose Failure() is true.
	OnlyFailures bool `yaml:"only_failures,omitempty" json:"only_failures,omitempty"`
	// Labels keeps only the hosts that carry every one of these labels with these values; a
	// notification with no such host is not sent. Empty keeps every host.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Channels are the names of the channels that receive what matches.
	Channels []string `yaml:"channels" json:"channels"`
}

// Delivery is one notification for one channel: what the queue holds and a dead letter records.
type Delivery struct {
	Channel      string       `json:"channel"`
	Rules        []string     `json:"rules"` // the names of the rules that matched, for the record
	Notification Notification `json:"notification"`
}

// Route is the pure decision of who is told what: for one notification and a project's rules, one
// delivery per channel that a matching rule names, in the order channels first appear in rules.
// When several rules send to one channel, the channel gets the notification once, with the union of
// the hosts those rules kept (in the notification's order).
func Route(n Notification, rules []Rule) []Delivery {
	var out []Delivery
	keep := map[string][]bool{} // channel -> which of n.Hosts it keeps
	for _, r := range rules {
		hosts, ok := r.match(n)
		if !ok {
			continue
		}
		for _, ch := range r.Channels {
			i := slices.IndexFunc(out, func(d Delivery) bool { return d.Channel == ch })
			if i < 0 {
				out = append(out, Delivery{Channel: ch})
				keep[ch] = make([]bool, len(n.Hosts))
				i = len(out) - 1
			}
			if !slices.Contains(out[i].Rules, r.Name) {
				out[i].Rules = append(out[i].Rules, r.Name)
			}
			kc := keep[ch]
			for j, k := range hosts {
				kc[j] = kc[j] || k
			}
		}
	}
	for i := range out {
		d := &out[i]
		d.Notification = n
		kept := 0
		for _, k := range keep[d.Channel] {
			if k {
				kept++
			}
		}
		d.Notification.Hosts = make([]Host, 0, kept)
		for j, k := range keep[d.Channel] {
			if k {
				d.Notification.Hosts = append(d.Notification.Hosts, n.Hosts[j])
			}
		}
	}
	return out
}

// match reports whether r applies to n and, per host of n, whether r keeps it.
func (r Rule) match(n Notification) ([]bool, bool) {
	if len(r.Projects) > 0 && !slices.Contains(r.Projects, n.Project) {
		return nil, false
	}
	if len(r.Events) > 0 && !slices.Contains(r.Events, n.Event) {
		return nil, false
	}
	if r.OnlyFailures && !n.Failure() {
		return nil, false
	}
	hosts := make([]bool, len(n.Hosts))
	any := len(r.Labels) == 0
	for i, h := range n.Hosts {
		hosts[i] = hasLabels(h, r.Labels)
		any = any || hosts[i]
	}
	return hosts, any
}

func hasLabels(h Host, want map[string]string) bool {
	for k, v := range want {
		if got, ok := h.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// validate checks a rule against the names of the configured channels.
func (r Rule) validate(channels map[string]bool) error {
	if len(r.Channels) == 0 {
		return fmt.Errorf("rule %q: no channels", r.Name)
	}
	for _, c := range r.Channels {
		if !channels[c] {
			return fmt.Errorf("rule %q: no channel named %q", r.Name, c)
		}
	}
	for _, e := range r.Events {
		if !e.valid() {
			return fmt.Errorf("rule %q: unknown event %q (known: %v)", r.Name, e, Events)
		}
	}
	return nil
}
