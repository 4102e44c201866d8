package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

// spec is the server's OpenAPI document, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	var doc any
	if err := yaml.Unmarshal(server.OpenAPI(), &doc); err != nil {
		return nil, err
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	t, err := openapi3.NewLoader().LoadFromData(js)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	return t, nil
})

func init() {
	// An event stream is validated as text (its events are checked one by one by readStream).
	openapi3filter.RegisterBodyDecoder("text/event-stream", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
}

// validating is an http.RoundTripper that checks every response against the OpenAPI document:
// its route must be documented and its status, headers and body must match. A response that does
// not match fails the test; none escapes (the client of every API test is built on it).
type validating struct {
	t      testing.TB
	router routers.Router
	doc    *openapi3.T
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/") {
		return resp, err
	}
	route, params, rerr := v.router.FindRoute(req)
	if rerr != nil {
		// Undocumented routes must answer with the documented error body (a 404).
		if resp.StatusCode != http.StatusNotFound {
			v.t.Errorf("OpenAPI: %s %s is not documented but answered %d", req.Method, req.URL.Path, resp.StatusCode)
		}
		return resp, nil
	}
	body := resp.Body
	check := func(data []byte) {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
			Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(data)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			v.t.Errorf("OpenAPI: %s %s -> %d does not match the document: %v\n%s", req.Method, req.URL, resp.StatusCode, err, clip(data))
		}
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream is checked when it is closed, with what was read.
		resp.Body = &checkOnClose{r: body, check: check}
		return resp, nil
	}
	data, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		return nil, err
	}
	check(data)
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

type checkOnClose struct {
	r     io.ReadCloser
	buf   bytes.Buffer
	check func([]byte)
	once  sync.Once
}

func (c *checkOnClose) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	return n, err
}

func (c *checkOnClose) Close() error {
	c.once.Do(func() { c.check(c.buf.Bytes()) })
	return c.r.Close()
}

// api is a test client of one server: every response is validated against the OpenAPI document.
type api struct {
	t     testing.TB
	base  string
	token string
	hc    *http.Client
	doc   *openapi3.T
}

func newAPI(t testing.TB, base, token string) *api {
	t.Helper()
	doc, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &api{t: t, base: base, token: token, doc: doc, hc: &http.Client{Transport: &validating{t: t, router: router, doc: doc}}}
}

// do sends a request (body: nil, a string sent as is, or a value sent as JSON) and decodes a JSON
// answer into out (when not nil); it returns the status.
func (a *api) do(method, path string, body any, out any, hdr ...string) int {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 { // a 204 has no body
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// must is do expecting status want.
func (a *api) must(want int, method, path string, body any, out any) {
	a.t.Helper()
	var raw json.RawMessage
	if got := a.do(method, path, body, &raw); got != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil && raw != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// sse is one event of a stream.
type sse struct {
	id, event string
	data      json.RawMessage
}

// readStream reads a job's event stream (after lastID when not "") to its end event; every
// event's data is checked against the document's Event schema.
func (a *api) readStream(job int64, lastID string) []sse {
	a.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/events", a.base, job), nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	resp, err := a.hc.Do(req.WithContext(ctx))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		a.t.Fatalf("stream: status %d", resp.StatusCode)
	}
	schema := a.doc.Components.Schemas["Event"].Value
	var out []sse
	var cur sse
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = json.RawMessage(line[6:])
		case line == "":
			if cur.event == "end" {
				return append(out, cur)
			}
			var v any
			if err := json.Unmarshal(cur.data, &v); err != nil {
				a.t.Fatalf("stream: event %s: %v", cur.id, err)
			}
			if err := schema.VisitJSON(v); err != nil {
				a.t.Errorf("stream: event %s does not match the Event schema: %v", cur.id, err)
			}
			out = append(out, cur)
			cur = sse{}
		}
	}
	a.t.Fatalf("stream ended without its end event: %v", sc.Err())
	return nil
}

var tokenRE = regexp.MustCompile(`admin token .*\(shown once[^)]*\): (chaos_pat_\S+)`)

// freeAddr is a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newListener listens on a free loopback port.
func newListener(t testing.TB) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
