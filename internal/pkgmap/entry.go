package pkgmap

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Resolver maps a Ch-obolo package to a core's package names; ok is false when it has no entry.
// Resolve is the curated one; tests pass their own.
type Resolver func(p chobolo.Package, core string) ([]string, bool)

// Entry resolves one declared package for a core: the item's own override first, then resolve,
// else the name itself (known is false then, so the caller can hint at an override).
func Entry(p chobolo.Package, core string, resolve Resolver) (names []string, known bool, err error) {
	if names, ok := p.Overrides[core]; ok {
		return names, true, nil
	}
	if resolve != nil {
		if names, ok := resolve(p, core); ok {
			return names, true, nil
		}
	}
	if p.Name == "" {
		return nil, false, errors.New("package without a name")
	}
	return []string{p.Name}, false, nil
}

// Base returns the base set in force on core: `baseOverride` resolved like `packages` and checked
// with valid when it is declared and non-empty (overridden is true then), else fallback.
func Base(c *chobolo.Chobolo, core string, fallback []string, resolve Resolver, valid func(string) error) (names []string, overridden bool, err error) {
	if len(c.BaseOverride) == 0 {
		return fallback, false, nil
	}
	for i, p := range c.BaseOverride {
		where := "baseOverride[" + strconv.Itoa(i) + "]"
		resolved, _, err := Entry(p, core, resolve)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
		}
		for _, n := range resolved {
			if err := valid(n); err != nil {
				return nil, false, fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
			}
			names = append(names, n)
		}
	}
	return names, true, nil
}
