// Package builtin lists the roles compiled into chaos and their explanations.
package builtin

import (
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/roles/hostname"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/roles/repos"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/roles/users"
)

// Roles returns a fresh instance of every built-in role.
func Roles() []engine.Role {
	return []engine.Role{
		hostname.New(),
		repos.New(),
		packages.New(),
		users.New(),
		region.New(),
		services.New(),
		files.New(),
	}
}

// Registry returns a registry of the built-in roles.
func Registry() *engine.Registry { return engine.NewRegistry(Roles()...) }

// Explanations maps role names to their `chaos explain` Markdown.
func Explanations() map[string]string {
	return map[string]string{
		"hostname": hostname.ExplainMD,
		"repos":    repos.ExplainMD,
		"packages": packages.ExplainMD,
		"users":    users.ExplainMD,
		"region":   region.ExplainMD,
		"services": services.ExplainMD,
		"files":    files.ExplainMD,
	}
}
