package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/hcvault"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"
)

// KeyChange is a change of a secrets file's recipients or Shamir threshold, made by ChangeKeys in
// the file and in the matching creation rule of its sops configuration.
type KeyChange struct {
	// Rule is the creation rule to change; -1 means the rule that matches the file.
	Rule int
	// Shamir, when >= 0, sets the file's Shamir threshold: 0 (every key group) or 2..groups.
	Shamir int
	// Force writes the file even when the keys at hand could not decrypt it afterwards.
	Force bool
	// EditConfig changes creation rule rule of the sops configuration; it is not called when the
	// configuration has no rule for the file (then only the file changes).
	EditConfig func(sc *SopsConfig, rule int) error
	// EditFile returns the file's new key groups, given a copy of the current ones.
	EditFile func([]sops.KeyGroup) ([]sops.KeyGroup, error)
}

// KeyChangeResult is what ChangeKeys wrote.
type KeyChangeResult struct {
	// Config is the sops configuration rewritten, "" when none was (also set when writing the
	// file failed afterwards).
	Config string
	Rule   int
	// Groups is the number of key groups the file is encrypted for; 0 when it was not written.
	Groups int
}

// ChangeKeys applies ch to the decrypted file f (resolved as src) and to its sops configuration,
// gives the file a new data key for the new recipients (a removed recipient cannot read later
// changes), and writes both: the configuration only after the file was re-encrypted, the file
// last. A change after which k — the keys at hand — could not decrypt the file is refused unless
// ch.Force: it would lock the user out.
func ChangeKeys(ctx context.Context, f *File, src Sources, k *Keyring, ch KeyChange) (KeyChangeResult, error) {
	var res KeyChangeResult
	cfgPath, err := FindSopsConfig(src.File, src.Sops)
	if err != nil {
		return res, err
	}
	var sc *SopsConfig
	rule := ch.Rule
	if cfgPath != "" {
		if sc, err = LoadSopsConfig(cfgPath); err != nil {
			return res, err
		}
		if rule < 0 {
			if rule, err = sc.RuleFor(src.File); err != nil {
				return res, err
			}
		}
		if rule < 0 {
			sc = nil // no rule for this file: change the file only
		} else if err := ch.EditConfig(sc, rule); err != nil {
			return res, err
		}
	}
	groups := slices.Clone(f.KeyGroups())
	for i := range groups {
		groups[i] = slices.Clone(groups[i])
	}
	if groups, err = ch.EditFile(groups); err != nil {
		return res, err
	}
	f.SetKeyGroups(groups)
	if ch.Shamir >= 0 {
		if ch.Shamir > len(groups) || ch.Shamir == 1 {
			return res, fmt.Errorf("shamir: threshold %d: it must be 0 (all groups) or 2..%d", ch.Shamir, len(groups))
		}
		f.SetShamirThreshold(ch.Shamir)
	}
	if err := f.Rekey(); err != nil {
		return res, fmt.Errorf("%s: %w", f.Path, err)
	}
	out, err := f.Encrypted()
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("secrets: %w", err)
	}
	if !ch.Force {
		check, err := Decrypt(src.File, out, Options{Keys: k, SopsConfig: src.Sops})
		if err != nil {
			return res, fmt.Errorf("refused: after this change the keys available here could not decrypt %s (%v); "+
				"set a threshold they meet (--shamir N, chaos secrets shamir N) or pass --force if other key holders will", src.File, err)
		}
		check.Close()
	}
	if sc != nil {
		if err := sc.Save(); err != nil {
			return res, err
		}
		res.Config, res.Rule = sc.Path, rule
	}
	if err := WriteFileAtomic(src.File, out, 0o600); err != nil {
		return res, err
	}
	res.Groups = len(groups)
	return res, nil
}

// Rotation adds recipients to a secrets file or removes them from it (chaos secrets rotate-add,
// rotate-rm).
type Rotation struct {
	Add  bool     // add the keys; false removes them
	Kind string   // age, pgp (gpg) or hc_vault (vault), for Add
	Keys []string // age recipients (age1...) or PGP fingerprints
	// Group is the key group to add to; the number of groups starts a new group.
	Group int
	// Rule, Shamir and Force are as in KeyChange.
	Rule   int
	Shamir int
	Force  bool
}

