package pacman_test

import (
	"path/filepath"
	"syscall"
)

// syscallMountProc mounts /proc in root (the AUR role needs it to build); testenv unmounts submounts
// with the root.
func syscallMountProc(root string) error {
	return syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, "")
}
