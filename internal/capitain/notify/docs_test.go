package notify

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const docsDir = "../../../docs"

// validatePayload checks a webhook body against the JSON Schema published in docs/.
func validatePayload(t *testing.T, body []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(docsDir, "capitain-notification.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("notification.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("notification.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("payload does not match docs/capitain-notification.schema.json: %v\n%s", err, body)
	}
}

// docBlock returns the fenced code block that follows the line "<!-- name -->" in docs/capitain.md:
// the documentation's examples are what the tests run.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(docsDir, "capitain.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "<!-- "+name+" -->\n")
	if !ok {
		t.Fatalf("docs/capitain.md has no <!-- %s --> marker", name)
	}
	_, after, ok = strings.Cut(after, "```")
	if !ok {
		t.Fatalf("no code block after <!-- %s -->", name)
	}
	_, block, _ := strings.Cut(after, "\n") // the fence's language tag
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatalf("unterminated code block after <!-- %s -->", name)
	}
	return block
}

// verifierCase is a request a documented verifier must accept (ok) or refuse.
type verifierCase struct {
	name      string
	secret    string
	timestamp string
	signature string
	body      []byte
	ok        bool
}

// verifierCases are a request Capitain really sent to a receiver on loopback, and that request
// changed in each way a verifier must notice.
func verifierCases(t *testing.T) []verifierCase {
	t.Helper()
	recv, srv := newHookReceiver(t, hookSecret)
	d, err := New(webhookConfig(srv.URL, writeSecret(t, hookSecret)), newRecorder().hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	got := recv.requests()
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("receiver got %+v", got)
	}
	h, body := got[0].header, got[0].body
	ts, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	stale := time.Now().Add(-10 * time.Minute)
	return []verifierCase{
		{"real request", hookSecret, ts, sig, body, true},
		{"one byte of the body changed", hookSecret, ts, sig, bytes.Replace(body, []byte(`"shop"`), []byte(`"shoq"`), 1), false},
		{"another secret", "another secret", ts, sig, body, false},
		{"validly signed 10 minutes ago", hookSecret, strconv.FormatInt(stale.Unix(), 10), Sign([]byte(hookSecret), stale, body), body, false},
	}
}

// runVerifier runs a documented verifier (argv, in dir, reading body.json there) on each case.
func runVerifier(t *testing.T, argv []string, cases []verifierCase) {
	t.Helper()
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), c.body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SECRET="+c.secret, "TIMESTAMP="+c.timestamp, "SIGNATURE="+c.signature)
		out, err := cmd.CombinedOutput()
		if accepted := err == nil && strings.Contains(string(out), "verified"); accepted != c.ok {
			t.Errorf("%s: accepted = %v, want %v (%v)\n%s", c.name, accepted, c.ok, err, out)
		}
	}
}

// TestDocsOpenSSLRecipeVerifies runs the shell recipe of docs/capitain.md as it stands.
func TestDocsOpenSSLRecipeVerifies(t *testing.T) {
	testenv.RequireTool(t, "openssl", "openssl")
	runVerifier(t, []string{"sh", "-c", docBlock(t, "recipe: verify-webhook-openssl")}, verifierCases(t))
}

// TestDocsGoVerifier compiles the Go verifier of docs/capitain.md into a small program and runs it.
func TestDocsGoVerifier(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go" // where .ci/run and the Makefile find it
	}
	dir := t.TempDir()
	src := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

` + docBlock(t, "verifier: go") + `
func main() {
	body, err := os.ReadFile("body.json")
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("X-Chaos-Timestamp", os.Getenv("TIMESTAMP"))
	h.Set("X-Chaos-Signature", os.Getenv("SIGNATURE"))
	if err := verifyChaos([]byte(os.Getenv("SECRET")), h, body, time.Now()); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("verified")
}
`
	for name, content := range map[string]string{"main.go": src, "go.mod": "module verifier\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "verifier")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the documented Go verifier does not compile: %v\n%s", err, out)
	}
	runVerifier(t, []string{bin}, verifierCases(t))
}
