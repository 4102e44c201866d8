package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A probe script is every section of every selected role, framed so that one run of `sh -s` on the
// host returns all facts at once. Each section runs in a subshell with stdin from /dev/null, so a
// fragment can neither end the script early nor swallow the rest of it. The frame lines carry a
// random token, so no output of a fragment can forge a frame.

// probeScript assembles sections (already prefixed with their role name) into one script.
func probeScript(token string, sections []ProbeSection) string {
	var b strings.Builder
	b.WriteString("LC_ALL=C.UTF-8; export LC_ALL\n")
	if slices.ContainsFunc(sections, func(s ProbeSection) bool { return s.Scratch }) {
		b.WriteString(WithScratch(""))
	}
	for _, s := range sections {
		fmt.Fprintf(&b, "printf '%%s begin %%s\\n' %s %s\n", token, s.Name)
		b.WriteString("(\n")
		b.WriteString(s.Script)
		b.WriteString("\n) </dev/null\n")
		fmt.Fprintf(&b, "printf '\\n%%s end %%s %%d\\n' %s %s \"$?\"\n", token, s.Name)
	}
	return b.String()
}

// ScratchEnv names the private directory that the sections asking for it (ProbeSection.Scratch)
// use for copies of what they cannot read without writing (the Fedora core's rpm and dnf databases
// in read-only runs): created under the target's /tmp before the first section, only when a
// section of the host's core asks for it, and removed when the probe ends, so that one copy serves
// every section (they are subshells of one shell and find it in the environment).
const ScratchEnv = "CHAOS_SCRATCH"

// WithScratch returns script run with a scratch directory (see ScratchEnv).
func WithScratch(script string) string {
	return ScratchEnv + "=$(mktemp -d /tmp/chaos-probe.XXXXXX) || exit 1\nexport " + ScratchEnv +
		"\ntrap 'rm -rf \"$" + ScratchEnv + "\"' EXIT\n" + script
}

// coreSections are the sections to run when the host turns out to be of this core.
type coreSections struct {
	core     string
	sections []ProbeSection
}

// probeScriptByCore runs env, then detects the core on the host exactly as DetectCore does and runs
// only that core's sections. A section every core asks for alike (the same name and script: the
// files role's, whatever the core) is sent and run once, before the detection, instead of once
// per core: 1,000 declared files made a 100 KB section, sent three times.
func probeScriptByCore(token string, env ProbeSection, groups []coreSections) string {
	var shared []ProbeSection
	var rest []coreSections
	for _, g := range groups {
		if len(g.sections) > 0 {
			rest = append(rest, g)
		}
	}
	if len(rest) > 1 {
		for _, s := range rest[0].sections {
			if !s.Scratch && !slices.ContainsFunc(rest[1:], func(g coreSections) bool {
				return !slices.ContainsFunc(g.sections, func(o ProbeSection) bool { return sameSection(o, s) })
			}) {
				shared = append(shared, s)
			}
		}
		for i, g := range rest {
			rest[i].sections = slices.DeleteFunc(slices.Clone(g.sections), func(s ProbeSection) bool {
				return slices.ContainsFunc(shared, func(o ProbeSection) bool { return sameSection(o, s) })
			})
		}
	}
	var b strings.Builder
	b.WriteString(probeScript(token, append([]ProbeSection{env}, shared...)))
	groups = rest
	b.WriteString("__chaos_core=\n")
	b.WriteString("for __chaos_id in $(. /etc/os-release 2>/dev/null || . /usr/lib/os-release 2>/dev/null; echo \"$ID $ID_LIKE\"); do\n")
	b.WriteString("  case $__chaos_id in\n")
	for _, c := range coreIDs {
		fmt.Fprintf(&b, "    %s) __chaos_core=%s ;;\n", strings.Join(c.ids, "|"), c.core)
	}
	b.WriteString("  esac\n  [ -n \"$__chaos_core\" ] && break\ndone\n")
	for _, g := range groups {
		if len(g.sections) == 0 {
			continue
		}
		fmt.Fprintf(&b, "if [ \"$__chaos_core\" = %s ]; then\n", g.core)
		b.WriteString(strings.TrimPrefix(probeScript(token, g.sections), "LC_ALL=C.UTF-8; export LC_ALL\n"))
		b.WriteString("fi\n")
	}
	return b.String()
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "@@chaos-" + hex.EncodeToString(b[:])
}

// parseProbe splits the probe's stdout into section outputs.
func parseProbe(token string, out string) (map[string]Output, error) {
	res := map[string]Output{}
	begin := token + " begin "
	for {
		i := strings.Index(out, begin)
		if i < 0 {
			break
		}
		out = out[i+len(begin):]
		nl := strings.IndexByte(out, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("probe output truncated")
		}
		name := out[:nl]
		out = out[nl+1:]
		endMark := "\n" + token + " end " + name + " "
		j := strings.Index(out, endMark)
		if j < 0 {
			return nil, fmt.Errorf("probe section %s: output truncated", name)
		}
		body := out[:j]
		out = out[j+len(endMark):]
		nl = strings.IndexByte(out, '\n')
		if nl < 0 {
			nl = len(out)
		}
		code, err := strconv.Atoi(strings.TrimSpace(out[:nl]))
		if err != nil {
			return nil, fmt.Errorf("probe section %s: bad exit status %q", name, out[:nl])
		}
		out = out[nl:]
		res[name] = Output{Stdout: body, Code: code}
	}
	return res, nil
}

// envProbe is the engine's own section: what every role may need to know about the target.
const envProbe = `cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo "@user=$(id -un 2>/dev/null)"
echo "@sudo_user=${SUDO_USER:-}"
echo "@ssh_user=${CHAOS_SSH_USER:-}"
[ -d /run/systemd/system ] && echo "@systemd=1"
if [ -r /var/lib/chaos/ledger.tsv ]; then echo "@ledger"; cat /var/lib/chaos/ledger.tsv; fi
true`
