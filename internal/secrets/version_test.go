package secrets

import (
	"testing"

	"github.com/getsops/sops/v3/version"
)

// TestSopsVersion: the version chaos writes into new files is the linked sops release's (sops's
// version package is imported only here, see sopsVersion).
func TestSopsVersion(t *testing.T) {
	if sopsVersion != version.Version {
		t.Fatalf("sopsVersion is %q, the linked sops is %q: update sopsVersion in file.go", sopsVersion, version.Version)
	}
}
