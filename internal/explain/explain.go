// Package explain renders chaos's built-in documentation (`chaos explain TOPIC[.SUB]`). A topic is a
// Markdown document whose `## ` sections are its subtopics (concept, what, why, how, keys, examples,
// security, equivalent, ...); the detail level picks which sections are shown.
package explain

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Topic is one explanation.
type Topic struct {
	Name     string    `json:"name"`
	Title    string    `json:"title"`
	Sections []Section `json:"sections"`
}

// Section is one subtopic.
type Section struct {
	Name string `json:"name"`
	Body string `json:"body"`
}

// Detail levels, as in the original: basic shows the essentials, advanced shows everything.
var levels = map[string][]string{
	"basic":        {"concept", "what", "why", "examples", "security"},
	"intermediate": {"what", "why", "how", "keys", "commands", "equivalent", "examples", "security"},
}

// Levels lists the accepted detail levels.
func Levels() []string { return []string{"basic", "intermediate", "advanced"} }

// Parse splits a Markdown document into a topic: the `# ` line is the title, each `## name` starts a
// section.
func Parse(name, md string) Topic {
	t := Topic{Name: name, Title: name}
	var cur *Section
	for line := range strings.SplitSeq(md, "\n") {
		switch {
		case strings.HasPrefix(line, "# ") && cur == nil:
			t.Title = strings.TrimSpace(line[2:])
		case strings.HasPrefix(line, "## "):
			t.Sections = append(t.Sections, Section{Name: sectionKey(line[3:])})
			cur = &t.Sections[len(t.Sections)-1]
		case cur != nil:
			cur.Body += line + "\n"
		}
	}
	for i := range t.Sections {
		t.Sections[i].Body = strings.TrimSpace(t.Sections[i].Body)
	}
	return t
}

func sectionKey(heading string) string {
	return strings.ToLower(strings.Join(strings.Fields(heading), "-"))
}

// Filter returns the topic restricted to a detail level, or to one section when sub is given.
func (t Topic) Filter(sub, level string) (Topic, error) {
	out := Topic{Name: t.Name, Title: t.Title}
	if sub != "" {
		for _, s := range t.Sections {
			if s.Name == sub {
				out.Sections = []Section{s}
				return out, nil
			}
		}
		return out, fmt.Errorf("topic %s has no subtopic %q%s (have: %s)", t.Name, sub, chobolo.DidYouMean(sub, t.SectionNames()), strings.Join(t.SectionNames(), ", "))
	}
	if level == "advanced" {
		return t, nil
	}
	keep, ok := levels[level]
	if !ok {
		return out, fmt.Errorf("unknown detail level %q (use %s)", level, strings.Join(Levels(), ", "))
	}
	for _, s := range t.Sections {
		if slices.Contains(keep, s.Name) {
			out.Sections = append(out.Sections, s)
		}
	}
	return out, nil
}

// SectionNames lists the subtopics.
func (t Topic) SectionNames() []string {
	var out []string
	for _, s := range t.Sections {
		out = append(out, s.Name)
	}
	return out
}

// Text renders the topic for a terminal.
func (t Topic) Text() string {
	var b strings.Builder
	b.WriteString(t.Title + "\n")
	b.WriteString(strings.Repeat("=", len(t.Title)) + "\n")
	for _, s := range t.Sections {
		fmt.Fprintf(&b, "\n%s\n%s\n%s\n", strings.ToUpper(s.Name), strings.Repeat("-", len(s.Name)), s.Body)
	}
	return b.String()
}

//go:embed topics/*.md
var builtin embed.FS

// Library is every topic chaos knows: its own plus those the roles provide.
type Library map[string]Topic

// NewLibrary loads chaos's own topics and adds extra ones (role name -> Markdown).
func NewLibrary(extra map[string]string) (Library, error) {
	lib := Library{}
	err := fs.WalkDir(builtin, "topics", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := builtin.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(d.Name(), ".md")
		lib[name] = Parse(name, string(data))
		return nil
	})
	for name, md := range extra {
		lib[name] = Parse(name, md)
	}
	return lib, err
}

// Names lists the topics, sorted.
func (l Library) Names() []string {
	return slices.Sorted(maps.Keys(l))
}

// Lookup resolves "topic" or "topic.sub".
func (l Library) Lookup(ref, level string) (Topic, error) {
	name, sub, _ := strings.Cut(ref, ".")
	t, ok := l[name]
	if !ok {
		return Topic{}, fmt.Errorf("no explanation for %q%s (topics: %s)", name, chobolo.DidYouMean(name, l.Names()), strings.Join(l.Names(), ", "))
	}
	return t.Filter(sub, level)
}
