package files

import "fmt"

// Refuse says why chaos never writes path, whoever asks (a Soul's ops are held to the same rule
// as a files entry): the root, kernel interfaces and chaos's own state. remove also refuses what
// a system cannot live without (the top-level directories, /etc/passwd, ...).
func Refuse(path string, remove bool) error {
	if path == "/" || underAny(path, forbidden) {
		return fmt.Errorf("refusing to manage %s (chaos never manages /, /proc, /sys, /dev or its own /var/lib/chaos)", path)
	}
	if remove && undeletable[path] {
		return fmt.Errorf("refusing to remove %s: the system needs it", path)
	}
	return nil
}
