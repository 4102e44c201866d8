package engine

import (
	"context"
	"fmt"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Capture probes the target once with every role that implements Capturer and returns a Ch-obolo
// describing the target as it is.
func (e *Engine) Capture(ctx context.Context, t transport.Transport, core string) (*chobolo.Chobolo, error) {
	empty := &chobolo.Chobolo{}
	token := newToken()
	envSection := []ProbeSection{{Name: "chaos.env", Script: envProbe}}
	outs, err := runProbe(ctx, t, token, probeScript(token, envSection))
	if err != nil {
		return nil, err
	}
	if err := expectSections(t, outs, envSection); err != nil {
		return nil, err
	}
	env, _, err := parseEnv(t, outs["chaos.env"], core)
	if err != nil {
		return nil, err
	}
	env.ReadOnly = true // a capture only reads the target
	var capturers []Role
	for _, r := range e.Registry.All() {
		if _, ok := r.(Capturer); ok && supports(r.Meta(), env.Core) {
			capturers = append(capturers, r)
		}
	}
	sections, err := e.sections(capturers, env, empty)
	if err != nil {
		return nil, err
	}
	if len(sections) > 0 {
		if outs, err = probeSections(ctx, t, token, nil, sections); err != nil {
			return nil, err
		}
		if err := expectSections(t, outs, sections); err != nil {
			return nil, err
		}
	}
	out := &chobolo.Chobolo{}
	if core != "" {
		out.Core = core
	}
	for _, r := range capturers {
		name := r.Meta().Name
		if err := r.(Capturer).Capture(env, factsFor(name, outs), out); err != nil {
			return nil, fmt.Errorf("%s: capture %s: %w", t.Name(), name, err)
		}
	}
	return out, nil
}
