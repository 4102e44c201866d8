// Package selfupdate is `chaos self-update`: it fetches a release's signed SHA256SUMS, checks the
// signature against a pinned minisign key and the binary against its checksum, refuses a
// downgrade, and replaces the running binary atomically, keeping the old one until the new one has
// run. It also defines the release directory's format, which internal/release writes.
package selfupdate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

const (
	// SumsName and SigName are the checksum file and its minisign signature in a release directory.
	SumsName = "SHA256SUMS"
	SigName  = SumsName + ".minisig"
	// ReleasePublicKey is the minisign public key releases are signed with (README.md pins the same;
	// docs/release.md says who holds the secret half and how to verify by hand).
	ReleasePublicKey = "RWSm/aLtdBX9l/tjCcePWkRU8LB3VP5b/UkNaNrIvZ/7/BxZFwUFa3PQ"
	// DefaultURL is the release directory self-update reads: the latest release's downloads.
	DefaultURL = "https://github.com/ch-aos-ch/chaos/releases/latest/download"
)

// BinaryName is the release binary's file name for arch (GOARCH name).
func BinaryName(version, arch string) string { return "chaos_" + version + "_linux_" + arch }

// TrustedComment is the signed comment of a release's SHA256SUMS signature: it names the version
// (`minisign -V` prints it), and self-update takes the version from it.
func TrustedComment(version string) string { return "chaos " + version }

// ParseSums reads a SHA256SUMS file: name -> hex hash. A malformed line is an error (a checksum file
// that does not parse is not half-trusted).
func ParseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if b, err := hex.DecodeString(hash); !ok || err != nil || len(b) != sha256.Size || name == "" ||
			strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return nil, fmt.Errorf("SHA256SUMS line %d: want \"HASH  NAME\" with a SHA-256 and a plain file name", n)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("SHA256SUMS line %d: %s listed twice", n, name)
		}
		sums[name] = hash
	}
	return sums, sc.Err()
}

var semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?$`)

// CheckVersion refuses a version that is not x.y.z[-pre] (no leading v: file names and package
// versions carry it as is).
func CheckVersion(v string) error {
	if !semverRE.MatchString(v) {
		return fmt.Errorf("version %q: want x.y.z or x.y.z-pre (e.g. 1.4.0, 1.5.0-rc.1), without a leading v", v)
	}
	return nil
}

// Compare orders two x.y.z[-pre] versions as semantic versioning does (a pre-release sorts before
// its release): -1, 0 or 1.
func Compare(a, b string) (int, error) {
	ma, mb := semverRE.FindStringSubmatch(a), semverRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		bad := a
		if ma != nil {
			bad = b
		}
		return 0, fmt.Errorf("version %q is not x.y.z[-pre]", bad)
	}
	for i := 1; i <= 3; i++ {
		if c := cmpNum(ma[i], mb[i]); c != 0 {
			return c, nil
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0, nil
	case pa == "":
		return 1, nil
	case pb == "":
		return -1, nil
	}
	xa, xb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(xa) && i < len(xb); i++ {
		na, ea := strconv.ParseUint(xa[i], 10, 64)
		nb, eb := strconv.ParseUint(xb[i], 10, 64)
		var c int
		switch {
		case ea == nil && eb == nil:
			c = cmpUint(na, nb)
		case ea == nil: // numeric identifiers sort before alphanumeric ones
			c = -1
		case eb == nil:
			c = 1
		default:
			c = strings.Compare(xa[i], xb[i])
		}
		if c != 0 {
			return c, nil
		}
	}
	return cmpUint(uint64(len(xa)), uint64(len(xb))), nil
}

func cmpNum(a, b string) int {
	if len(a) != len(b) { // no leading zeros: the longer number is the larger
		return cmpUint(uint64(len(a)), uint64(len(b)))
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
