// Package procfs reads what chaos needs of Linux's /proc: a process's start time, which with its pid
// names it across pid reuse, and the live members of process groups. Standard library only: the
// native SSH worker (internal/hostworker) uses it too.
package procfs

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// stat returns the fields of /proc/PID/stat after the command name (field 3, the state, first).
// The name (field 2) may hold spaces and parentheses: the fields start after the last ')'.
func stat(pid string) ([]string, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("unreadable /proc/%s/stat", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

// Start returns the start time of pid (field 22 of /proc/PID/stat, in clock ticks since boot).
func Start(pid int) (string, error) {
	f, err := stat(strconv.Itoa(pid))
	if err != nil {
		return "", fmt.Errorf("process %d: %w", pid, err)
	}
	if len(f) < 20 { // fields 3..22
		return "", fmt.Errorf("process %d: unreadable /proc/%d/stat", pid, pid)
	}
	return f[19], nil
}

// GroupMembers lists the live (not zombie) processes of the process groups gs.
func GroupMembers(gs ...int) []int {
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		f, err := stat(d.Name()) // state ppid pgrp ...
		if err != nil || len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if pg, err := strconv.Atoi(f[2]); err == nil && slices.Contains(gs, pg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// GroupAlive reports whether process group g has a member that is not a zombie (a zombie has
// changed everything it will; init may take a while to reap it).
func GroupAlive(g int) bool {
	if err := syscall.Kill(-g, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return len(GroupMembers(g)) > 0
}
