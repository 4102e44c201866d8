package files

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"gopkg.in/ini.v1"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

type mapStore map[string]string

func (m mapStore) Get(p string) (string, bool) { v, ok := m[p]; return v, ok }

// hostileSecrets are values built to break the file they land in, unless escaped.
func hostileSecrets() []string {
	q := `"`
	return []string{
		"plain-" + "value",
		"it's " + q + "quoted" + q,
		"line1\nline2\n",
		"crlf\r\nnext",
		"$(touch /tmp/chaos-pwned)`id`${HOME}",
		`back\slash\` + `\`,
		`ends with backslash\`,
		`\"`,
		"key] = [section]\n[evil]\nx = 1",
		"a=b=c#not-a-comment ;nor-this",
		"  leading and trailing spaces  ",
		"tab\there",
		"- item: {flow: [1, 2]} &anchor *alias !tag",
		"null", "~", "true", "0x10", "1e3", "",
		"'''" + `"""` + "```",
		"ünïcødé ✓ 🔑 \u2028 \u0085 \ufeff",
		"</script><!-- & -->",
		"%s %d {{ .Hostname }} {% raw %}",
		"\x01\x1b[31mred\x7f",
	}
}

// TestEscapeHostileCorpus renders each hostile secret into each format and parses the file back with
// a real parser of that format: the value comes back exactly, and the rest of the file is intact.
func TestEscapeHostileCorpus(t *testing.T) {
	testenv.RequireTool(t, "dash", "sh")
	dir := t.TempDir()
	formats := map[string]string{
		"shell": "X={{ secret \"v\" }}\nY=after\n",
		"json":  "{\"a\": {{ secret \"v\" }}, \"b\": 1}\n",
		"yaml":  "a:\n  b: {{ secret \"v\" }}\n  c: 1\n",
		"ini":   "[s]\nk = {{ secret \"v\" }}\nz = 1\n",
	}
	for format, text := range formats {
		for i, v := range hostileSecrets() {
			f := chobolo.File{Path: "/etc/x", Template: "x.tmpl", TemplateText: text, Secrets: []string{"v"}, Escape: format}
			out, err := Render(f, &chobolo.Chobolo{}, "debian", mapStore{"v": v})
			if format == "ini" && strings.ContainsAny(v, "\r\n") {
				if err == nil || strings.Contains(err.Error(), v) {
					t.Errorf("ini: value %d with a line break: want a refusal that does not quote it, got %v", i, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: value %d: %v", format, i, err)
				continue
			}
			got, rest := parseBack(t, dir, format, out)
			if got != v || !rest {
				t.Errorf("%s: value %d %q came back as %q (rest of the file intact: %v); file:\n%s", format, i, v, got, rest, out)
			}
		}
	}
}

func parseBack(t *testing.T, dir, format string, out []byte) (string, bool) {
	switch format {
	case "shell":
		p := filepath.Join(dir, "env.sh")
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command("sh", "-c", `. "$1" && printf %s "$X"`, "sh", p).Output()
		if err != nil {
			return "", false
		}
		after, _ := exec.Command("sh", "-c", `. "$1" && printf %s "$Y"`, "sh", p).Output()
		return string(got), string(after) == "after"
	case "json":
		var m struct {
			A *string `json:"a"`
			B int     `json:"b"`
		}
		if err := json.Unmarshal(out, &m); err != nil || m.A == nil {
			return "", false
		}
		return *m.A, m.B == 1
	case "yaml":
		var m map[string]map[string]any
		if err := yaml.Unmarshal(out, &m); err != nil || len(m) != 1 {
			return "", false
		}
		s, _ := m["a"]["b"].(string)
		return s, m["a"]["c"] == 1 && len(m["a"]) == 2
	case "ini":
		f, err := ini.LoadSources(ini.LoadOptions{UnescapeValueDoubleQuotes: true}, out)
		if err != nil {
			return "", false
		}
		s := f.Section("s")
		return s.Key("k").String(), s.Key("z").String() == "1" && len(s.Keys()) == 2 && len(f.Sections()) == 2
	}
	t.Fatalf("no parser for %s", format)
	return "", false
}

// TestEscapeRefusals: a value a format cannot hold is refused, and the error does not quote it.
func TestEscapeRefusals(t *testing.T) {
	for _, c := range []struct{ format, v string }{
		{"shell", "nul\x00byte"}, {"json", "bad\xffutf8"}, {"yaml", "bad\xffutf8"}, {"ini", "two\nlines"}, {"ini", "nul\x00"},
	} {
		if _, err := Escape(c.format, c.v); err == nil || strings.Contains(err.Error(), c.v) {
			t.Errorf("%s %q: %v", c.format, c.v, err)
		}
	}
	if got, _ := Escape("html", `<a href="x">&'`); got != "&lt;a href=&#34;x&#34;&gt;&amp;&#39;" {
		t.Errorf("html: %s", got)
	}
}
