package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// describeInstances calls EC2's DescribeInstances on the query API (a signed form POST, an XML
// answer), following NextToken pages. It uses the SDK's configuration, credential chain, HTTP
// client and SigV4 signer, but not the generated service/ec2 client: that package holds every EC2
// operation, about 20 MB of code, a third of the chaos binary, for this one call (issue 16).
func describeInstances(ctx context.Context, cfg aws.Config, endpoint string, filters []types.Filter) ([]types.Instance, error) {
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // AWS_ENDPOINT_URL or a profile's endpoint_url
	}
	if endpoint == "" {
		endpoint = "https://ec2." + cfg.Region + ".amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			endpoint += ".cn"
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "MaxResults": {"1000"}}
	for i, f := range filters {
		form.Set(fmt.Sprintf("Filter.%d.Name", i+1), aws.ToString(f.Name))
		for j, v := range f.Values {
			form.Set(fmt.Sprintf("Filter.%d.Value.%d", i+1, j+1), v)
		}
	}
	var out []types.Instance
	for {
		page, err := describePage(ctx, cfg, hc, endpoint, form.Encode())
		if err != nil {
			return nil, err
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				out = append(out, in.instance())
			}
		}
		if page.NextToken == "" {
			return out, nil
		}
		form.Set("NextToken", page.NextToken)
	}
}

type describeResponse struct {
	Reservations []struct {
		Instances []xmlInstance `xml:"instancesSet>item"`
	} `xml:"reservationSet>item"`
	NextToken string `xml:"nextToken"`
}

type xmlInstance struct {
	InstanceID     string `xml:"instanceId"`
	PrivateDNSName string `xml:"privateDnsName"`
	DNSName        string `xml:"dnsName"`
	PrivateIP      string `xml:"privateIpAddress"`
	PublicIP       string `xml:"ipAddress"`
	IPv6           string `xml:"ipv6Address"`
	Tags           []struct {
		Key   string `xml:"key"`
		Value string `xml:"value"`
	} `xml:"tagSet>item"`
}

// instance is the SDK's shape of the fields the boat reads (absent fields stay nil, as the SDK
// leaves them).
func (x xmlInstance) instance() types.Instance {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	in := types.Instance{InstanceId: opt(x.InstanceID), PrivateDnsName: opt(x.PrivateDNSName),
		PublicDnsName: opt(x.DNSName), PrivateIpAddress: opt(x.PrivateIP), PublicIpAddress: opt(x.PublicIP),
		Ipv6Address: opt(x.IPv6)}
	for _, t := range x.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return in
}

type xmlErrors struct {
	Errors []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
}

// describePage sends one signed request, retrying throttling and server errors as the SDK's
// standard retryer does (3 attempts, backoff).
func describePage(ctx context.Context, cfg aws.Config, hc aws.HTTPClient, endpoint, body string) (*describeResponse, error) {
	sum := sha256.Sum256([]byte(body))
	for attempt := 1; ; attempt++ {
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("AWS credentials: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", cfg.Region, time.Now().UTC()); err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			if attempt < 3 && ctx.Err() == nil {
				sleep(ctx, attempt)
				continue
			}
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 {
			var page describeResponse
			if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&page); err != nil {
				return nil, fmt.Errorf("DescribeInstances answer: %w", err)
			}
			return &page, nil
		}
		var e xmlErrors
		if xml.Unmarshal(data, &e) != nil || len(e.Errors) == 0 {
			return nil, fmt.Errorf("HTTP %d from %s", resp.StatusCode, endpoint)
		}
		code := e.Errors[0].Code
		retry := resp.StatusCode >= 500 || code == "RequestLimitExceeded" || code == "Throttling" || code == "ThrottlingException"
		if retry && attempt < 3 {
			sleep(ctx, attempt)
			continue
		}
		return nil, &smithy.GenericAPIError{Code: code, Message: e.Errors[0].Message}
	}
}

func sleep(ctx context.Context, attempt int) {
	t := time.NewTimer(time.Duration(attempt*attempt) * 200 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
