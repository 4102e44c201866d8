package fleet

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// soulBoat is a boat an installed Soul provides (`soul: NAME`): chaos sends it boat.hosts with the
// entry's config and the secrets its manifest declares, nothing else, and reads the hosts back
// in the fleet.hosts shape, checked like any boat's document.
type soulBoat struct {
	spec  BoatSpec
	env   BoatEnv
	souls soul.Kinds
}

// soulHost is a host of a Soul boat in the fleet.hosts settings' spelling.
type soulHost struct {
	Address string         `json:"ssh_hostname,omitempty"`
	User    string         `json:"ssh_user,omitempty"`
	Port    int            `json:"ssh_port,omitempty"`
	Key     string         `json:"ssh_key,omitempty"`
	Become  bool           `json:"become,omitempty"`
	Groups  []string       `json:"groups,omitempty"`
	Vars    map[string]any `json:"vars,omitempty"`
}

func (b *soulBoat) Fetch(ctx context.Context) ([]byte, string, error) {
	name := b.spec.SoulBoat.Name
	params := soul.BoatParams{Boat: name, Config: json.RawMessage("{}")}
	if b.spec.Config != nil {
		var cfg any
		if err := b.spec.Config.Decode(&cfg); err != nil {
			return nil, "", fmt.Errorf("config: %w", err)
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			return nil, "", fmt.Errorf("config: %w", err)
		}
		params.Config = data
	}
	for _, key := range b.spec.SoulBoat.Secrets {
		v, err := b.env.secret(fmt.Sprintf("soul %s (declared in its %s)", b.spec.Soul, "soul.yaml"), key)
		if err != nil {
			return nil, "", err
		}
		if params.Secrets == nil {
			params.Secrets = map[string]string{}
		}
		params.Secrets[key] = v
	}
	var res soul.BoatResult
	if err := b.souls.Call(ctx, soul.KindBoat, name, soul.MethodBoatHosts, params, &res); err != nil {
		return nil, "", err
	}
	// A list of one-key mappings keeps the Soul's order of hosts.
	doc := make([]map[string]soulHost, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		doc = append(doc, map[string]soulHost{h.Name: {Address: h.Address, User: h.User, Port: h.Port, Key: h.Key,
			Become: h.Become, Groups: h.Groups, Vars: h.Vars}})
	}
	data, err := json.Marshal(map[string]any{"hosts": doc})
	if err != nil {
		return nil, "", err
	}
	return data, "json", nil
}
