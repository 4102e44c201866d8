package gitsync

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const hookSecret = "hook-s3cret"

func sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hookServer is how the server is expected to use ParsePush: a real HTTP server on loopback that
// answers StatusCode(err) and, for a push, the parsed event as JSON.
func hookServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := ParsePush(r, []byte(hookSecret))
		w.WriteHeader(StatusCode(err))
		if err == nil {
			_ = json.NewEncoder(w).Encode(p)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestParsePush(t *testing.T) {
	srv := hookServer(t)
	gh, gl, gt := sample(t, "github-push.json"), sample(t, "gitlab-push.json"), sample(t, "gitea-push.json")
	form := []byte("payload=" + url.QueryEscape(string(gh)))
	huge := append(bytes.Repeat([]byte(" "), MaxWebhookBody), gh...)
	notJSON := []byte(`{"ref": "refs/heads/main", "after": `)
	badRef := bytes.Replace(gh, []byte(`"ref": "refs/heads/main"`), []byte(`"ref": "main"`), 1)
	ghPush := func(body []byte) http.Header {
		return http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"},
			"X-Hub-Signature-256": {"sha256=" + sign(body, hookSecret)}, "Content-Type": {"application/json"}}
	}
	giteaPush := func(body []byte, sig string) http.Header {
		// Gitea sends GitHub's and Gogs' headers too: X-Gitea-Event must win
		return http.Header{"X-Gitea-Event": {"push"}, "X-Github-Event": {"push"}, "X-Gogs-Event": {"push"},
			"X-Gitea-Delivery": {"f6266f16"}, "X-Gitea-Signature": {sig}}
	}
	with := func(h http.Header, k, v string) http.Header { h = h.Clone(); h.Set(k, v); return h }

	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		body   []byte
		status int
		want   *Push
	}{
		{"github push", "POST", ghPush(gh), gh, 200, &Push{Forge: GitHub, Delivery: "d-1",
			RepoURLs:      []string{"https://github.com/acme/fleet.git", "git@github.com:acme/fleet.git", "https://github.com/acme/fleet"},
			DefaultBranch: "main", Ref: "refs/heads/main", Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}},
		{"github form-encoded", "POST", with(ghPush(form), "Content-Type", "application/x-www-form-urlencoded"), form, 200,
			&Push{Forge: GitHub, Delivery: "d-1",
				RepoURLs:      []string{"https://github.com/acme/fleet.git", "git@github.com:acme/fleet.git", "https://github.com/acme/fleet"},
				DefaultBranch: "main", Ref: "refs/heads/main", Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}},
		{"github branch deleted", "POST", ghPush(sample(t, "github-delete.json")), sample(t, "github-delete.json"), 200,
			&Push{Forge: GitHub, Delivery: "d-1",
				RepoURLs:      []string{"https://github.com/acme/fleet.git", "git@github.com:acme/fleet.git", "https://github.com/acme/fleet"},
				DefaultBranch: "main", Ref: "refs/heads/feature", Deleted: true}},
		{"github ping", "POST", with(ghPush(sample(t, "github-ping.json")), "X-GitHub-Event", "ping"), sample(t, "github-ping.json"), 202, nil},
		{"github wrong secret", "POST", with(ghPush(gh), "X-Hub-Signature-256", "sha256="+sign(gh, "guess")), gh, 401, nil},
		{"github no signature", "POST", with(ghPush(gh), "X-Hub-Signature-256", ""), gh, 401, nil},
		{"github sha1 signature only", "POST", with(with(ghPush(gh), "X-Hub-Signature-256", ""), "X-Hub-Signature", "sha1=00"), gh, 401, nil},
		{"github tampered body", "POST", ghPush(gh), bytes.Replace(gh, []byte("main"), []byte("prod"), 1), 401, nil},
		{"github not JSON, signed", "POST", ghPush(notJSON), notJSON, 400, nil},
		{"github ref not a full name, signed", "POST", ghPush(badRef), badRef, 400, nil},
		{"github oversized", "POST", ghPush(huge), huge, 413, nil},
		{"GET", "GET", ghPush(nil), nil, 400, nil},
		{"no forge header", "POST", http.Header{"X-Hub-Signature-256": {"sha256=" + sign(gh, hookSecret)}}, gh, 400, nil},

		{"gitlab push", "POST", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {hookSecret},
			"X-Gitlab-Event-Uuid": {"u-1"}}, gl, 200, &Push{Forge: GitLab, Delivery: "u-1",
			RepoURLs:      []string{"https://gitlab.example.com/ops/fleet.git", "git@gitlab.example.com:ops/fleet.git", "https://gitlab.example.com/ops/fleet"},
			DefaultBranch: "main", Ref: "refs/heads/main", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{"gitlab tag push gives the commit, not the tag object", "POST", http.Header{"X-Gitlab-Event": {"Tag Push Hook"},
			"X-Gitlab-Token": {hookSecret}}, sample(t, "gitlab-tag-push.json"), 200, &Push{Forge: GitLab,
			RepoURLs:      []string{"https://gitlab.example.com/ops/fleet.git", "git@gitlab.example.com:ops/fleet.git", "https://gitlab.example.com/ops/fleet"},
			DefaultBranch: "main", Ref: "refs/tags/v1.0.0", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{"gitlab wrong token", "POST", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {hookSecret + "x"}}, gl, 401, nil},
		{"gitlab token prefix", "POST", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {hookSecret[:4]}}, gl, 401, nil},
		{"gitlab no token", "POST", http.Header{"X-Gitlab-Event": {"Push Hook"}}, gl, 401, nil},
		{"gitlab merge request event", "POST", http.Header{"X-Gitlab-Event": {"Merge Request Hook"}, "X-Gitlab-Token": {hookSecret}}, gl, 202, nil},

		{"gitea push", "POST", giteaPush(gt, sign(gt, hookSecret)), gt, 200, &Push{Forge: Gitea, Delivery: "f6266f16",
			RepoURLs:      []string{"https://gitea.example.org/ops/fleet.git", "ssh://git@gitea.example.org:2222/ops/fleet.git", "https://gitea.example.org/ops/fleet"},
			DefaultBranch: "main", Ref: "refs/heads/develop", Commit: "bffeb74224043ba2feb48d137756c8a9331c449a"}},
		{"gitea wrong secret", "POST", giteaPush(gt, sign(gt, "guess")), gt, 401, nil},
		{"gitea signature not hex", "POST", giteaPush(gt, "zz"), gt, 401, nil},
		// the GitHub-style signature a Gitea also sends does not stand in for X-Gitea-Signature
		{"gitea with only a GitHub signature", "POST", with(giteaPush(gt, ""), "X-Hub-Signature-256", "sha256="+sign(gt, hookSecret)), gt, 401, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[http.CanonicalHeaderKey(k)] = v
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.want == nil {
				return
			}
			var got Push
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, *tc.want)
			}
		})
	}
}

