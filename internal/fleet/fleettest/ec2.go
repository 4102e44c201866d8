// Package fleettest serves what fleet tests need and cannot reach: an emulation of the EC2 query API
// (DescribeInstances) for the ec2 boat, which signs its requests with aws-sdk-go-v2's SigV4 signer.
package fleettest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Instance is one EC2 instance of the emulation.
type Instance struct {
	ID, State                 string // State: running, stopped, ...
	PrivateIP, PublicIP       string
	PrivateDNS, PublicDNS     string
	InstanceType, Reservation string
	Tags                      map[string]string
}

// EC2 is an EC2 query-API server for DescribeInstances: form-encoded requests with Filter.N.Name /
// Filter.N.Value.M, MaxResults and NextToken; the real XML response shape, PageSize instances per
// page; SigV4 signatures checked against AccessKey/SecretKey; errors in EC2's XML error shape.
type EC2 struct {
	URL       string
	AccessKey string
	SecretKey string
	Region    string
	PageSize  int

	mu        sync.Mutex
	instances []Instance
	failCode  string
	requests  []url.Values
	authErrs  []string
}

// IsolateAWS keeps the developer's AWS configuration, credentials and the instance metadata service
// out of a test (environment restored when it ends).
func IsolateAWS(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

// StartEC2 serves the emulation until the test ends.
func StartEC2(t testing.TB, region, accessKey, secretKey string, instances ...Instance) *EC2 {
	t.Helper()
	e := &EC2{AccessKey: accessKey, SecretKey: secretKey, Region: region, PageSize: 2, instances: instances}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// Fail makes every later request fail with this EC2 error code ("" to stop failing).
func (e *EC2) Fail(code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failCode = code
}

// AuthErrors says why requests were refused with AuthFailure (EC2 itself never tells).
func (e *EC2) AuthErrors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.authErrs...)
}

// Requests returns the form values of every DescribeInstances request so far.
func (e *EC2) Requests() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.requests...)
}

type ec2Error struct {
	status        int
	code, message string
}

