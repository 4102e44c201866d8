package gitsync

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a sync window, as in Argo CD: a period that starts at each time Schedule names and
// lasts Duration, which allows or denies syncs.
type Window struct {
	// Kind is "allow" or "deny".
	Kind string
	// Schedule is a standard 5-field cron expression (minute hour day-of-month month day-of-week)
	// or a descriptor such as @daily, read in TimeZone.
	Schedule string
	// Duration is how long each window lasts from its start.
	Duration time.Duration
	// ManualSync lets a human's sync through: during this deny window, or outside this allow window.
	ManualSync bool
	// TimeZone is an IANA name such as "Europe/Berlin"; "" is UTC.
	TimeZone string
}

// Window kinds.
const (
	Allow = "allow"
	Deny  = "deny"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses a 5-field cron expression or descriptor in the named zone ("" is UTC).
func parseCron(expr, zone string) (cron.Schedule, *time.Location, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, nil, fmt.Errorf("time zone %q: %w", zone, err)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, nil, fmt.Errorf("cron %q: %w", expr, err)
	}
	return s, loc, nil
}

// Validate checks the window; the server calls it on every window it accepts, and its error names
// the field at fault.
func (w Window) Validate() error {
	if w.Kind != Allow && w.Kind != Deny {
		return fmt.Errorf("kind: %q is neither allow nor deny", w.Kind)
	}
	if w.Duration <= 0 {
		return errors.New("duration: must be positive")
	}
	if _, _, err := parseCron(w.Schedule, w.TimeZone); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// Active reports whether at falls inside one of the window's periods: some start s of Schedule
// with s <= at < s+Duration.
func (w Window) Active(at time.Time) (bool, error) {
	if err := w.Validate(); err != nil {
		return false, err
	}
	s, loc, _ := parseCron(w.Schedule, w.TimeZone)
	// cron.Next returns the first start strictly after its argument, in that argument's zone:
	// the first start after at-Duration is the only one whose period can contain at.
	start := s.Next(at.In(loc).Add(-w.Duration))
	return !start.After(at), nil
}

// MaySync answers whether a project with these windows may sync at time at; manual is a human's
// sync (from the API or UI), otherwise an automatic one (auto-sync, selfHeal, a schedule). The rules
// are Argo CD's:
//   - no windows: always;
//   - an active deny window blocks, and wins over any active allow window; a manual sync passes
//     only when every active deny window has ManualSync;
//   - when there are allow windows, a sync needs one of them active; outside them a manual sync
//     passes when one of them has ManualSync;
//   - deny windows that are not active change nothing.
//
// It fails only on an invalid window (see Window.Validate).
func MaySync(windows []Window, at time.Time, manual bool) (bool, error) {
	var activeDeny, denyManual = 0, true
	var allows, activeAllows int
	allowManual := false
	for i, w := range windows {
		active, err := w.Active(at)
		if err != nil {
			return false, fmt.Errorf("sync window %d: %w", i+1, err)
		}
		switch w.Kind {
		case Deny:
			if active {
				activeDeny++
				denyManual = denyManual && w.ManualSync
			}
		case Allow:
			allows++
			allowManual = allowManual || w.ManualSync
			if active {
				activeAllows++
			}
		}
	}
	switch {
	case activeDeny > 0:
		return manual && denyManual, nil
	case allows > 0 && activeAllows == 0:
		return manual && allowManual, nil
	}
	return true, nil
}
