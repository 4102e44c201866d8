package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func (a *app) initCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "init", Short: "Create a Ch-obolo"}
	var from, out, core string
	ch := &cobra.Command{
		Use:     "chobolo",
		Aliases: []string{"c", "ch"},
		Short:   "Print a commented Ch-obolo template, or capture a target as it is (--from)",
		Example: `  chaos init chobolo > machine.yml
  chaos init chobolo --from @local -o machine.yml
  chaos init chobolo --from @chroot/mnt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			text := chobolo.Boilerplate() + a.soulBoilerplate()
			if from != "" {
				var err error
				if text, err = a.capture(cmd.Context(), from, core); err != nil {
					return err
				}
			}
			if out == "" || out == "-" {
				_, err := fmt.Fprint(a.stdout, text)
				return err
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("init: %s exists; not overwriting", out)
			}
			if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			fmt.Fprintf(a.stderr, "wrote %s\n", out)
			return nil
		},
	}
	ch.Flags().StringVar(&from, "from", "", "capture this target (@local, @chroot/PATH, [user@]host[:port]) as it is now")
	ch.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of stdout (never overwrites)")
	ch.Flags().StringVar(&core, "core", "", "force the core: debian, arch or fedora")
	cmd.AddCommand(ch)
	return cmd
}

func (a *app) capture(ctx context.Context, spec, core string) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := a.openTarget(ctx, spec, true)
	if err != nil {
		return "", err
	}
	defer t.Close()
	ctl, err := a.controller(nil)
	if err != nil {
		return "", err
	}
	c, err := ctl.Capture(ctx, t, core)
	if err != nil {
		return "", err
	}
	data, err := MarshalChobolo(c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("# Captured from %s by `chaos init chobolo --from`.\n# Applying it unchanged changes nothing; edit it to make changes.\n", t.Name()) +
		string(data), nil
}

// MarshalChobolo writes a Ch-obolo as YAML in its short, hand-written form: plain names where an
// entry has nothing but a name, defaults left out.
func MarshalChobolo(c *chobolo.Chobolo) ([]byte, error) {
	doc := mapping()
	if c.Core != "" {
		put(doc, "core", scalar(c.Core))
	}
	if c.Hostname != "" {
		put(doc, "hostname", scalar(c.Hostname))
	}
	if len(c.Users) > 0 {
		seq := sequence()
		for _, u := range c.Users {
			m := mapping()
			put(m, "name", scalar(u.Name))
			putStr(m, "shell", u.Shell)
			putStr(m, "home", u.Home)
			if len(u.Groups) > 0 {
				put(m, "groups", flowList(u.Groups))
			}
			putBool(m, "sudo", u.Sudo)
			if u.UID != nil {
				put(m, "uid", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*u.UID)})
			}
			putBool(m, "system", u.System)
			seq.Content = append(seq.Content, m)
		}
		put(doc, "users", seq)
	}
	for _, pk := range []struct {
		key  string
		list []chobolo.Package
	}{{"baseOverride", c.BaseOverride}, {"packages", c.Packages}} {
		if len(pk.list) == 0 {
			continue
		}
		seq := sequence()
		for _, p := range pk.list {
			if len(p.Overrides) == 0 {
				seq.Content = append(seq.Content, scalar(p.Name))
				continue
			}
			m := mapping()
			m.Style = yaml.FlowStyle
			put(m, "name", scalar(p.Name))
			cores := slices.Sorted(maps.Keys(p.Overrides))
			for _, k := range cores {
				put(m, k, flowList(p.Overrides[k]))
			}
			seq.Content = append(seq.Content, m)
		}
		put(doc, pk.key, seq)
	}
	if len(c.Repos.Apt) > 0 {
		seq := sequence()
		for _, r := range c.Repos.Apt {
			m := mapping()
			put(m, "name", scalar(r.Name))
			if len(r.Types) > 0 {
				put(m, "types", flowList(r.Types))
			}
			put(m, "uris", flowList(r.URIs))
			put(m, "suites", flowList(r.Suites))
			if len(r.Components) > 0 {
				put(m, "components", flowList(r.Components))
			}
			if len(r.Architectures) > 0 {
				put(m, "architectures", flowList(r.Architectures))
			}
			putStr(m, "key", r.Key)
			putBool(m, "trusted", r.Trusted)
			seq.Content = append(seq.Content, m)
		}
		repos := mapping()
		put(repos, "apt", seq)
		put(doc, "repos", repos)
	}
	if len(c.Services) > 0 {
		seq := sequence()
		for _, s := range c.Services {
			m := mapping()
			put(m, "name", scalar(s.Name))
			if !s.WantOnBoot() {
				putBoolAlways(m, "on_boot", false)
			}
			if !s.WantRunning() {
				putBoolAlways(m, "running", false)
			}
			putBool(m, "dense_service", s.Dense)
			seq.Content = append(seq.Content, m)
		}
		put(doc, "services", seq)
	}
	if r := c.Region; r.Timezone != "" || len(r.Locales) > 0 || r.Keymap != "" || r.NTP != nil {
		m := mapping()
		putStr(m, "timezone", r.Timezone)
		if len(r.Locales) > 0 {
			put(m, "locale", flowList(r.Locales))
		}
		putStr(m, "keymap", r.Keymap)
		if r.NTP != nil {
			putBoolAlways(m, "ntp", *r.NTP)
		}
		put(doc, "region", m)
	}
	if len(c.Files) > 0 {
		seq := sequence()
		for _, f := range c.Files {
			m := mapping()
			put(m, "path", scalar(f.Path))
			putStr(m, "state", f.State)
			putStr(m, "content", f.Content)
			putStr(m, "target", f.Target)
			putStr(m, "mode", f.Mode)
			putStr(m, "owner", f.Owner)
			putStr(m, "group", f.Group)
			seq.Content = append(seq.Content, m)
		}
		put(doc, "files", seq)
	}
	return yaml.Marshal(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}})
}

func mapping() *yaml.Node  { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }
func sequence() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"} }

func scalar(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if len(s) > 0 && s[len(s)-1] == '\n' {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func flowList(items []string) *yaml.Node {
	n := sequence()
	n.Style = yaml.FlowStyle
	for _, it := range items {
		n.Content = append(n.Content, scalar(it))
	}
	return n
}

func put(m *yaml.Node, key string, v *yaml.Node) { m.Content = append(m.Content, scalar(key), v) }

func putStr(m *yaml.Node, key, v string) {
	if v != "" {
		put(m, key, scalar(v))
	}
}

func putBool(m *yaml.Node, key string, v bool) {
	if v {
		putBoolAlways(m, key, v)
	}
}

func putBoolAlways(m *yaml.Node, key string, v bool) {
	put(m, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)})
}
