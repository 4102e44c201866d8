package cli

import (
	"cmp"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/team"
)

// Shell completion is cobra's own (`chaos completion bash|zsh|fish|powershell` prints the script,
// which calls the hidden `chaos __complete ARGS...`); these functions add chaos's names to it: role
// names and aliases (built-in and config.yml's), explain topics, --target forms and the fleet's
// hosts. They never fail and never print: a completion that cannot load something offers less.

// registerCompletions wires the completion functions into every command that takes these
// arguments or flags, so a new command with a --target flag gets them too.
func (a *app) registerCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("chobolo", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"yml", "yaml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, fn := range map[string]cobra.CompletionFunc{
			"target": a.completeTarget,
			"from":   a.completeTarget,
			"core":   cobra.FixedCompletions([]cobra.Completion{"debian", "arch", "fedora"}, cobra.ShellCompDirectiveNoFileComp),
			"details": cobra.FixedCompletions([]cobra.Completion{"basic", "intermediate", "advanced"},
				cobra.ShellCompDirectiveNoFileComp),
		} {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		// -t of the secrets and ramble commands (a persistent flag of their parent) and of apply.
		if c.Flags().Lookup("team") != nil || c.PersistentFlags().Lookup("team") != nil {
			_ = c.RegisterFlagCompletionFunc("team", completeTeam)
		}
		// --limit of apply and fleet list picks hosts (logbook's --limit is a count).
		if f := c.Flags().Lookup("limit"); f != nil && f.Value.Type() == "string" {
			_ = c.RegisterFlagCompletionFunc("limit", a.completeLimit)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeRoles completes `apply [ROLES...]`: role names and aliases, yours included, each once
// (a role has one implementation per core; the first one's summary describes it).
func (a *app) completeRoles(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	seen := map[string]bool{}
	add := func(name, desc string) {
		if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) && !seen[name] {
			seen[name] = true
			out = append(out, cobra.CompletionWithDesc(name, desc))
		}
	}
	for _, r := range a.registry.All() {
		m := r.Meta()
		add(m.Name, m.Summary)
		for _, al := range m.Aliases {
			add(al, "alias of "+m.Name)
		}
	}
	if tags, _, err := a.tagAliases(); err == nil {
		for _, al := range slices.Sorted(maps.Keys(tags)) {
			add(al, "alias: "+tags[al])
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTopics completes `explain TOPIC[.SUB]`: topics, and after "TOPIC." its subtopics and
// TOPIC.list.
func (a *app) completeTopics(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	lib, err := a.library()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	if topic, _, ok := strings.Cut(toComplete, "."); ok {
		name := topic
		if c := a.registry.Canonical(topic); c != "" {
			name = c
		}
		if t, ok := lib[name]; ok {
			for _, s := range append(t.SectionNames(), "list") {
				if full := topic + "." + s; strings.HasPrefix(full, toComplete) {
					out = append(out, full)
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	for _, n := range lib.Names() {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTarget completes --target (and init --from): the forms, the directories after @chroot/,
// and the hosts of the Ch-obolo's fleet section (static hosts only: boats would run commands).
func (a *app) completeTarget(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if dir, ok := strings.CutPrefix(toComplete, "@chroot"); ok && strings.HasPrefix(dir, "/") {
		return chrootDirs(dir), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
	out := []cobra.Completion{
		cobra.CompletionWithDesc("@local", "this machine"),
		cobra.CompletionWithDesc("@chroot/", "a root file system in a directory"),
		cobra.CompletionWithDesc("@pid/", "the root of a running process (a container)"),
		cobra.CompletionWithDesc("@podman/", "a running podman container (podman exec)"),
		cobra.CompletionWithDesc("@docker/", "a running docker container (docker exec)"),
		cobra.CompletionWithDesc("@dockerssh/", "a docker container on an SSH host: @dockerssh/HOST/NAME"),
		cobra.CompletionWithDesc("@vagrant/", "a Vagrant machine (vagrant ssh-config), over SSH"),
		cobra.CompletionWithDesc("@terraform/", "the hosts of a terraform output: @terraform/DIR[:OUTPUT]"),
	}
	for _, s := range a.souls.List() {
		for _, c := range s.Manifest.Connectors {
			out = append(out, cobra.CompletionWithDesc("@"+c.Name+"/", cmp.Or(c.Summary, "a connector of the Soul "+s.Manifest.Name)))
		}
	}
	for _, engine := range []string{"podman", "docker"} {
		if strings.HasPrefix(toComplete, "@"+engine+"/") {
			out = append(out, runningContainers(engine)...)
		}
	}
	if inv := a.completionFleet(); inv != nil {
		for _, h := range inv.Hosts {
			if !slices.ContainsFunc(out, func(c cobra.Completion) bool { return strings.HasPrefix(c, h.Name+"\t") }) {
				out = append(out, cobra.CompletionWithDesc(h.Name, "fleet host"))
			}
		}
	}
	out = slices.DeleteFunc(out, func(c cobra.Completion) bool { return !strings.HasPrefix(c, toComplete) })
	dir := cobra.ShellCompDirectiveNoFileComp
	if len(out) == 1 && strings.HasSuffix(strings.SplitN(out[0], "\t", 2)[0], "/") {
		dir |= cobra.ShellCompDirectiveNoSpace // @chroot/ and @pid/ go on
	}
	return out, dir
}

// runningContainers lists @ENGINE/NAME for the running containers of engine (none when it is not
// installed or fails).
func runningContainers(engine string) []cobra.Completion {
	if _, err := exec.LookPath(engine); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	data, err := exec.CommandContext(ctx, engine, "ps", "--format", "{{.Names}}").Output()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, n := range strings.Fields(string(data)) {
		out = append(out, cobra.CompletionWithDesc("@"+engine+"/"+n, "running container"))
	}
	return out
}

// chrootDirs lists the directories that complete dir (a path after @chroot).
func chrootDirs(dir string) []cobra.Completion {
	parent, base := filepath.Split(dir)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base) || (strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		if st, err := os.Stat(filepath.Join(parent, e.Name())); err == nil && st.IsDir() {
			out = append(out, "@chroot"+parent+e.Name()+"/")
		}
	}
	return out
}

// completeLimit completes --limit: host and group names, after the last comma of a list and after
// a leading ! or &.
func (a *app) completeLimit(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	inv := a.completionFleet()
	if inv == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	head := toComplete[:strings.LastIndex(toComplete, ",")+1]
	word := toComplete[len(head):]
	if len(word) > 0 && (word[0] == '!' || word[0] == '&') {
		head, word = head+word[:1], word[1:]
	}
	var names []string
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	for _, g := range inv.Groups {
		names = append(names, g.Name)
	}
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, word) && !slices.Contains(out, head+n) {
			out = append(out, head+n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completionFleet is the static inventory of the Ch-obolo (-c, else the configured one), or nil.
// Warnings and errors are dropped: a completion prints nothing but candidates.
func (a *app) completionFleet() *fleet.Fleet {
	path, err := a.choboloPath()
	if err != nil {
		return nil
	}
	c, err := chobolo.Load(path, a.loadOptions())
	if err != nil {
		return nil
	}
	inv, err := fleet.Decode(c, a.registry.Canonical, a.souls)
	if err != nil {
		return nil
	}
	return inv
}

// completeTeam completes -t: the active teams, COMPANY.TEAM, with their secrets groups and people
// (COMPANY.TEAM.GROUP, COMPANY.TEAM.PERSON).
func completeTeam(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	act, _ := team.List()
	var out []cobra.Completion
	for _, x := range act {
		if x.Dangling {
			continue
		}
		name := x.Company + "." + x.Team
		out = append(out, name)
		for _, sub := range []string{"secrets", "ramblings"} {
			entries, _ := os.ReadDir(filepath.Join(x.Target, sub))
			for _, e := range entries {
				if e.IsDir() && team.CheckName(sub, e.Name()) == nil {
					out = append(out, name+"."+e.Name())
				}
			}
		}
	}
	out = slices.DeleteFunc(out, func(c cobra.Completion) bool { return !strings.HasPrefix(c, toComplete) })
	return out, cobra.ShellCompDirectiveNoFileComp
}
