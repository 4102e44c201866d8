package chobolo

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Recorded is the Ch-obolo as one self-contained YAML document (imports resolved, no
// secrets: those live in the secrets file), as recorded in journals and generations. Sections that
// are declared but empty stay declared, since an empty full-state section means "none". Templates
// and key files the loader read are embedded as trailing comment lines, which LoadRecorded serves
// back to the loader.
func Recorded(c *Chobolo) ([]byte, error) {
	data, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	m := mapping()
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m = doc.Content[0]
	}
	doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}
	have := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		have[m.Content[i].Value] = m.Content[i+1]
	}
	if len(c.Repos.Extra) > 0 {
		repos := have["repos"]
		if repos == nil {
			repos = mapping()
			put(m, "repos", repos)
			have["repos"] = repos
		}
		for _, k := range slices.Sorted(maps.Keys(c.Repos.Extra)) {
			put(repos, k, c.Repos.Extra[k])
		}
	}
	for _, k := range c.Keys() {
		if have[k] != nil {
			continue
		}
		if n, ok := c.Extra[k]; ok {
			put(m, k, n)
			continue
		}
		switch k {
		case "users", "packages", "baseOverride", "services", "files":
			put(m, k, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle})
		case "repos", "region":
			put(m, k, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	embed := map[string]string{}
	for _, f := range c.Files {
		if f.Template != "" {
			embed[f.Template] = f.TemplateText
		}
	}
	for _, t := range c.SecretTemplates {
		if t.From != "" {
			embed[t.From] = t.Text
		}
		maps.Copy(embed, t.Includes) // by path relative to the templates directory, as From
	}
	for _, r := range c.Repos.Apt {
		if r.KeyFile != "" {
			embed[r.KeyFile] = r.KeyText
		}
	}
	for _, k := range slices.Sorted(maps.Keys(embed)) {
		out = fmt.Appendf(out, "%s %s %s\n", embeddedFile, base64.StdEncoding.EncodeToString([]byte(k)),
			base64.StdEncoding.EncodeToString([]byte(embed[k])))
	}
	return out, nil
}

const embeddedFile = "#chaos-embedded-file"

// sourceDir is the directory a recorded Ch-obolo is loaded from; its embedded files resolve in it.
const sourceDir = "/chaos-recorded"

// LoadRecorded loads a Ch-obolo recorded by Recorded (a generation's or a journal's). extraKeys
// are more top-level keys to accept (LoadOptions.ExtraKeys: the installed Souls' keys).
func LoadRecorded(what string, data []byte, extraKeys ...string) (*Chobolo, error) {
	files := map[string][]byte{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != embeddedFile {
			continue
		}
		name, err1 := base64.StdEncoding.DecodeString(f[1])
		content, err2 := base64.StdEncoding.DecodeString(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: a damaged embedded file line", what)
		}
		p := string(name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(sourceDir, p)
		}
		files[p] = content
	}
	read := func(p string) ([]byte, error) {
		if data, ok := files[filepath.Clean(p)]; ok {
			return data, nil
		}
		return nil, fmt.Errorf("%s is not recorded with the Ch-obolo", p)
	}
	c, err := LoadBytes(sourceDir+"/chobolo.yml", data, LoadOptions{ReadFile: read, ExtraKeys: extraKeys})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func put(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}
