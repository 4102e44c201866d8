package styx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// SiteHandler serves the site of BuildSite from memory, and a search API: what `chaos styx serve`
// serves, and what Capitain mounts (http.StripPrefix) to show the index. Update swaps in a newer
// index while requests are served.
//
//	GET /, /index.html, /e/NAME.html, /search.json, /style.css   the site's pages
//	GET /api/search?q=TEXT[&kind=soul|chobolo|wheel]             entries, best first (as chaos styx search)
type SiteHandler struct {
	mu    sync.RWMutex
	ix    *Index
	files map[string][]byte
	at    time.Time
}

// NewSiteHandler renders ix's site.
func NewSiteHandler(ix *Index, registry string) (*SiteHandler, error) {
	h := &SiteHandler{}
	return h, h.Update(ix, registry)
}

// Update renders ix and serves it from now on; on error the previous index stays served.
func (h *SiteHandler) Update(ix *Index, registry string) error {
	files, err := RenderSite(ix, registry)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.ix, h.files, h.at = ix, files, time.Now()
	h.mu.Unlock()
	return nil
}

func (h *SiteHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.mu.RLock()
	ix, files, at := h.ix, h.files, h.at
	h.mu.RUnlock()
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	if name == "api/search" {
		hits := []SiteEntry{}
		for _, e := range ix.Search(r.URL.Query().Get("q"), Kind(r.URL.Query().Get("kind"))) {
			hits = append(hits, siteEntry(e))
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(hits)
		return
	}
	data, ok := files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	// ServeContent sets the type from the name, and answers If-Modified-Since and ranges.
	http.ServeContent(w, r, name, at, bytes.NewReader(data))
}
