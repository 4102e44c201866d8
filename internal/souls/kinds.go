package souls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// Kind is what a Soul provides besides roles: each is declared by name in soul.yaml.
type Kind string

// The kinds a Soul may declare besides roles.
const (
	KindBoat     Kind = "boat"
	KindProvider Kind = "secrets provider"
	KindSink     Kind = "logbook sink"
	KindChimera  Kind = "Ch-imera back end"
)

// specs are the manifest's entries of kind k.
func (s *Soul) specs(k Kind) []soul.KindSpec {
	switch k {
	case KindBoat:
		return s.Manifest.Boats
	case KindProvider:
		return s.Manifest.Providers
	case KindSink:
		return s.Manifest.Limanis
	case KindChimera:
		return s.Manifest.Chimera
	}
	return nil
}

// Provides returns the manifest's entry for the kind k named name.
func (s *Soul) Provides(k Kind, name string) (soul.KindSpec, bool) {
	for _, sp := range s.specs(k) {
		if sp.Name == name {
			return sp, true
		}
	}
	return soul.KindSpec{}, false
}

// Find returns the installed Soul (in Paths) that declares the kind k named name, with its
// manifest entry. Souls are searched in discovery order, so an earlier path wins. When none
// declares it, the error lists the names that are installed, and the manifests that could not be
// read (the one wanted may be among them).
func Find(k Kind, name string) (*Soul, soul.KindSpec, error) {
	all, errs := Discover(Paths())
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
	if len(names) > 0 {
		slices.Sort(names)
		msg += fmt.Sprintf(" (installed: %s)", strings.Join(names, ", "))
	} else {
		msg += fmt.Sprintf(" (Souls are looked up in %s)", strings.Join(Paths(), ":"))
	}
	if len(errs) > 0 {
		msg += "; Souls that could not be read:\n" + errors.Join(errs...).Error()
	}
	return nil, soul.KindSpec{}, errors.New(msg)
}

// Once starts the Soul, makes one call and ends the process: for the kinds used once per command
// (a secrets key, a compilation), where a Runtime would hold nothing more.
func (s *Soul) Once(ctx context.Context, method string, params, result any) error {
	p, err := s.Start(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Call(ctx, method, params, result)
}
