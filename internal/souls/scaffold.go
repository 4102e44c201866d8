package souls

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Languages are the languages `chaos soul new` writes a Soul in.
var Languages = []string{"go", "python", "sh"}

// Scaffold writes a new Soul named name in dir (created; it must not exist): soul.yaml, a schema,
// an explanation, a boilerplate and the program in lang. Its role, also named name, manages
// /etc/NAME.conf from the key `NAME: {text: ...}` (the sh one only probes: JSON is not sh's
// strength). As written it passes `chaos soul test` (a Go Soul once built: go build -o NAME .).
func Scaffold(dir, name, lang string) error {
	if !nameRe.MatchString(name) || strings.Contains(name, "/") {
		return fmt.Errorf("soul new: name %q: want lowercase letters, digits and '-'", name)
	}
	files := map[string]string{
		"schema.json":     scaffoldSchema,
		"explain.md":      scaffoldExplain,
		"boilerplate.yml": scaffoldBoilerplate,
	}
	exe := ""
	switch lang {
	case "go":
		exe = "[./" + name + "]"
		files["main.go"] = scaffoldGo
		files["go.mod"] = scaffoldGoMod
	case "python":
		exe = "[python3, soul.py]"
		files["soul.py"] = scaffoldPython
	case "sh":
		exe = "[sh, soul.sh]"
		files["soul.sh"] = scaffoldSh
	default:
		return fmt.Errorf("soul new: --lang %q: want %s", lang, strings.Join(Languages, ", "))
	}
	files[ManifestFile] = strings.ReplaceAll(scaffoldManifest, "EXEC", exe)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("soul new: %s exists; not overwriting", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("soul new: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("soul new: %w", err)
	}
	for f, text := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f, ".py") || strings.HasSuffix(f, ".sh") {
			mode = 0o755
		}
		text = strings.ReplaceAll(strings.ReplaceAll(text, "NAME", name), "LANG", lang)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), mode); err != nil {
			return fmt.Errorf("soul new: %w", err)
		}
	}
	return nil
}

const scaffoldManifest = `# The NAME Soul (LANG). Reference: docs/souls.md; check it with: chaos soul test .
name: NAME
version: 0.1.0
protocol: 1
exec: EXEC
about: manages /etc/NAME.conf (a new Soul; say what yours does)
roles:
  - name: NAME
    summary: manage /etc/NAME.conf
    keys: [NAME]
    schema: schema.json
explanations:
  NAME: explain.md
boilerplate: boilerplate.yml
`

const scaffoldSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "NAME": {
      "description": "the text of /etc/NAME.conf (Soul NAME)",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "text": {"type": "string", "description": "the file's text (a newline is added)"}
      }
    }
  }
}
`

const scaffoldExplain = `# NAME: /etc/NAME.conf (Soul)

## concept
The ` + "`NAME`" + ` key sets the text of /etc/NAME.conf.

## keys
- ` + "`NAME.text`" + `: the file's text.
`

const scaffoldBoilerplate = `## NAME (Soul NAME): the text of /etc/NAME.conf
# NAME:
#   text: hello from NAME
`

const scaffoldGoMod = `module NAME

go 1.26

require github.com/ch-aos-ch/chaos v0.0.0

// Building against a local checkout of chaos:
// replace github.com/ch-aos-ch/chaos => ../chaos
`

const scaffoldGo = `// Command NAME is a Soul (a chaos plugin) written with the Go SDK, github.com/ch-aos-ch/chaos/pkg/soul.
// Build it next to soul.yaml: go build -o NAME .
package main

