package nixos

// The nixpkgs pin: the one place that names the release the generated flake builds against.
//
// Release is the stable branch; Revision a commit on it (nixos-version 26.05.10620.f5c082a40f75
// "Yarara", 2026-09-25). Option paths in tables.go, the attributes in internal/pkgmap/data/nix.yaml
// and DefaultStateVersion were checked against this release: re-check them whenever the pin moves
// (build a generated configuration with `nix build .#nixosConfigurations.HOST.config.system.build.toplevel`).
const (
	Release  = "nixos-26.05"
	Revision = "f5c082a40f7571c266e74e80ae2e68aadd8a9fc7"
	// DefaultStateVersion is system.stateVersion when --state-version is not given: the pinned
	// release. A machine that was installed with an older release must keep its own value.
	DefaultStateVersion = "26.05"
)