// masterKeys parses the keys to add.
func (r Rotation) masterKeys() ([]keys.MasterKey, error) {
	if !r.Add {
		return nil, nil
	}
	var out []keys.MasterKey
	for _, k := range r.Keys {
		mk, err := MasterKey(r.Kind, k)
		if err != nil {
			return nil, fmt.Errorf("rotate-add: %w", err)
		}
		out = append(out, mk)
	}
	return out, nil
}

// Validate checks the keys to add, before any file is opened.
func (r Rotation) Validate() error {
	_, err := r.masterKeys()
	return err
}

// Rotate makes the rotation r in f and its sops configuration with ChangeKeys.
func Rotate(ctx context.Context, f *File, src Sources, k *Keyring, r Rotation) (KeyChangeResult, error) {
	r.Kind = KindName(r.Kind)
	newKeys, err := r.masterKeys()
	if err != nil {
		return KeyChangeResult{}, err
	}
	return ChangeKeys(ctx, f, src, k, KeyChange{Rule: r.Rule, Shamir: r.Shamir, Force: r.Force,
		EditConfig: func(sc *SopsConfig, rule int) error {
			if r.Add {
				for _, key := range r.Keys {
					if err := sc.AddKey(rule, r.Group, r.Kind, key); err != nil {
						return err
					}
				}
			}
			if r.Shamir >= 0 {
				if err := sc.SetShamir(rule, r.Shamir); err != nil {
					return err
				}
			}
			for _, key := range r.Keys {
				if !r.Add && sc.RemoveKey(rule, key) == 0 {
					return fmt.Errorf("rotate-rm: %s is not a key of creation rule %d of %s", key, rule, sc.Path)
				}
			}
			return nil
		},
		EditFile: func(groups []sops.KeyGroup) ([]sops.KeyGroup, error) {
			if r.Add {
				switch {
				case r.Group < 0 || r.Group > len(groups):
					return nil, fmt.Errorf("rotate-add: the file has %d key group(s); --group 0..%d", len(groups), len(groups))
				case r.Group == len(groups):
					groups = append(groups, nil)
				}
				for _, mk := range newKeys {
					if !slices.ContainsFunc(groups[r.Group], func(k keys.MasterKey) bool { return k.ToString() == mk.ToString() }) {
						groups[r.Group] = append(groups[r.Group], mk)
					}
				}
				return groups, nil
			}
			removed := 0
			for i := range groups {
				groups[i] = slices.DeleteFunc(groups[i], func(k keys.MasterKey) bool {
					if slices.Contains(r.Keys, k.ToString()) {
						removed++
						return true
					}
					return false
				})
			}
			if removed == 0 {
				return nil, fmt.Errorf("rotate-rm: none of the keys is a recipient of %s", f.Path)
			}
			return slices.DeleteFunc(groups, func(g sops.KeyGroup) bool { return len(g) == 0 }), nil
		},
	})
}

// SetShamir requires n of f's key groups to decrypt it (0: all of them), in f and in its sops
// configuration's rule (rule -1: the one matching the file), with a new data key split into one
// share per group. Thresholds no set of keys could meet are refused.
func SetShamir(ctx context.Context, f *File, src Sources, k *Keyring, n, rule int, force bool) (KeyChangeResult, error) {
	groups := len(f.KeyGroups())
	switch {
	case n < 0:
		return KeyChangeResult{}, fmt.Errorf("shamir: %d is not a number of key groups", n)
	case n > groups:
		return KeyChangeResult{}, fmt.Errorf("shamir: threshold %d exceeds the %d key group(s) of %s: nobody could decrypt it (add groups with rotate-add --group %d)", n, groups, src.File, groups)
	case n > 0 && groups < 2:
		return KeyChangeResult{}, fmt.Errorf("shamir: %s has one key group; a threshold needs at least two (rotate-add --group 1)", src.File)
	case n == 1:
		// sops's Shamir split needs a threshold of 2 or more; "any one key" is one key group.
		return KeyChangeResult{}, errors.New("shamir: the threshold must be at least 2 (for \"any one of these keys\", put the keys in one key group)")
	}
	return ChangeKeys(ctx, f, src, k, KeyChange{Rule: rule, Shamir: n, Force: force,
		EditConfig: func(sc *SopsConfig, r int) error { return sc.SetShamir(r, n) },
		EditFile:   func(g []sops.KeyGroup) ([]sops.KeyGroup, error) { return g, nil },
	})
}