import (
	"context"
	"encoding/json"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

const path = "/etc/NAME.conf"

type keys struct {
	Text string ` + "`json:\"text\"`" + `
}

// role manages /etc/NAME.conf. Probe and Plan never touch a host: chaos runs the probe's sh
// fragments in its single probe of the host and executes the plan's ops (with undo).
type role struct{}

func (role) Probe(context.Context, soul.ProbeParams) (soul.ProbeResult, error) {
	return soul.ProbeResult{Sections: []soul.Section{{Name: "conf", Script: "cat " + path + " 2>/dev/null; true"}}}, nil
}

func (role) Plan(_ context.Context, p soul.PlanParams) (soul.PlanResult, error) {
	var k keys
	if raw, ok := p.Keys["NAME"]; ok {
		if err := json.Unmarshal(raw, &k); err != nil {
			return soul.PlanResult{}, soul.Invalid("NAME", "%v", err)
		}
	}
	want := k.Text + "\n"
	if p.Facts["conf"].Stdout == want {
		return soul.PlanResult{}, nil // nothing to do
	}
	return soul.PlanResult{Steps: []soul.Step{{
		Changes: []soul.Change{{Kind: "~", Subject: path, Key: "NAME.text"}},
		Ops:     []soul.Op{{Kind: "write", Path: path, Content: &want, Mode: "0644", Owner: "root", Group: "root"}},
	}}}, nil
}

func main() {
	soul.Role("NAME", role{})
	soul.Serve()
}
`

const scaffoldPython = `#!/usr/bin/env python3
"""The NAME Soul (a chaos plugin) in Python 3, standard library only.

chaos starts it once per run and sends JSON-RPC 2.0 requests, one JSON object per line, on stdin;
each answer is one line on stdout. stderr is the log chaos shows when the Soul fails.
"""
import json
import sys

PATH = "/etc/NAME.conf"


def probe(params):
    # sh fragments chaos runs inside its single probe of the host; their stdout comes back as facts
    return {"sections": [{"name": "conf", "script": "cat %s 2>/dev/null; true" % PATH}]}


def plan(params):
    keys = params.get("keys") or {}
    text = (keys.get("NAME") or {}).get("text", "")
    want = text + "\n"
    if (params.get("facts") or {}).get("conf", {}).get("stdout") == want:
        return {}  # nothing to do
    return {"steps": [{
        "changes": [{"kind": "~", "subject": PATH, "key": "NAME.text"}],
        "ops": [{"kind": "write", "path": PATH, "content": want, "mode": "0644", "owner": "root", "group": "root"}],
    }]}


METHODS = {"role.probe": probe, "role.plan": plan}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        method = req.get("method")
        if method == "shutdown":
            return
        if "id" not in req:
            continue  # a notification: no answer
        resp = {"jsonrpc": "2.0", "id": req["id"]}
        fn = METHODS.get(method)
        if fn is None:
            resp["error"] = {"code": -32601, "message": "unknown method %s" % method}
        else:
            try:
                resp["result"] = fn(req.get("params") or {})
            except Exception as e:  # report, do not die: chaos names the Soul in the error
                resp["error"] = {"code": 2, "message": str(e)}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


main()
`

const scaffoldSh = `#!/bin/sh
# The NAME Soul (a chaos plugin) in POSIX sh. chaos sends one JSON-RPC request per line on stdin,
# always in the same field order ({"jsonrpc":"2.0","id":N,"method":"M","params":...}), which lets
# sed take id and method without a JSON parser. Its role probes and plans nothing to change; a real
# one reads its keys and facts from params (with jq, or in python).
while IFS= read -r line; do
	id=$(printf '%s\n' "$line" | sed -n 's/^{"jsonrpc":"2.0","id":\([0-9]*\),.*/\1/p')
	method=$(printf '%s\n' "$line" | sed -n 's/^{"jsonrpc":"2.0",\("id":[0-9]*,\)\{0,1\}"method":"\([^"]*\)".*/\2/p')
	case $method in
	shutdown) exit 0 ;;
	role.probe) result='{"sections":[{"name":"conf","script":"cat /etc/NAME.conf 2>/dev/null; true"}]}' ;;
	role.plan) result='{"notes":["NAME: a sh Soul template, it changes nothing"]}' ;;
	*)
		[ -n "$id" ] && printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"unknown method"}}\n' "$id"
		continue
		;;
	esac
	[ -n "$id" ] && printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$id" "$result"
done
`
