package cli_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// notAChobolo, on the line just before a ```yaml fence, marks a block that is deliberately partial
// or invalid (docs/testing.md, "Examples in the docs").
const notAChobolo = "<!-- not-a-chobolo -->"

// yamlBlock is one ```yaml fence of a Markdown file.
type yamlBlock struct {
	pos  string // FILE:LINE of the fence
	text string
	skip bool
}

func yamlBlocks(t *testing.T, path string) []yamlBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []yamlBlock
		cur  *yamlBlock
		prev string
		n    int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```yaml":
			cur = &yamlBlock{pos: fmt.Sprintf("%s:%d", path, n), skip: strings.TrimSpace(prev) == notAChobolo}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
		prev = l
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: unclosed ```yaml fence", cur.pos)
	}
	return out
}

// checkExample loads text with the real loader and checks that it means what it says. Files it
// names (imports, templates, keys) are not part of the example: they read as empty.
func checkExample(t *testing.T, name, text string) {
	t.Helper()
	opts := chobolo.LoadOptions{ReadFile: func(string) ([]byte, error) { return nil, nil }}
	c, err := chobolo.LoadBytes(name, []byte(text), opts)
	if err != nil {
		t.Errorf("%s: example does not load:\n%v\n%s", name, err, text)
		return
	}
	for i, f := range c.Files {
		// content is written as is: template actions in it would land in the file verbatim.
		if strings.Contains(f.Content, "{{") {
			t.Errorf("%s: files[%d] (%s): content is literal, but it holds a template action %q; use template:",
				name, i, f.Path, f.Content)
		}
	}
}

// Every ```yaml example of README.md and docs/ is a Ch-obolo that loads and means what it says,
// unless marked as partial; so is `chaos init chobolo` with its keys uncommented.
func TestDocsExamplesLoad(t *testing.T) {
	files := []string{"../../README.md"}
	err := filepath.WalkDir("../../docs", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		for _, b := range yamlBlocks(t, f) {
			if !b.skip {
				checkExample(t, b.pos, b.text)
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d yaml examples checked: the extraction is broken", checked)
	}

	isolate(t)
	r := run(t, "", "init", "chobolo")
	if r.code != 0 {
		t.Fatalf("init chobolo: %s", r)
	}
	checkExample(t, "init chobolo", r.stdout)
	var un strings.Builder
	for l := range strings.Lines(r.stdout) {
		un.WriteString(strings.TrimPrefix(l, "# ")) // the template's rule: drop the first "# "
	}
	checkExample(t, "init chobolo (uncommented)", un.String())
}
