// Package datadir is where chaos keeps its data on the controller: $XDG_DATA_HOME/chaos, else
// ~/.local/share/chaos (the logbook, teams, the personal ramble, Souls).
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Path is elem joined under chaos's data directory.
func Path(elem ...string) (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("the data directory: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(append([]string{base, "chaos"}, elem...)...), nil
}