func TestParsePushWithoutSecret(t *testing.T) {
	gl := sample(t, "gitlab-push.json")
	req := httptest.NewRequest("POST", "/", bytes.NewReader(gl))
	req.Header.Set("X-Gitlab-Event", "Push Hook")
	req.Header.Set("X-Gitlab-Token", "")
	if _, err := ParsePush(req, nil); StatusCode(err) != 401 || !strings.Contains(err.Error(), "no webhook secret") {
		t.Fatalf("a project without a secret accepted a hook: %v", err)
	}
}

func TestPushAffects(t *testing.T) {
	p := &Push{RepoURLs: []string{"https://github.com/Acme/fleet.git", "git@github.com:acme/fleet.git"},
		DefaultBranch: "main", Ref: "refs/heads/main"}
	tag := &Push{RepoURLs: p.RepoURLs, DefaultBranch: "main", Ref: "refs/tags/v2"}
	for _, tc := range []struct {
		push     *Push
		url, ref string
		want     bool
	}{
		{p, "https://github.com/acme/fleet", "main", true},
		{p, "ssh://git@github.com:22/acme/fleet.git", "refs/heads/main", true},
		{p, "git@github.com:acme/fleet.git", "", true}, // the default branch
		{p, "https://github.com/acme/fleet.git", "HEAD", true},
		{p, "https://github.com/acme/fleet.git", "dev", false},
		{p, "https://github.com/acme/fleet-old.git", "main", false},
		{p, "https://gitlab.com/acme/fleet.git", "main", false},
		{p, "https://github.com/acme/fleet.git", "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", false}, // pinned
		{p, "", "main", false},
		{tag, "https://github.com/acme/fleet.git", "v2", true},
		{tag, "https://github.com/acme/fleet.git", "refs/tags/v2", true},
		{tag, "https://github.com/acme/fleet.git", "", false},
	} {
		if got := tc.push.Affects(tc.url, tc.ref); got != tc.want {
			t.Errorf("%s Affects(%q, %q) = %v, want %v", tc.push.Ref, tc.url, tc.ref, got, tc.want)
		}
	}
}

// FuzzParsePush: any body, correctly signed (so that it reaches the parser), from any forge, gives
// a push or an error, never a panic; a push always has a full ref and a commit unless deleted.
func FuzzParsePush(f *testing.F) {
	for _, name := range []string{"github-push.json", "github-delete.json", "gitlab-push.json", "gitlab-tag-push.json", "gitea-push.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	f.Add([]byte(`{"ref":"refs/heads/x","after":"`+strings.Repeat("a", 40)+`","repository":{"ssh_url":"::"}}`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, forge uint8) {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		switch forge % 3 {
		case 0:
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+sign(body, hookSecret))
		case 1:
			req.Header.Set("X-Gitlab-Event", "Push Hook")
			req.Header.Set("X-Gitlab-Token", hookSecret)
		case 2:
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Signature", sign(body, hookSecret))
		}
		p, err := ParsePush(req, []byte(hookSecret))
		if err != nil {
			if code := StatusCode(err); code != 400 && code != 413 {
				t.Fatalf("a signed body gave %d: %v", code, err)
			}
			return
		}
		if !strings.HasPrefix(p.Ref, "refs/") || (p.Commit == "") != p.Deleted || len(p.RepoURLs) == 0 {
			t.Fatalf("inconsistent push %+v", p)
		}
		for _, u := range p.RepoURLs {
			p.Affects(u, "main")
		}
	})
}
