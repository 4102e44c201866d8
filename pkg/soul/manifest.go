package soul

import "context"

// Manifest is soul.yaml: who the Soul is and everything it provides. chaos reads it without
// starting the Soul: listing, key validation, explanations and boilerplate come from here.
type Manifest struct {
	// Name is the Soul's name (lowercase letters, digits and '-'; "publisher/name" when namespaced).
	Name    string `yaml:"name" json:"name"`
	Version string `yaml:"version" json:"version"`
	// Protocol is the protocol version the Soul speaks (ProtocolVersion).
	Protocol int `yaml:"protocol" json:"protocol"`
	// Exec is the executable, relative to the Soul's directory, with its arguments
	// (e.g. ["bin/dotfiles"], ["python3", "boat.py"]).
	Exec []string `yaml:"exec" json:"exec"`
	// About is one line for `chaos soul list`.
	About string `yaml:"about,omitempty" json:"about,omitempty"`
	// Timeout bounds each request (default 30s); a Soul that does not answer in time fails the run
	// before anything is applied.
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`

	Roles []RoleSpec `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Aliases are extra tags: alias -> space-separated tags (`chaos.aliases`).
	Aliases map[string]string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	// Explanations are `chaos explain` topics: topic -> Markdown file in the Soul's directory
	// (sections are subtopics, as the built-in topics).
	Explanations map[string]string `yaml:"explanations,omitempty" json:"explanations,omitempty"`
	// Boilerplate is a YAML file with the keys `chaos init chobolo` adds for this Soul.
	Boilerplate string `yaml:"boilerplate,omitempty" json:"boilerplate,omitempty"`

	Boats     []KindSpec `yaml:"boats,omitempty" json:"boats,omitempty"`
	Providers []KindSpec `yaml:"providers,omitempty" json:"providers,omitempty"`
	// Limanis are logbook sinks: every run event is sent to them (logbook.event).
	Limanis []KindSpec `yaml:"limanis,omitempty" json:"limanis,omitempty"`
	// Chimera are Ch-imera back ends (`chaos chimera compile --to NAME`).
	Chimera []KindSpec `yaml:"chimera,omitempty" json:"chimera,omitempty"`
	// Connectors are target connectors (`--target @NAME/ARG`, a fleet host named so).
	Connectors []KindSpec `yaml:"connectors,omitempty" json:"connectors,omitempty"`
}

// The kinds a Soul provides besides roles, as chaos names them in messages.
const (
	KindBoat      = "boat"
	KindProvider  = "secrets provider"
	KindSink      = "logbook sink"
	KindChimera   = "Ch-imera back end"
	KindConnector = "connector"
)

// RoleSpec declares a role: exactly what a built-in role's Meta says.
type RoleSpec struct {
	Name    string   `yaml:"name" json:"name"`
	Summary string   `yaml:"summary" json:"summary"`
	Aliases []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	// Keys are the top-level Ch-obolo keys the role reads (and only these are sent to it).
	Keys []string `yaml:"keys" json:"keys"`
	// Cores the role supports (debian, arch, fedora); empty: every core.
	Cores []string `yaml:"cores,omitempty" json:"cores,omitempty"`
	// Order sorts roles in a plan (built-in roles use 10-90; files 80).
	Order int `yaml:"order,omitempty" json:"order,omitempty"`
	// Secrets are the top-level keys of the secrets file the role may read.
	Secrets []string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Domains are the ledger domains the role owns (what it created; its full state).
	Domains []string `yaml:"domains,omitempty" json:"domains,omitempty"`
	// Schema is a JSON Schema file (draft 2020-12) for the role's keys, an object with one property
	// per key: chaos validates the Ch-obolo against it and reports errors at FILE:LINE:COL.
	Schema string `yaml:"schema,omitempty" json:"schema,omitempty"`
}

// KindSpec declares a boat, a secrets provider, a logbook sink, a Ch-imera back end or a connector.
type KindSpec struct {
	Name    string `yaml:"name" json:"name"`
	Summary string `yaml:"summary,omitempty" json:"summary,omitempty"`
	// Secrets are the top-level keys of the secrets file it may read (boats).
	Secrets []string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
}

// Kinds reaches what installed Souls provide besides roles (boats, connectors, secrets providers,
// Ch-imera back ends): chaos's Soul runtime implements it, one process per Soul for all of them,
// and the packages that use a kind take it, so they need not know how Souls are found and run.
type Kinds interface {
	// Lookup names the Soul that provides the kind (KindBoat, ...) called name, with its
	// manifest entry, or says that none does and what is installed.
	Lookup(kind, name string) (soulName string, spec KindSpec, err error)
	// Call sends method to that Soul and decodes its answer into result.
	Call(ctx context.Context, kind, name, method string, params, result any) error
}
