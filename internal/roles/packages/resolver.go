package packages

import "github.com/ch-aos-ch/chaos/internal/pkgmap"

// defaultResolver is the curated package map.
var defaultResolver Resolver = pkgmap.Resolve
