package souls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// specs are the manifest's entries of the kind k (soul.KindBoat, ...).
func (s *Soul) specs(k string) []soul.KindSpec {
	switch k {
	case soul.KindBoat:
		return s.Manifest.Boats
	case soul.KindProvider:
		return s.Manifest.Providers
	case soul.KindSink:
		return s.Manifest.Limanis
	case soul.KindChimera:
		return s.Manifest.Chimera
	case soul.KindConnector:
		return s.Manifest.Connectors
	}
	return nil
}

// Provides returns the manifest's entry for the kind k named name.
func (s *Soul) Provides(k, name string) (soul.KindSpec, bool) {
	for _, sp := range s.specs(k) {
		if sp.Name == name {
			return sp, true
		}
	}
	return soul.KindSpec{}, false
}

// find returns the Soul of the run that declares the kind k named name, with its manifest entry.
// Souls are in discovery order, so an earlier path wins. When none declares it, the error lists
// the names that are installed, and the manifests that could not be read (the one wanted may be
// among them).
func (r *Runtime) find(k, name string) (*Soul, soul.KindSpec, error) {
	var all []*Soul
	var errs []error
	var paths []string
	if r != nil {
		all, errs, paths = r.list, r.loadErrs, r.paths
	}
	var names []string
	for _, s := range all {
		if sp, ok := s.Provides(k, name); ok {
			return s, sp, nil
		}
		for _, sp := range s.specs(k) {
			names = append(names, sp.Name)
		}
	}
	msg := fmt.Sprintf("no installed Soul provides the %s %q", k, name)
	switch {
	case len(names) > 0:
		slices.Sort(names)
		msg += fmt.Sprintf(" (installed: %s)", strings.Join(names, ", "))
	case r == nil:
		msg += " (no Souls are loaded)"
	default:
		msg += fmt.Sprintf(" (Souls are looked up in %s)", strings.Join(paths, ":"))
	}
	if len(errs) > 0 {
		msg += "; Souls that could not be read:\n" + errors.Join(errs...).Error()
	}
	return nil, soul.KindSpec{}, errors.New(msg)
}

// Lookup returns the name of the Soul that provides the kind k (soul.KindBoat, ...) named name
// and its manifest entry, or an error listing what is installed. A nil Runtime has no Souls.
func (r *Runtime) Lookup(k, name string) (string, soul.KindSpec, error) {
	s, sp, err := r.find(k, name)
	if err != nil {
		return "", sp, err
	}
	return s.Manifest.Name, sp, nil
}

// Call sends method to the run's process of the Soul that provides the kind k named name,
// starting it on first use: every kind of a Soul shares its one process.
func (r *Runtime) Call(ctx context.Context, k, name, method string, params, result any) error {
	s, _, err := r.find(k, name)
	if err != nil {
		return err
	}
	p, err := r.Process(ctx, s.Manifest.Name)
	if err != nil {
		return err
	}
	return p.Call(ctx, method, params, result)
}
