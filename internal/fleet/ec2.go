package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"go.yaml.in/yaml/v3"
)

// ec2Boat lists EC2 instances with DescribeInstances (ec2query.go), following NextToken pages.
type ec2Boat struct {
	region, endpoint, profile string
	creds                     aws.CredentialsProvider // nil: the SDK's default chain
	filters                   []types.Filter
	address                   []string // preference order
	nameTag                   string
	groupBy                   []string
	defaults                  map[string]any // host settings every instance gets (ssh_user, ...)
}

var ec2Keys = []string{"region", "endpoint", "profile", "access_key_id", "secret_access_key", "session_token",
	"filters", "tags", "states", "address", "name_tag", "group_by_tag",
	"ssh_user", "ssh_port", "ssh_key", "become", "become_password"}

var ec2Addresses = []string{"private_ip", "public_ip", "private_dns", "public_dns", "ipv6"}

func newEC2Boat(cfg *yaml.Node, env BoatEnv) (Boat, error) {
	b := &ec2Boat{address: []string{"private_ip"}, nameTag: "Name", defaults: map[string]any{}}
	if cfg == nil {
		return b, nil
	}
	if cfg.Kind != yaml.MappingNode {
		return nil, errors.New("ec2: config must be a mapping")
	}
	states := []string{"running"}
	var keyID, secretKey, token string
	for i := 0; i+1 < len(cfg.Content); i += 2 {
		k, v := cfg.Content[i], cfg.Content[i+1]
		what := "ec2: config." + k.Value
		var err error
		switch k.Value {
		case "region":
			err = v.Decode(&b.region)
		case "endpoint":
			err = v.Decode(&b.endpoint)
			if err == nil && !strings.HasPrefix(b.endpoint, "http://") && !strings.HasPrefix(b.endpoint, "https://") {
				err = fmt.Errorf("must be an http(s) URL, got %q", b.endpoint)
			}
		case "profile":
			err = v.Decode(&b.profile)
		case "access_key_id", "secret_access_key", "session_token":
			var p, val string
			if p, err = SecretRef(v, what); err == nil {
				if val, err = env.secret(what, p); err != nil {
					return nil, fmt.Errorf("ec2: %w", err)
				}
			}
			switch k.Value {
			case "access_key_id":
				keyID = val
			case "secret_access_key":
				secretKey = val
			default:
				token = val
			}
		case "filters":
			var m map[string]stringList
			if err = v.Decode(&m); err == nil {
				for _, name := range slices.Sorted(maps.Keys(m)) {
					b.filters = append(b.filters, types.Filter{Name: aws.String(name), Values: m[name]})
				}
			}
		case "tags":
			var m map[string]stringList
			if err = v.Decode(&m); err == nil {
				for _, name := range slices.Sorted(maps.Keys(m)) {
					b.filters = append(b.filters, types.Filter{Name: aws.String("tag:" + name), Values: m[name]})
				}
			}
		case "states":
			var l stringList
			err = v.Decode(&l)
			states = l
		case "address":
			var l stringList
			if err = v.Decode(&l); err == nil {
				for _, a := range l {
					if !slices.Contains(ec2Addresses, a) {
						err = fmt.Errorf("unknown address %q (known: %s)", a, strings.Join(ec2Addresses, ", "))
					}
				}
				if len(l) == 0 {
					err = errors.New("name at least one address kind")
				}
				b.address = l
			}
		case "name_tag":
			err = v.Decode(&b.nameTag)
		case "group_by_tag":
			var l stringList
			err = v.Decode(&l)
			b.groupBy = l
		case "ssh_user", "ssh_key":
			var s string
			err = v.Decode(&s)
			b.defaults[k.Value] = s
		case "ssh_port":
			var n int
			err = v.Decode(&n)
			b.defaults[k.Value] = n
		case "become":
			var t bool
			err = v.Decode(&t)
			b.defaults[k.Value] = t
		case "become_password":
			var p string
			p, err = SecretRef(v, what)
			b.defaults[k.Value] = map[string]string{"secret": p}
		default:
			return nil, fmt.Errorf("ec2: unknown config key %q (known: %s)", k.Value, strings.Join(ec2Keys, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
	}
	if (keyID == "") != (secretKey == "") {
		return nil, errors.New("ec2: config.access_key_id and config.secret_access_key go together")
	}
	if keyID != "" {
		b.creds = credentials.NewStaticCredentialsProvider(keyID, secretKey, token)
	}
	hasState := slices.ContainsFunc(b.filters, func(f types.Filter) bool { return *f.Name == "instance-state-name" })
	if !hasState && len(states) > 0 {
		b.filters = append(b.filters, types.Filter{Name: aws.String("instance-state-name"), Values: states})
	}
	return b, nil
}

// stringList decodes a scalar or a list of scalars.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = s
	return nil
}

func (b *ec2Boat) Fetch(ctx context.Context) ([]byte, string, error) {
	var opts []func(*config.LoadOptions) error
	if b.region != "" {
		opts = append(opts, config.WithRegion(b.region))
	}
	if b.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(b.profile))
	}
	if b.creds != nil {
		opts = append(opts, config.WithCredentialsProvider(b.creds))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("ec2: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, "", errors.New("ec2: no region: set config.region (or AWS_REGION, or a profile's region)")
	}
	instances, err := describeInstances(ctx, cfg, b.endpoint, b.filters)
	if err != nil {
		return nil, "", ec2Error(cfg.Region, err)
	}
	doc, err := b.document(instances)
	if err != nil {
		return nil, "", err
	}
	return doc, "json", nil
}

// ec2Error makes the SDK's error say what to check.
func ec2Error(region string, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return fmt.Errorf("ec2: DescribeInstances in %s: %w", region, err)
	}
	msg := fmt.Sprintf("ec2: DescribeInstances in %s: %s: %s", region, api.ErrorCode(), api.ErrorMessage())
	switch api.ErrorCode() {
	case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException":
		msg += " (check the credentials: config.access_key_id/secret_access_key secrets, or AWS_ACCESS_KEY_ID, a profile, an instance role)"
	case "UnauthorizedOperation":
		msg += " (the credentials lack ec2:DescribeInstances)"
	}
	return errors.New(msg)
}

// document turns instances into the fleet's own host list. Host names come from the name tag (the
// instance ID when absent), made safe for host names; names two instances share get the instance
// ID appended, so no instance shadows another.
func (b *ec2Boat) document(instances []types.Instance) ([]byte, error) {
	name := func(in types.Instance) string {
		if v := sanitizeName(tag(in, b.nameTag)); v != "" {
			return v
		}
		return aws.ToString(in.InstanceId)
	}
	count := map[string]int{}
	for _, in := range instances {
		count[name(in)]++
	}
	hosts := make([]map[string]any, 0, len(instances))
	for _, in := range instances {
		id := aws.ToString(in.InstanceId)
		n := name(in)
		if count[n] > 1 && n != id {
			n += "-" + id
		}
		addr := ""
		for _, kind := range b.address {
			if addr = ec2Address(in, kind); addr != "" {
				break
			}
		}
		if addr == "" {
			return nil, fmt.Errorf("ec2: instance %s (%s) has no %s address (address: lists the kinds to try in order)", id, n, strings.Join(b.address, " or "))
		}
		settings := map[string]any{"ssh_hostname": addr}
		for k, v := range b.defaults {
			settings[k] = v
		}
		var groups []string
		for _, key := range b.groupBy {
			if v := tag(in, key); v != "" {
				if g := sanitizeGroup(v); g != "" && !slices.Contains(groups, g) {
					groups = append(groups, g)
				}
			}
		}
		if len(groups) > 0 {
			settings["groups"] = groups
		}
		hosts = append(hosts, map[string]any{n: settings})
	}
	return json.Marshal(map[string]any{"hosts": hosts})
}

func tag(in types.Instance, key string) string {
	for _, t := range in.Tags {
		if aws.ToString(t.Key) == key {
			return strings.TrimSpace(aws.ToString(t.Value))
		}
	}
	return ""
}

func ec2Address(in types.Instance, kind string) string {
	switch kind {
	case "private_ip":
		return aws.ToString(in.PrivateIpAddress)
	case "public_ip":
		return aws.ToString(in.PublicIpAddress)
	case "private_dns":
		return aws.ToString(in.PrivateDnsName)
	case "public_dns":
		return aws.ToString(in.PublicDnsName)
	case "ipv6":
		return aws.ToString(in.Ipv6Address)
	}
	return ""
}

// sanitizeName maps a tag value to a valid host name: runs of other characters become '-'.
func sanitizeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// sanitizeGroup is sanitizeName for group names, which must not be "all".
func sanitizeGroup(s string) string {
	g := sanitizeName(s)
	if g == "all" {
		return "all_"
	}
	return g
}
