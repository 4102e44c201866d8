package engine

import (
	"slices"
	"strings"
)

// redactor removes known secret values from what an apply reports (op output tails and error
// texts), for the terminal, --json and the logbook alike. The values are the decrypted secrets
// (when the store can list them) and the data of the plan's secret ops (stdin of `chpasswd -e`, the
// content of a secret file, and of their inverses): each whole, each line and each colon-separated
// field of it. Values shorter than minSecret are left alone: they would blank out ordinary words.
type redactor struct {
	values []string // longest first
}

const minSecret = 6

// secretLister is implemented by stores that can list their paths (secrets.Values).
type secretLister interface{ Paths() []string }

func newRedactor(store SecretStore, hp *HostPlan) *redactor {
	seen := map[string]bool{}
	var values []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= minSecret && !seen[v] {
			seen[v] = true
			values = append(values, v)
		}
	}
	addData := func(data []byte) {
		add(string(data))
		for line := range strings.SplitSeq(string(data), "\n") {
			add(line)
			for f := range strings.SplitSeq(line, ":") {
				add(f)
			}
		}
	}
	if l, ok := store.(secretLister); ok {
		for _, p := range l.Paths() {
			if v, ok := store.Get(p); ok {
				add(v)
			}
		}
	}
	if hp != nil {
		for _, rp := range hp.Roles {
			for _, s := range rp.Steps {
				for _, op := range s.Ops {
					for _, o := range []*Op{&op, op.Undo} {
						if o != nil && o.Secret {
							addData(o.Stdin)
							addData(o.Content)
						}
					}
				}
			}
		}
	}
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
	return &redactor{values: values}
}

// texts redacts each of lines.
func (r *redactor) texts(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = r.text(l)
	}
	return out
}

func (r *redactor) text(s string) string {
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "(secret)")
		}
	}
	return s
}

// error returns err with known secrets redacted from its text (still wrapping err).
func (r *redactor) error(err error) error {
	if msg := r.text(err.Error()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
