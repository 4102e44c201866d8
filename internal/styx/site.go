package styx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/yuin/goldmark"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// SiteEntry is one entry of the site's search index (search.json).
type SiteEntry struct {
	Name    string   `json:"name"`
	Kind    Kind     `json:"kind"`
	Version string   `json:"version"`
	About   string   `json:"about"`
	Tags    []string `json:"tags,omitempty"`
	Page    string   `json:"page"`
}

// BuildSite renders the index as a static website in dir: index.html (every entry, and a
// client-side search over search.json), one page per entry (versions, README rendered from
// Markdown with raw HTML left out, install command, publisher key) and style.css. Any static host
// serves it; `chaos styx serve` and Capitain serve the same pages with SiteHandler.
func BuildSite(ix *Index, registry, dir string) error {
	files, err := RenderSite(ix, registry)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "e"), 0o755); err != nil {
		return fmt.Errorf("site: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), files[name], 0o644); err != nil {
			return fmt.Errorf("site: %w", err)
		}
	}
	return nil
}

// RenderSite renders the site's files in memory, by slash-separated path (index.html,
// search.json, style.css, e/NAME.html).
func RenderSite(ix *Index, registry string) (map[string][]byte, error) {
	// CommonMark without extensions (GFM's package initialiser alone allocates 2,000 times at every
	// start of chaos), and without html.WithUnsafe: raw HTML in a README is dropped.
	md := goldmark.New()
	indexTmpl, entryTmpl := templates()
	files := map[string][]byte{"style.css": []byte(siteCSS)}
	var all []SiteEntry
	for _, name := range ix.Names() {
		e := ix.Entries[name]
		page := "e/" + dirName(name) + ".html"
		se := siteEntry(e)
		all = append(all, se)
		var readme bytes.Buffer
		if err := md.Convert([]byte(e.Readme), &readme); err != nil {
			return nil, fmt.Errorf("site: %s: README: %w", name, err)
		}
		latest := e.Latest()
		data := entryPage{Entry: e, Latest: latest, Readme: template.HTML(readme.String()), Registry: registry}
		if latest != nil {
			data.Install = "chaos styx invoke " + name + "@" + latest.Semver().String()
			if e.Kind == KindChobolo {
				data.Import = "imports: [{styx: " + name + "@" + latest.Semver().String() + "}]"
			}
		}
		if e.Key != "" {
			if k, err := ParsePublicKey(e.Key); err == nil {
				data.Fingerprint = k.Fingerprint()
			}
		}
		out, err := render(page, entryTmpl, data)
		if err != nil {
			return nil, err
		}
		files[page] = out
	}
	if all == nil {
		all = []SiteEntry{}
	}
	js, err := json.Marshal(all)
	if err != nil {
		return nil, err
	}
	files["search.json"] = js
	out, err := render("index.html", indexTmpl, struct {
		Entries  []SiteEntry
		Registry string
	}{all, registry})
	if err != nil {
		return nil, err
	}
	files["index.html"] = out
	return files, nil
}

// siteEntry is e as search.json and the search API list it.
func siteEntry(e *Entry) SiteEntry {
	se := SiteEntry{Name: e.Name, Kind: e.Kind, About: e.About, Tags: e.Tags, Page: "e/" + dirName(e.Name) + ".html"}
	if latest := e.Latest(); latest != nil {
		se.Version = latest.Version
	}
	return se
}

type entryPage struct {
	Entry                 *Entry
	Latest                *Version
	Readme                template.HTML
	Install, Import       string
	Fingerprint, Registry string
}

