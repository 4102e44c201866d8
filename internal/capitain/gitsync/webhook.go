package gitsync

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Forge names the service that sent a webhook.
type Forge string

// The forges ParsePush understands (Forgejo sends Gitea's headers and is parsed as Gitea).
const (
	GitHub Forge = "github"
	GitLab Forge = "gitlab"
	Gitea  Forge = "gitea"
)

// MaxWebhookBody is the largest webhook body ParsePush reads. GitHub caps its payloads at 25 MB
// but a push event lists at most 20 commits; 4 MiB holds any push event with room to spare.
const MaxWebhookBody = 4 << 20

// Errors of ParsePush; StatusCode maps them to HTTP statuses.
var (
	// ErrSignature: the signature (GitHub, Gitea) or token (GitLab) is missing or wrong, or the
	// project has no webhook secret. Answer 401 and queue nothing.
	ErrSignature = errors.New("webhook: bad or missing signature")
	// ErrMalformed: not a POST, no forge event header, or a body that is not the forge's push event.
	ErrMalformed = errors.New("webhook: malformed request")
	// ErrTooLarge: the body is over MaxWebhookBody.
	ErrTooLarge = errors.New("webhook: body too large")
	// ErrNotPush: an authentic event that is not a push (GitHub's ping on hook creation, any event
	// the hook was set to send besides pushes). Answer 202: accepted, nothing to do.
	ErrNotPush = errors.New("webhook: not a push event")
)

// StatusCode is the HTTP status to answer a ParsePush error with: 401, 400, 413, 202 (ErrNotPush),
// 200 for nil, 500 for anything else.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotPush):
		return http.StatusAccepted
	}
	return http.StatusInternalServerError
}

// Push is a verified push event.
type Push struct {
	Forge Forge
	// Delivery is the forge's id of this delivery (GitHub, Gitea; GitLab's event UUID), for logs.
	Delivery string
	// RepoURLs are the repository's URLs as the forge reports them (https clone, ssh, web).
	RepoURLs []string
	// DefaultBranch is the repository's default branch, when the forge says.
	DefaultBranch string
	// Ref is the full name of the pushed ref: refs/heads/main, refs/tags/v1.
	Ref string
	// Commit is the commit the ref points at now (a tag's commit when the forge gives it, else the
	// tag object); "" when Deleted.
	Commit string
	// Deleted reports a push that deleted Ref.
	Deleted bool
}

// Affects reports whether this push moves the ref a project follows: the same repository as
// repoURL (compared by host and path, so an ssh URL matches an https one) and ref as in
// Source.Ref ("" is the default branch; a commit id ref is never moved by a push).
func (p *Push) Affects(repoURL, ref string) bool {
	key := repoKey(repoURL)
	if key == "" {
		return false
	}
	same := false
	for _, u := range p.RepoURLs {
		if repoKey(u) == key {
			same = true
			break
		}
	}
	switch {
	case !same || isHash(ref):
		return false
	case ref == "" || ref == "HEAD":
		return p.DefaultBranch != "" && p.Ref == "refs/heads/"+p.DefaultBranch
	case strings.HasPrefix(ref, "refs/"):
		return p.Ref == ref
	}
	return p.Ref == "refs/heads/"+ref || p.Ref == "refs/tags/"+ref
}

// repoKey is HOST/PATH of a repository URL, lower case, without port, user, ".git" or slashes at
// the ends; "" when it cannot be parsed.
func repoKey(raw string) string {
	ep, err := transport.NewEndpoint(strings.TrimSpace(raw))
	if err != nil || ep.Host == "" {
		return ""
	}
	path := strings.TrimSuffix(strings.Trim(ep.Path, "/"), ".git")
	return strings.ToLower(ep.Host + "/" + path)
}

