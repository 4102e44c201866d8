package secretstest

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// Doppler is a loopback HTTPS server speaking the part of Doppler's documented v3 API the CLI uses
// for `secrets get` and `secrets set` (GET and POST /v3/configs/config/secrets with project and
// config in the query, a bearer token), keeping secrets in memory. The CLI verifies its
// certificate through SSL_CERT_FILE (Env).
type Doppler struct {
	URL, Token string
	caFile     string
	mu         sync.Mutex
	secrets    map[string]string // project/config/NAME -> value
}

// StartDoppler starts the server, stopped when the test ends.
func StartDoppler(t testing.TB) *Doppler {
	t.Helper()
	d := &Doppler{Token: "dp.st.chaos-test-token", secrets: map[string]string{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	d.caFile = filepath.Join(t.TempDir(), "doppler-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(d.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// Setenv points the CLI at this server and nowhere else for the rest of the test: the API host, the
// token, the server's certificate as the only trusted root, and no update check. (The CLI reads
// ~/.doppler for a login: the caller gives the test a HOME of its own.)
func (d *Doppler) Setenv(t testing.TB) {
	for k, v := range map[string]string{"DOPPLER_API_HOST": d.URL, "DOPPLER_TOKEN": d.Token, "SSL_CERT_FILE": d.caFile,
		"DOPPLER_ENABLE_VERSION_CHECK": "false"} {
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