func render(path string, t *template.Template, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("site: %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"short": func(s string) string { return s[:min(len(s), 16)] },
	"entry": func() string { return chobolo.StyxBundleEntry },
}

// templates are parsed on first use, not at every start of chaos.
var templates = sync.OnceValues(func() (*template.Template, *template.Template) {
	return template.Must(template.New("index").Funcs(funcs).Parse(indexHTML)), template.Must(template.New("entry").Funcs(funcs).Parse(entryHTML))
})

const indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Styx: Souls and Ch-obolos for Ch-aOS</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="style.css"></head>
<body><h1>Styx</h1><p>Souls (plugins) and Ch-obolo bundles for <code>chaos</code>. Index: <code>{{.Registry}}</code>.
Every artifact is signed by its publisher; the index by its maintainers.</p>
<input id="q" type="search" placeholder="search names, tags, descriptions" autofocus>
<table id="list"><thead><tr><th>name</th><th>kind</th><th>version</th><th>about</th></tr></thead><tbody>
{{range .Entries}}<tr><td><a href="{{.Page}}">{{.Name}}</a></td><td>{{.Kind}}</td><td>{{.Version}}</td><td>{{.About}}</td></tr>
{{end}}</tbody></table>
<script>
// Client-side search over search.json: the letters typed, in order, in name, tags or about.
(function () {
  var q = document.getElementById('q'), body = document.querySelector('#list tbody'), all = [];
  // What was typed before search.json arrived is searched once it has.
  fetch('search.json').then(function (r) { return r.json(); }).then(function (d) { all = d; if (q.value) show(); });
  function fuzzy(text, s) { var i = 0; for (var c of s) { if (c === text[i]) i++; } return i === text.length; }
  function cell(tr, text, href) {
    var td = document.createElement('td');
    if (href) { var a = document.createElement('a'); a.href = href; a.textContent = text; td.appendChild(a); } else { td.textContent = text; }
    tr.appendChild(td);
  }
  function show() {
    var t = q.value.toLowerCase();
    var hits = all.filter(function (e) { return fuzzy(t, (e.name + ' ' + (e.tags || []).join(' ') + ' ' + e.about).toLowerCase()); });
    hits.sort(function (a, b) { return (b.name.indexOf(t) >= 0) - (a.name.indexOf(t) >= 0); });
    body.textContent = '';
    hits.forEach(function (e) { var tr = document.createElement('tr'); cell(tr, e.name, e.page); cell(tr, e.kind); cell(tr, e.version); cell(tr, e.about); body.appendChild(tr); });
  }
  q.addEventListener('input', show);
})();
</script></body></html>
`

const entryHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Entry.Name}}: Styx</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="../style.css"></head>
<body><p><a href="../index.html">Styx</a></p>
<h1>{{.Entry.Name}}</h1>
<p>{{.Entry.About}}</p>
<dl><dt>kind</dt><dd>{{.Entry.Kind}}</dd>
{{with .Entry.License}}<dt>license</dt><dd>{{.}}</dd>{{end}}
{{with .Entry.Tags}}<dt>tags</dt><dd>{{join . ", "}}</dd>{{end}}
{{with .Entry.Repo}}<dt>source</dt><dd><a href="{{.}}">{{.}}</a></dd>{{end}}
{{if .Entry.Key}}<dt>publisher key</dt><dd><code>{{.Entry.Key}}</code><br>{{.Fingerprint}}</dd>{{else}}<dt>publisher key</dt><dd>none: unsigned</dd>{{end}}
</dl>
{{if eq (print .Entry.Kind) "wheel"}}<p class="warn">A Python wheel for the original Ch-aOS: <code>chaos styx invoke {{.Entry.Name}}</code> says what the Go chaos offers instead.</p>
{{else}}{{with .Install}}<h2>Install</h2><pre><code>{{.}}</code></pre>{{end}}
{{with .Import}}<p>then in a Ch-obolo:</p><pre><code>{{.}}</code></pre>{{end}}{{end}}
<h2>Versions</h2>
<table><thead><tr><th>version</th><th>sha256</th><th>chaos</th><th>requires</th><th></th></tr></thead><tbody>
{{range .Entry.Versions}}<tr><td>{{if .URL}}<a href="{{.URL}}">{{.Version}}</a>{{else}}{{.Version}}{{end}}</td><td><code title="{{.SHA256}}">{{short .SHA256}}</code></td><td>{{.Chaos}}</td>
<td>{{range $k, $v := .Requires}}{{$k}} {{$v}}<br>{{end}}</td><td>{{if .Yanked}}yanked: {{.Yanked}}{{else if .Sig}}signed{{end}}</td></tr>
{{end}}</tbody></table>
{{if .Readme}}<h2>README</h2><article>{{.Readme}}</article>{{end}}
</body></html>
`

const siteCSS = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
code,pre{background:#f4f4f4}pre{padding:.6rem;overflow-x:auto}dt{font-weight:bold}dd{margin:0 0 .5rem 1rem;word-break:break-all}
input{width:100%;padding:.5rem;font-size:1rem;margin:1rem 0}.warn{background:#fff4d6;padding:.5rem}
`
