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

// Explanations maps `chaos explain` topics to the roles' Markdown (Meta.Explain), in Roles() order:
// a role's topic is its name, and a later role of the same name with a different text (another
// core's implementation) gets NAME-CORE: packages-arch, repos-fedora, ... Roles is the only list.
func Explanations() map[string]string {
	out := map[string]string{}
	for _, r := range Roles() {
		m := r.Meta()
		if m.Explain == "" {
			continue
		}
		topic := m.Name
		if prev, ok := out[topic]; ok {
			if prev == m.Explain || len(m.Cores) == 0 {
				continue
			}
			topic += "-" + m.Cores[0]
		}
		out[topic] = m.Explain
	}
	return out
}
