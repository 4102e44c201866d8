package secretstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// dopplerModule is the real Doppler CLI (Go). Doppler tags its releases without a leading v, which
// Go does not read as versions, so the proxy serves the repository only as pseudo-versions: this
// is the newest (2023-09-08, the 3.66 series).
const dopplerModule = "github.com/DopplerHQ/cli@v0.5.11-0.20230908185655-7aef4713e1a4"

// DopplerCLI returns the path of the real Doppler CLI, built from the Go module proxy and cached
// like Sops (`go install` names the program after the module's last element, cli).
func DopplerCLI(t testing.TB) string {
	t.Helper()
	return goInstall(t, "doppler-"+strings.SplitN(dopplerModule, "@", 2)[1], dopplerModule, "cli")
}

// Doppler is a loopback server speaking the part of Doppler's documented v3 API the CLI uses for
// `secrets get` and `secrets set` (GET and POST /v3/configs/config/secrets with project and config
// in the query, a bearer token), keeping secrets in memory. It speaks plain HTTP: a test CA in
// SSL_CERT_FILE would become the only root Go trusts for the rest of the test process.
type Doppler struct {
	URL, Token string
	mu         sync.Mutex
	secrets    map[string]string // project/config/NAME -> value
}

// StartDoppler starts the server, stopped when the test ends.
func StartDoppler(t testing.TB) *Doppler {
	t.Helper()
	d := &Doppler{Token: "dp.st.chaos-test-token", secrets: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

// Setenv points the CLI at this server for the rest of the test: the API host, the token, and no
// update check. (The CLI reads ~/.doppler for a login: the caller gives the test a HOME of its own.)
func (d *Doppler) Setenv(t testing.TB) {
	for k, v := range map[string]string{"DOPPLER_API_HOST": d.URL, "DOPPLER_TOKEN": d.Token, "DOPPLER_ENABLE_VERSION_CHECK": "false"} {
		t.Setenv(k, v)
	}
}

// Secret returns a stored secret's value.
func (d *Doppler) Secret(project, config, name string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.secrets[project+"/"+config+"/"+name]
	return v, ok
}

// SetSecret stores a value as the Doppler dashboard would.
func (d *Doppler) SetSecret(project, config, name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secrets[project+"/"+config+"/"+name] = value
}

type dopplerSecret struct {
	Raw                string `json:"raw"`
	Computed           string `json:"computed"`
	RawVisibility      string `json:"rawVisibility"`
	ComputedVisibility string `json:"computedVisibility"`
	Note               string `json:"note"`
}

func (d *Doppler) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"messages": []string{msg}, "success": false})
	}
	if r.Header.Get("Authorization") != "Bearer "+d.Token {
		fail(http.StatusUnauthorized, "Invalid Auth token")
		return
	}
	if r.URL.Path != "/v3/configs/config/secrets" {
		fail(http.StatusNotFound, "Could not find requested resource")
		return
	}
	q := r.URL.Query()
	project, config := q.Get("project"), q.Get("config")
	if project == "" || config == "" {
		fail(http.StatusBadRequest, "Invalid project or config")
		return
	}
	prefix := project + "/" + config + "/"
	d.mu.Lock()
	defer d.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		var body struct {
			Secrets map[string]string `json:"secrets"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Secrets) == 0 {
			fail(http.StatusBadRequest, "Invalid secrets")
			return
		}
		for k, v := range body.Secrets {
			d.secrets[prefix+k] = v
		}
	case http.MethodGet:
	default:
		fail(http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	// The answer of both: the config's secrets, or those ?secrets= names.
	want := map[string]bool{}
	for _, n := range strings.Split(q.Get("secrets"), ",") {
		if n != "" {
			want[n] = true
		}
	}
	out := map[string]dopplerSecret{}
	for k, v := range d.secrets {
		name, ok := strings.CutPrefix(k, prefix)
		if ok && (len(want) == 0 || want[name]) {
			out[name] = dopplerSecret{Raw: v, Computed: v, RawVisibility: "masked", ComputedVisibility: "masked"}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"secrets": out, "success": true})
}
