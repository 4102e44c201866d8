package testenv

import "path/filepath"

// InstallCache is where installer tests keep the bootstrapped Debian cores (`chaos install
// --cache`): the installer names each tarball by its recipe, so a changed recipe builds a new one.
func InstallCache() string { return filepath.Join(cacheDir(), "install") }