// ParsePush verifies a webhook request with the project's secret and returns its push event. It
// tells the forge by its event header (X-Gitea-Event first: Gitea also sends GitHub's headers),
// checks the signature over the raw body before parsing anything (GitHub: X-Hub-Signature-256
// HMAC-SHA256; Gitea: X-Gitea-Signature HMAC-SHA256; GitLab: X-Gitlab-Token compared in constant
// time), and reads at most MaxWebhookBody bytes. An empty secret refuses every request.
func ParsePush(r *http.Request, secret []byte) (*Push, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", ErrMalformed, r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
	}
	if len(body) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxWebhookBody)
	}
	h := r.Header
	var forge Forge
	var event string
	switch {
	case h.Get("X-Gitea-Event") != "":
		forge, event = Gitea, h.Get("X-Gitea-Event")
	case h.Get("X-Gitlab-Event") != "":
		forge, event = GitLab, h.Get("X-Gitlab-Event")
	case h.Get("X-GitHub-Event") != "":
		forge, event = GitHub, h.Get("X-GitHub-Event")
	default:
		return nil, fmt.Errorf("%w: no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header", ErrMalformed)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: the project has no webhook secret", ErrSignature)
	}
	switch forge {
	case GitHub:
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !validHMAC(body, secret, sig) {
			return nil, fmt.Errorf("%w (X-Hub-Signature-256)", ErrSignature)
		}
	case Gitea:
		if !validHMAC(body, secret, h.Get("X-Gitea-Signature")) {
			return nil, fmt.Errorf("%w (X-Gitea-Signature)", ErrSignature)
		}
	case GitLab:
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), secret) != 1 {
			return nil, fmt.Errorf("%w (X-Gitlab-Token)", ErrSignature)
		}
	}
	// authentic from here on
	isPush := event == "push" || (forge == GitLab && (event == "Push Hook" || event == "Tag Push Hook"))
	if !isPush {
		return nil, fmt.Errorf("%w: %s event %q", ErrNotPush, forge, event)
	}
	if forge == GitHub {
		// a hook created with content type application/x-www-form-urlencoded sends payload=JSON
		if ct, _, _ := mime.ParseMediaType(h.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fmt.Errorf("%w: form body: %v", ErrMalformed, err)
			}
			body = []byte(form.Get("payload"))
		}
	}
	p, err := decodePush(forge, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s push event: %v", ErrMalformed, forge, err)
	}
	p.Delivery = cmp.Or(h.Get("X-Gitea-Delivery"), h.Get("X-GitHub-Delivery"), h.Get("X-Gitlab-Event-UUID"))
	return p, nil
}

func validHMAC(body, secret []byte, sigHex string) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// pushBody is the union of the fields gitsync reads from the three forges' push events; a comment
// names the forges of a field the others lack.
type pushBody struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"` // GitHub
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"` // GitHub, Gitea
	CheckoutSHA *string `json:"checkout_sha"` // GitLab
	Repository  *struct {
		CloneURL      string `json:"clone_url"`    // GitHub, Gitea
		SSHURL        string `json:"ssh_url"`      // GitHub, Gitea
		HTMLURL       string `json:"html_url"`     // GitHub, Gitea
		GitHTTPURL    string `json:"git_http_url"` // GitLab
		GitSSHURL     string `json:"git_ssh_url"`  // GitLab
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Project *struct { // GitLab
		WebURL        string `json:"web_url"`
		GitHTTPURL    string `json:"git_http_url"`
		GitSSHURL     string `json:"git_ssh_url"`
		DefaultBranch string `json:"default_branch"`
	} `json:"project"`
}

var objectID = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

func decodePush(forge Forge, body []byte) (*Push, error) {
	var b pushBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(b.Ref, "refs/") {
		return nil, fmt.Errorf("ref %q is not a full ref name", b.Ref)
	}
	if !objectID.MatchString(b.After) {
		return nil, fmt.Errorf("after %q is not a commit id", b.After)
	}
	p := &Push{Forge: forge, Ref: b.Ref, Commit: b.After}
	if strings.Trim(b.After, "0") == "" || b.Deleted {
		p.Deleted, p.Commit = true, ""
	} else {
		// the tagged commit rather than the tag object, when the forge names it
		if b.HeadCommit != nil && objectID.MatchString(b.HeadCommit.ID) {
			p.Commit = b.HeadCommit.ID
		}
		if b.CheckoutSHA != nil && objectID.MatchString(*b.CheckoutSHA) {
			p.Commit = *b.CheckoutSHA
		}
	}
	if r := b.Repository; r != nil {
		p.RepoURLs = append(p.RepoURLs, r.CloneURL, r.SSHURL, r.HTMLURL, r.GitHTTPURL, r.GitSSHURL)
		p.DefaultBranch = r.DefaultBranch
	}
	if pr := b.Project; pr != nil {
		p.RepoURLs = append(p.RepoURLs, pr.GitHTTPURL, pr.GitSSHURL, pr.WebURL)
		p.DefaultBranch = cmp.Or(pr.DefaultBranch, p.DefaultBranch)
	}
	p.RepoURLs = compact(p.RepoURLs)
	if len(p.RepoURLs) == 0 {
		return nil, errors.New("no repository URL")
	}
	return p, nil
}

// compact drops empty and repeated strings, keeping the first order.
func compact(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