var pgpFingerprint = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)

// KindName is the key_groups name of a key type as the commands take it: gpg is pgp, vault is
// hc_vault (the original's rotate-add vault wrote "vault:", which sops ignores).
func KindName(kind string) string {
	switch kind {
	case "gpg":
		return "pgp"
	case "vault":
		return "hc_vault"
	}
	return kind
}

// MasterKey parses a recipient: kind age (age1...), pgp/gpg (a 40-hex-digit fingerprint, spaces
// allowed) or vault/hc_vault (a transit key URI, https://VAULT:8200/v1/ENGINE/keys/KEY).
func MasterKey(kind, key string) (keys.MasterKey, error) {
	switch kind {
	case "age":
		k, err := sopsage.MasterKeyFromRecipient(key)
		if err != nil {
			return nil, fmt.Errorf("%q is not an age recipient: %w", key, err)
		}
		return k, nil
	case "pgp", "gpg":
		fp := strings.ReplaceAll(key, " ", "")
		if !pgpFingerprint.MatchString(fp) {
			return nil, fmt.Errorf("%q is not a 40-hex-digit PGP fingerprint", key)
		}
		return pgp.NewMasterKeyFromFingerprint(strings.ToUpper(fp)), nil
	case "hc_vault", "vault":
		k, err := hcvault.NewMasterKeyFromURI(key)
		if err != nil {
			return nil, fmt.Errorf("%q is not a Vault transit key URI (https://VAULT:8200/v1/ENGINE/keys/KEY): %w", key, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown key type %q (age, pgp or vault)", kind)
}

// UpdateKeys gives f the key groups and Shamir threshold of the creation rule that matches it in
// sopsConfig (found as FindSopsConfig does when ""), with a new data key, as `sops updatekeys`
// does after the rule's recipients changed. It reports false, changing nothing, when the file
// already has them. The caller writes f.Encrypted().
func (f *File) UpdateKeys(sopsConfig string) (bool, error) {
	cfgPath, err := sopsConfigFor(f.Path, sopsConfig)
	if err != nil {
		return false, err
	}
	if cfgPath == "" {
		return false, fmt.Errorf("%s: no .sops.yaml found", f.Path)
	}
	rule, err := config.LoadCreationRuleForFile(cfgPath, f.Path, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", cfgPath, err)
	}
	if rule == nil || len(rule.KeyGroups) == 0 {
		return false, fmt.Errorf("%s: no creation rule with keys matches %s", cfgPath, f.Path)
	}
	if rule.ShamirThreshold == f.tree.Metadata.ShamirThreshold && groupsString(rule.KeyGroups) == groupsString(f.KeyGroups()) {
		return false, nil
	}
	f.SetKeyGroups(rule.KeyGroups)
	f.SetShamirThreshold(rule.ShamirThreshold)
	if err := f.Rekey(); err != nil {
		return false, fmt.Errorf("%s: %w", f.Path, err)
	}
	return true, nil
}

// groupsString names key groups by their keys, for comparison.
func groupsString(gs []sops.KeyGroup) string {
	var b strings.Builder
	for _, g := range gs {
		ks := make([]string, len(g))
		for i, k := range g {
			ks[i] = k.TypeToIdentifier() + ":" + k.ToString()
		}
		slices.Sort(ks)
		b.WriteString(strings.Join(ks, ",") + ";")
	}
	return b.String()
}
