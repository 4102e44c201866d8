// Package lockfile is the content of chaos's host lock file (/var/lib/chaos/lock), written by chaos
// on the host (internal/transport) and by the native SSH worker (internal/hostworker), and read by
// whoever finds the lock held. Standard library only, for the worker.
//
// The first line is "PID START" for a holder on the host's kernel that can be checked (start: field
// 22 of /proc/PID/stat), or free text (the sh worker); "owner TEXT" describes the chaos behind a
// worker; "group PGID START" lines are the command groups running now; "released" marks a clean
// release.
package lockfile

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Info is what a lock file says.
type Info struct {
	// Released: the holder released the lock cleanly; nothing of it is killed.
	Released bool
	PID      int    // the holder's pid (0: not recorded)
	Start    string // its start time
	Text     string // who, for messages: "4242 on forge over ssh"
	Groups   []Group
}

// Group is a command's process group recorded in the lock file.
type Group struct {
	PGID  int
	Start string
}

// Format is a lock file's content: head (the holder's lines: "PID START", then optionally
// "owner TEXT"), then one line per running command group, by pgid.
func Format(head string, groups map[int]string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(head, "\n") + "\n")
	pgids := slices.Sorted(maps.Keys(groups))
	for _, g := range pgids {
		fmt.Fprintf(&b, "group %d %s\n", g, groups[g])
	}
	return b.String()
}

// Parse reads a lock file's content (older files hold "PID" alone).
func Parse(data string) Info {
	var li Info
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	f := strings.Fields(lines[0])
	pid, err := 0, error(nil)
	if len(f) > 0 {
		pid, err = strconv.Atoi(f[0])
	}
	switch {
	case len(f) == 2 && err == nil && isNum(f[1]):
		li.PID, li.Start = pid, f[1]
	case len(f) == 1 && err == nil:
		li.PID = pid
	default:
		li.Text = strings.TrimSpace(lines[0])
	}
	for _, l := range lines[1:] {
		if t, ok := strings.CutPrefix(l, "owner "); ok {
			li.Text = strings.TrimSpace(t)
			continue
		}
		if l == "released" {
			li.Released = true
			continue
		}
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "group" {
			if g, err := strconv.Atoi(f[1]); err == nil && g > 1 {
				li.Groups = append(li.Groups, Group{PGID: g, Start: f[2]})
			}
		}
	}
	return li
}

func isNum(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// Owner describes the holder for messages: "pid 4242 on forge over ssh", "pid 12".
func (li Info) Owner() string {
	switch {
	case li.Text != "":
		return "pid " + li.Text
	case li.PID > 0:
		return "pid " + strconv.Itoa(li.PID)
	}
	return "pid -"
}