func (e *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := e.checkSignature(r, body); err != nil {
		e.mu.Lock()
		e.authErrs = append(e.authErrs, err.Error())
		e.mu.Unlock()
		writeError(w, ec2Error{http.StatusUnauthorized, "AuthFailure", authMessage})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		writeError(w, ec2Error{http.StatusBadRequest, "InvalidRequest", "The request received was invalid."})
		return
	}
	e.mu.Lock()
	e.requests = append(e.requests, form)
	fail := e.failCode
	instances := append([]Instance(nil), e.instances...)
	e.mu.Unlock()
	if fail != "" {
		msg := "Request failed: " + fail
		if fail == "AuthFailure" {
			msg = authMessage
		}
		writeError(w, ec2Error{http.StatusUnauthorized, fail, msg})
		return
	}
	if form.Get("Action") != "DescribeInstances" {
		writeError(w, ec2Error{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", form.Get("Action"))})
		return
	}
	if form.Get("Version") == "" {
		writeError(w, ec2Error{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version"})
		return
	}
	filters, ferr := parseFilters(form)
	if ferr != nil {
		writeError(w, *ferr)
		return
	}
	var match []Instance
	for _, in := range instances {
		ok := true
		for _, f := range filters {
			if !f.matches(in) {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, in)
		}
	}
	page := e.PageSize
	if m, err := strconv.Atoi(form.Get("MaxResults")); err == nil && m > 0 && m < page {
		page = m
	}
	start := 0
	if tok := form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || n < 0 || n > len(match) {
			writeError(w, ec2Error{http.StatusBadRequest, "InvalidParameterValue", "The value supplied for NextToken is not valid."})
			return
		}
		start = n
	}
	end := min(start+page, len(match))
	next := ""
	if end < len(match) {
		next = fmt.Sprintf("page-%d", end)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write(describeXML(match[start:end], next))
}

// checkSignature recomputes the SigV4 signature over the headers the client signed.
func (e *EC2) checkSignature(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	m := regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/ec2/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`).FindStringSubmatch(auth)
	if m == nil {
		return fmt.Errorf("malformed Authorization %q", auth)
	}
	if m[1] != e.AccessKey {
		return fmt.Errorf("unknown access key %s", m[1])
	}
	if m[3] != e.Region {
		return fmt.Errorf("signed for region %s, not %s", m[3], e.Region)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date: %v", err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	req.Host = r.Host
	for _, h := range strings.Split(m[4], ";") {
		if h != "host" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: e.AccessKey, SecretAccessKey: e.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", e.Region, when); err != nil {
		return err
	}
	want := regexp.MustCompile(`Signature=([0-9a-f]{64})`).FindStringSubmatch(req.Header.Get("Authorization"))
	if want == nil || want[1] != m[5] {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

type filter struct {
	name   string
	values []string
}

var knownFilters = regexp.MustCompile(`^(tag:.+|tag-key|instance-state-name|instance-id|instance-type|private-ip-address|ip-address|reservation-id)$`)

func parseFilters(form url.Values) ([]filter, *ec2Error) {
	byN := map[int]*filter{}
	for k, vs := range form {
		if !strings.HasPrefix(k, "Filter.") {
			continue
		}
		parts := strings.SplitN(k, ".", 4)
		n, err := strconv.Atoi(parts[1])
		if err != nil || len(parts) < 3 {
			return nil, &ec2Error{http.StatusBadRequest, "InvalidParameterValue", "bad parameter " + k}
		}
		f := byN[n]
		if f == nil {
			f = &filter{}
			byN[n] = f
		}
		switch {
		case len(parts) == 3 && parts[2] == "Name":
			f.name = vs[0]
		case len(parts) == 4 && parts[2] == "Value":
			i, err := strconv.Atoi(parts[3])
			if err != nil || i < 1 {
				return nil, &ec2Error{http.StatusBadRequest, "InvalidParameterValue", "bad parameter " + k}
			}
			for len(f.values) < i {
				f.values = append(f.values, "")
			}
			f.values[i-1] = vs[0]
		default:
			return nil, &ec2Error{http.StatusBadRequest, "InvalidParameterValue", "bad parameter " + k}
		}
	}
	ns := slices.Sorted(maps.Keys(byN))
	var out []filter
	for _, n := range ns {
		f := byN[n]
		if !knownFilters.MatchString(f.name) {
			return nil, &ec2Error{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name)}
		}
		out = append(out, *f)
	}
	return out, nil
}

// matches: any value matches (with EC2's * and ? wildcards); filters are ANDed by the caller.
func (f filter) matches(in Instance) bool {
	var have []string
	switch {
	case strings.HasPrefix(f.name, "tag:"):
		if v, ok := in.Tags[strings.TrimPrefix(f.name, "tag:")]; ok {
			have = []string{v}
		}
	case f.name == "tag-key":
		for k := range in.Tags {
			have = append(have, k)
		}
	case f.name == "instance-state-name":
		have = []string{in.State}
	case f.name == "instance-id":
		have = []string{in.ID}
	case f.name == "instance-type":
		have = []string{in.InstanceType}
	case f.name == "private-ip-address":
		have = []string{in.PrivateIP}
	case f.name == "ip-address":
		have = []string{in.PublicIP}
	case f.name == "reservation-id":
		have = []string{in.Reservation}
	}
	for _, want := range f.values {
		for _, h := range have {
			if ok, _ := path.Match(want, h); ok {
				return true
			}
		}
	}
	return false
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func describeXML(instances []Instance, next string) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	opt := func(tag, v string) {
		if v != "" {
			fmt.Fprintf(&b, "<%s>%s</%s>", tag, esc(v), tag)
		}
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>8f7724cf-496f-496e-8fe3-example</requestId><reservationSet>`)
	// One reservation per distinct reservation ID, in order of first appearance.
	var order []string
	groups := map[string][]Instance{}
	for _, in := range instances {
		r := cmp.Or(in.Reservation, "r-"+strings.TrimPrefix(in.ID, "i-"))
		if groups[r] == nil {
			order = append(order, r)
		}
		groups[r] = append(groups[r], in)
	}
	for _, r := range order {
		fmt.Fprintf(&b, "<item><reservationId>%s</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>", esc(r))
		for _, in := range groups[r] {
			b.WriteString("<item>")
			opt("instanceId", in.ID)
			opt("imageId", "ami-0abcdef1234567890")
			fmt.Fprintf(&b, "<instanceState><code>%d</code><name>%s</name></instanceState>", stateCodes[in.State], esc(in.State))
			opt("privateDnsName", in.PrivateDNS)
			opt("dnsName", in.PublicDNS)
			opt("instanceType", in.InstanceType)
			opt("privateIpAddress", in.PrivateIP)
			opt("ipAddress", in.PublicIP)
			if len(in.Tags) > 0 {
				b.WriteString("<tagSet>")
				keys := slices.Sorted(maps.Keys(in.Tags))
				for _, k := range keys {
					fmt.Fprintf(&b, "<item><key>%s</key><value>%s</value></item>", esc(k), esc(in.Tags[k]))
				}
				b.WriteString("</tagSet>")
			}
			b.WriteString("</item>")
		}
		b.WriteString("</instancesSet></item>")
	}
	b.WriteString("</reservationSet>")
	opt("nextToken", next)
	b.WriteString("</DescribeInstancesResponse>\n")
	return b.Bytes()
}

const authMessage = "AWS was not able to validate the provided access credentials"

func writeError(w http.ResponseWriter, e ec2Error) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(e.message))
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, e.code, msg.String())
}
