package secrets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/pgp"
)

// noKeyError explains a file no available key can open. sops's own message ("0 successful groups
// required, got 0") names neither the recipients nor where keys were looked for, which leaves the
// user nothing to act on. Only public keys, paths and counts appear in it, never key material.
func noKeyError(path string, md sops.Metadata, k *Keyring, cause error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: no available key can decrypt this file\n", path)
	b.WriteString("  it is encrypted for:\n")
	for i, g := range md.KeyGroups {
		for _, mk := range g {
			prefix := "    "
			if len(md.KeyGroups) > 1 {
				prefix = fmt.Sprintf("    group %d: ", i+1)
			}
			switch key := mk.(type) {
			case *sopsage.MasterKey:
				fmt.Fprintf(&b, "%sage %s\n", prefix, key.Recipient)
			case *pgp.MasterKey:
				fmt.Fprintf(&b, "%spgp %s\n", prefix, key.Fingerprint)
			default:
				fmt.Fprintf(&b, "%s%s %s\n", prefix, mk.TypeToIdentifier(), mk.ToString())
			}
		}
	}
	hasPGP := false
	for _, g := range md.KeyGroups {
		for _, mk := range g {
			if _, ok := mk.(*pgp.MasterKey); ok {
				hasPGP = true
			}
		}
	}
	b.WriteString("  age identities were looked for in (in this order):\n")
	for _, l := range k.searched() {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	for _, l := range sopsAgeLocations() {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	if hasPGP {
		fmt.Fprintf(&b, "  pgp keys were asked of gpg (%s): it holds no secret key of a pgp recipient, or gpg-agent could not unlock it\n", gnupgHome())
		if fprs := k.PGPFingerprints(); len(fprs) > 0 {
			fmt.Fprintf(&b, "  and of the PGP keys from %s (%s): none fits\n", strings.Join(k.sources, ", "), strings.Join(fprs, ", "))
		}
	}
	k.mu.Lock()
	vaultErrs := slices.Clone(k.vaultErrs)
	k.mu.Unlock()
	for _, e := range vaultErrs {
		// Vault's own refusal, or why no request was made (no token); never the token.
		fmt.Fprintf(&b, "  %s\n", e)
	}
	if k.providers != nil {
		if len(k.providers) == 0 {
			b.WriteString("  secret providers configured: none\n")
		} else {
			fmt.Fprintf(&b, "  secret providers configured (fetch a key with -p NAME): %s\n", strings.Join(k.providers, ", "))
		}
	}
	fmt.Fprintf(&b, "  to fix: add the private key of one of these recipients to %s or set SOPS_AGE_KEY_FILE to a file "+
		"holding it (chaos secrets import PROVIDER copies one from a provider); or ask someone who can open the file "+
		"to run `chaos secrets rotate-add age YOUR_PUBLIC_KEY` (chaos secrets init makes you a key pair)", defaultAgeKeyFile())
	return &noKeyErr{msg: b.String(), cause: cause}
}

type noKeyErr struct {
	msg   string
	cause error
}

func (e *noKeyErr) Error() string { return e.msg }
func (e *noKeyErr) Unwrap() error { return e.cause }

// defaultAgeKeyFile is where sops looks when no variable is set: os.UserConfigDir (which honours
// XDG_CONFIG_HOME on Linux) + sops/age/keys.txt, as sops's age.getUserConfigDir does.
func defaultAgeKeyFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "~/.config/" + sopsage.SopsAgeKeyUserConfigPath
	}
	return filepath.Join(dir, filepath.FromSlash(sopsage.SopsAgeKeyUserConfigPath))
}

// gnupgHome is the GnuPG home gpg uses: $GNUPGHOME, else ~/.gnupg.
func gnupgHome() string {
	if v := os.Getenv("GNUPGHOME"); v != "" {
		return "GNUPGHOME=" + v
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".gnupg")
	}
	return "~/.gnupg"
}

// sopsAgeLocations describes, in sops's order, the places sops's own discovery read.
func sopsAgeLocations() []string {
	var out []string
	// SSH keys first, as sops loads them; only those that exist are worth a line.
	if v, ok := os.LookupEnv(sopsage.SopsAgeSshPrivateKeyFileEnv); ok {
		out = append(out, fmt.Sprintf("%s=%s (ssh key): %s", sopsage.SopsAgeSshPrivateKeyFileEnv, v, existsState(v)))
	} else if home, err := os.UserHomeDir(); err == nil {
		for _, n := range []string{"id_ed25519", "id_rsa"} {
			p := filepath.Join(home, ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p+" (ssh key): exists, does not fit")
			}
		}
	}
	if v, ok := os.LookupEnv(sopsage.SopsAgeKeyEnv); ok {
		out = append(out, fmt.Sprintf("%s: set, %d key(s), none fits", sopsage.SopsAgeKeyEnv, countAgeKeys([]byte(v))))
	} else {
		out = append(out, sopsage.SopsAgeKeyEnv+": not set")
	}
	if v, ok := os.LookupEnv(sopsage.SopsAgeKeyFileEnv); ok {
		out = append(out, fmt.Sprintf("%s=%s: %s", sopsage.SopsAgeKeyFileEnv, v, keyFileState(v)))
	} else {
		out = append(out, sopsage.SopsAgeKeyFileEnv+": not set")
	}
	if _, ok := os.LookupEnv(sopsage.SopsAgeKeyCmdEnv); ok {
		// Not run again here: the command may prompt or have side effects.
		out = append(out, sopsage.SopsAgeKeyCmdEnv+": set, its output held no fitting key")
	} else {
		out = append(out, sopsage.SopsAgeKeyCmdEnv+": not set")
	}
	def := defaultAgeKeyFile()
	out = append(out, fmt.Sprintf("%s (default): %s", def, keyFileState(def)))
	return out
}

func existsState(p string) string {
	if _, err := os.Stat(p); err != nil {
		return "does not exist"
	}
	return "exists, does not fit"
}

// keyFileState says whether an age key file exists and how many keys it holds; its content is
// wiped after counting and never quoted.
func keyFileState(p string) string {
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "does not exist"
	}
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer Wipe(data)
	n := countAgeKeys(data)
	if n == 0 {
		return "exists, holds no age key"
	}
	return fmt.Sprintf("%d key(s), none fits", n)
}

// countAgeKeys counts age identities (native and plugin) by their prefix, without parsing them.
func countAgeKeys(data []byte) int {
	n := 0
	for _, f := range strings.Fields(string(data)) {
		if strings.HasPrefix(f, "AGE-SECRET-KEY-") || strings.HasPrefix(f, "AGE-PLUGIN-") {
			n++
		}
	}
	return n
}
