// Package builtin lists the roles compiled into chaos and their explanations.
package builtin

import (
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/aur"
	"github.com/ch-aos-ch/chaos/internal/roles/bootloader"
	"github.com/ch-aos-ch/chaos/internal/roles/dnf"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/roles/hostname"
	"github.com/ch-aos-ch/chaos/internal/roles/mirrors"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/roles/pacmanconf"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/roles/repos"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/roles/users"
	"github.com/ch-aos-ch/chaos/internal/roles/yumrepos"
)

// Roles returns a fresh instance of every built-in role. Roles sharing a name serve different cores
// (Debian and Arch `packages`, `repos`, `region`); the registry picks the one for the host's core.
func Roles() []engine.Role {
	return []engine.Role{
		hostname.New(),
		repos.New(),
		pacmanconf.New(),
		yumrepos.New(),
		packages.New(),
		pacman.New(),
		dnf.New(),
		mirrors.New(),
		aur.New(),
		users.New(),
		region.New(),
		region.NewArch(),
		region.NewFedora(),
		services.New(),
		files.New(),
		bootloader.New(),
	}
}

// Registry returns a registry of the built-in roles.
func Registry() *engine.Registry { return engine.NewRegistry(Roles()...) }

// Explanations maps role names to their `chaos explain` Markdown. The Arch implementations of a
// shared role name have their own topics, NAME-arch.
func Explanations() map[string]string {
	return map[string]string{
		"hostname": hostname.ExplainMD,
		"repos":    repos.ExplainMD,
		"packages": packages.ExplainMD,
		"users":    users.ExplainMD,
		"region":   region.ExplainMD,
		"services": services.ExplainMD,
		"files":    files.ExplainMD,
		// Arch core (Ch-aronte)
		"packages-arch": pacman.ExplainMD,
		"repos-arch":    pacmanconf.ExplainMD,
		"bootloader":    bootloader.ExplainMD,
		// Fedora core (Ch-iron)
		"packages-fedora": dnf.ExplainMD,
		"repos-fedora":    yumrepos.ExplainMD,
		"mirrors":         mirrors.ExplainMD,
		"aur":             aur.ExplainMD,
	}
}
