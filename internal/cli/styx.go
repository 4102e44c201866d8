package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/datadir"
	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/internal/styx"
)

// styxFlags are the flags every styx command shares.
type styxFlags struct {
	registry      string
	allowUnsigned bool
}

func (a *app) styxCmd() *cobra.Command {
	f := &styxFlags{}
	cmd := &cobra.Command{
		Use:   "styx",
		Short: "The registry of Souls and Ch-obolo bundles: list, search, invoke, publish, lock, site",
		Long: `Styx is a signed index (a git repository holding registry.yaml and its signature) of Souls and
Ch-obolo bundles. Artifacts are signed by their publishers (SSH signatures, ed25519), whose keys are
pinned on first use in config.yml; the index is signed by its maintainers, whose key chaos ships.

The index URL is --registry, else $CHAOS_STYX_REGISTRY, else styx.registry in config.yml, else the
official index. See docs/styx.md.`,
	}
	cmd.PersistentFlags().StringVar(&f.registry, "registry", "", "index URL (a git repository, or a registry.yaml URL)")
	cmd.AddCommand(a.styxListCmd(f), a.styxSearchCmd(f), a.styxInfoCmd(f), a.styxInvokeCmd(f), a.styxDestroyCmd(f),
		a.styxUpdateCmd(f), a.styxVerifyCmd(f), a.styxLockCmd(f), a.styxPublishCmd(), a.styxSignIndexCmd(),
		a.styxSiteCmd(f), a.styxServeCmd(f))
	return cmd
}

// configPins keeps publisher pins in config.yml.
type configPins struct{ cfg *config.Config }

func (p configPins) Pinned(publisher string) (string, bool) {
	k, ok := p.cfg.Styx.Publishers[publisher]
	return k, ok
}

func (p configPins) Pin(publisher, key string) error {
	if p.cfg.Styx.Publishers == nil {
		p.cfg.Styx.Publishers = map[string]string{}
	}
	p.cfg.Styx.Publishers[publisher] = key
	return p.cfg.Save()
}

// styxClient builds the client from the flags, the environment and config.yml.
func (a *app) styxClient(f *styxFlags) (*styx.Client, *config.Config, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	var keys []styx.PublicKey
	for _, k := range cfg.Styx.IndexKeys {
		pk, err := styx.ParsePublicKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("config %s: styx.index_keys: %w", cfg.Path, err)
		}
		keys = append(keys, pk)
	}
	dir, err := datadir.Path("styx")
	if err != nil {
		return nil, nil, err
	}
	c := styx.New(styx.Options{
		Registry:      cmp.Or(f.registry, os.Getenv(styx.RegistryEnv), cfg.Styx.Registry),
		IndexKeys:     keys,
		Dir:           dir,
		SoulDir:       souls.Paths()[0],
		Pins:          configPins{cfg},
		AllowUnsigned: f.allowUnsigned,
		ChaosVersion:  strings.Fields(versionString())[1],
	})
	return c, cfg, nil
}

func ctxOf(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}

// listed is an entry as list, search and info show it.
type listed struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Version   string   `json:"version"`
	About     string   `json:"about,omitempty"`
	Repo      string   `json:"repo,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Installed string   `json:"installed,omitempty"`
}

func listEntries(es []*styx.Entry, installed map[string]string) []listed {
	out := []listed{}
	for _, e := range es {
		l := listed{Name: e.Name, Kind: string(e.Kind), About: e.About, Repo: e.Repo, Tags: e.Tags, Installed: installed[e.Name]}
		if v := e.Latest(); v != nil {
			l.Version = v.Version
		}
		out = append(out, l)
	}
	return out
}

func (a *app) showEntries(asJSON bool, ls []listed) error {
	return a.reporter(asJSON).Show(ls, func(w io.Writer) error {
		if len(ls) == 0 {
			fmt.Fprintln(w, "no entries")
		}
		for _, l := range ls {
			inst := ""
			if l.Installed != "" {
				inst = "  [installed " + l.Installed + "]"
			}
			fmt.Fprintf(w, "%-28s %-8s %-10s %s%s\n", l.Name, l.Kind, l.Version, l.About, inst)
		}
		return nil
	})
}

func installedVersions(c *styx.Client) (map[string]string, error) {
	rs, err := c.Installed()
	out := map[string]string{}
	for _, r := range rs {
		out[r.Name] = strings.TrimPrefix(out[r.Name]+" "+r.Version, " ")
	}
	return out, err
}

func (a *app) styxListCmd(f *styxFlags) *cobra.Command {
	var asJSON, onlyInstalled bool
	var kind string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the index's entries (newest version that is not yanked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			ix, err := c.Index(ctxOf(cmd))
			if err != nil {
				return err
			}
			inst, err := installedVersions(c)
			if err != nil {
				return err
			}
			ls := listEntries(ix.Search("", styx.Kind(kind)), inst)
			if onlyInstalled {
				ls = filterInstalled(ls)
			}
			return a.showEntries(asJSON, ls)
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only soul, chobolo or wheel (the original's Python plugins)")
	cmd.Flags().BoolVar(&onlyInstalled, "installed", false, "only what is installed")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func filterInstalled(ls []listed) []listed {
	out := []listed{}
	for _, l := range ls {
		if l.Installed != "" {
			out = append(out, l)
		}
	}
	return out
}

func (a *app) styxSearchCmd(f *styxFlags) *cobra.Command {
	var asJSON bool
	var kind string
	cmd := &cobra.Command{
		Use:   "search TEXT",
		Short: "Search names, descriptions and tags, fuzzily, best match first",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			ix, err := c.Index(ctxOf(cmd))
			if err != nil {
				return err
			}
			inst, err := installedVersions(c)
			if err != nil {
				return err
			}
			return a.showEntries(asJSON, listEntries(ix.Search(strings.Join(args, " "), styx.Kind(kind)), inst))
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only soul, chobolo or wheel")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) styxInfoCmd(f *styxFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info NAME[@VERSION]",
		Short: "Show an entry: versions, hashes, requirements, the publisher key and whether it is pinned",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := a.styxClient(f)
			if err != nil {
				return err
			}
			ix, err := c.Index(ctxOf(cmd))
			if err != nil {
				return err
			}
			e, v, err := ix.Lookup(styx.SplitRef(args[0]))
			if err != nil {
				return err
			}
			versions := e.Versions
			if v != nil {
				versions = []*styx.Version{v}
			}
			info := struct {
				*styx.Entry
				Versions    []*styx.Version `json:"versions"`
				Fingerprint string          `json:"fingerprint,omitempty"`
				Trust       string          `json:"trust"`
				Installed   string          `json:"installed,omitempty"`
			}{Entry: e, Versions: versions}
			info.Trust = "unsigned"
			if e.Key != "" {
				k, err := styx.ParsePublicKey(e.Key)
				if err != nil {
					return err
				}
				info.Fingerprint = k.Fingerprint()
				pub := styx.Publisher(e.Name)
				switch pinned, ok := cfg.Styx.Publishers[pub]; {
				case !ok:
					info.Trust = "not pinned yet: pinned to this key on the first invoke"
				case pinned == k.String() || keyEqual(pinned, k):
					info.Trust = "pinned (" + pub + " in " + cmp.Or(cfg.Path, "config.yml") + ")"
				default:
					info.Trust = "CHANGED: the pinned key of " + pub + " is another one; invoke refuses this entry"
				}
			}
			inst, err := installedVersions(c)
			if err != nil {
				return err
			}
			info.Installed = inst[e.Name]
			return a.reporter(asJSON).Show(info, func(w io.Writer) error {
				fmt.Fprintf(w, "%s (%s)\n", e.Name, e.Kind)
				for _, kv := range [][2]string{{"about", e.About}, {"repo", e.Repo}, {"license", e.License},
					{"tags", strings.Join(e.Tags, ", ")}, {"installed", info.Installed}} {
					if kv[1] != "" {
						fmt.Fprintf(w, "%-10s %s\n", kv[0]+":", kv[1])
					}
				}
				if e.Key != "" {
					fmt.Fprintf(w, "%-10s %s\n%-10s %s\n", "key:", e.Key, "", info.Fingerprint)
				}
				fmt.Fprintf(w, "%-10s %s\n", "trust:", info.Trust)
				for _, v := range versions {
					fmt.Fprintf(w, "\n%s", v.Version)
					if v.Yanked != "" {
						fmt.Fprintf(w, "  YANKED: %s", v.Yanked)
					}
					fmt.Fprintln(w)
					for _, kv := range [][2]string{{"url", v.URL}, {"sha256", v.SHA256}, {"chaos", v.Chaos}} {
						if kv[1] != "" {
							fmt.Fprintf(w, "  %-8s %s\n", kv[0]+":", kv[1])
						}
					}
					for dep, rng := range v.Requires {
						fmt.Fprintf(w, "  requires %s %s\n", dep, rng)
					}
				}
				if e.Kind != styx.KindWheel {
					if l := e.Latest(); l != nil {
						fmt.Fprintf(w, "\ninstall: chaos styx invoke %s@%s\n", e.Name, l.Semver())
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func keyEqual(text string, k styx.PublicKey) bool {
	p, err := styx.ParsePublicKey(text)
	return err == nil && p.Equal(k)
}

// lockPath is styx.lock beside the Ch-obolo (-c or the configured default), or "" when there is no
// Ch-obolo.
func (a *app) lockPath() string {
	p, err := a.choboloPath()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(p), styx.LockFile)
}

// checkStyxLock refuses to apply when a Soul or bundle the lock beside the Ch-obolo pins is
// missing, at another version, or changed since it was locked.
func (a *app) checkStyxLock() error {
	p := a.lockPath()
	if p == "" {
		return nil
	}
	lock, err := styx.ReadLock(p)
	if err != nil || lock == nil {
		return err
	}
	var inst []styx.InstalledSoul
	for _, s := range a.souls.List() {
		inst = append(inst, styx.InstalledSoul{Name: s.Manifest.Name, Version: s.Manifest.Version, Dir: s.Dir})
	}
	bundles, err := chobolo.StyxBundleRoot()
	if err != nil {
		return err
	}
	if err := lock.Check(inst, bundles); err != nil {
		return fmt.Errorf("%w (chaos styx invoke installs the locked versions; chaos styx lock records what is installed)", err)
	}
	return nil
}

func (a *app) showResults(asJSON bool, res []styx.Result) error {
	if res == nil {
		res = []styx.Result{}
	}
	return a.reporter(asJSON).Show(res, func(w io.Writer) error {
		for _, r := range res {
			fmt.Fprintf(w, "%-30s %-8s %s  %s\n", r.Ref, r.Kind, r.Action, r.Path)
		}
		if len(res) == 0 {
			fmt.Fprintln(w, "nothing to do")
		}
		return nil
	})
}

func (a *app) styxInvokeCmd(f *styxFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invoke [NAME[@VERSION]]...",
		Short: "Install entries and what they require: Souls into the Soul path, bundles for imports",
		Long: `Invoke resolves the names (NAME, NAME@VERSION or NAME@RANGE) and what they require offline
from the index, checks each artifact's sha256, its publisher's signature and the publisher's pinned
key, unpacks it safely and switches to it atomically. Souls go into the first directory of the Soul
path; Ch-obolo bundles into ~/.local/share/chaos/styx/chobolos, for imports: [{styx: NAME@VERSION}].

With a styx.lock beside the Ch-obolo, locked entries get exactly their locked version and hash;
with no names, everything the lock pins is installed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			var lock *styx.Lock
			if p := a.lockPath(); p != "" {
				if lock, err = styx.ReadLock(p); err != nil {
					return err
				}
			}
			if len(args) == 0 && lock == nil {
				return errors.New("name what to invoke, or lock it first (no styx.lock beside the Ch-obolo)")
			}
			res, err := c.Invoke(ctxOf(cmd), args, lock)
			if serr := a.showResults(asJSON, res); serr != nil {
				return serr
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&f.allowUnsigned, "allow-unsigned", false, "install artifacts without a signature or hash: for local development only")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) styxDestroyCmd(f *styxFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "destroy NAME...",
		Short: "Remove entries Styx installed (never anything else)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			for _, name := range args {
				gone, err := c.Destroy(name)
				if err != nil {
					return err
				}
				for _, r := range gone {
					fmt.Fprintf(a.stdout, "removed %s (%s)\n", r.Ref(), r.Path)
				}
			}
			return nil
		},
	}
}

func (a *app) styxUpdateCmd(f *styxFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Fetch the index and move installed Souls to the newest allowed versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			res, err := c.Update(ctxOf(cmd))
			if serr := a.showResults(asJSON, res); serr != nil {
				return serr
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&f.allowUnsigned, "allow-unsigned", false, "install artifacts without a signature or hash: for local development only")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) styxVerifyCmd(f *styxFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-check every installed entry against what was installed; exit 1 on any difference",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			checks, err := c.Verify()
			if err != nil {
				return err
			}
			bad := 0
			for _, ch := range checks {
				if !ch.OK {
					bad++
				}
			}
			if checks == nil {
				checks = []styx.Check{}
			}
			if err := a.reporter(asJSON).Show(checks, func(w io.Writer) error {
				for _, ch := range checks {
					state := "ok"
					if !ch.OK {
						state = "FAILED"
					}
					fmt.Fprintf(w, "%-30s %s %s\n", ch.Ref, state, ch.Problem)
				}
				if len(checks) == 0 {
					fmt.Fprintln(w, "nothing installed")
				}
				return nil
			}); err != nil {
				return err
			}
			if bad > 0 {
				return ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

func (a *app) styxLockCmd(f *styxFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Write styx.lock beside the Ch-obolo: the exact versions and hashes installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			p := cmp.Or(out, a.lockPath())
			if p == "" {
				return errors.New("no Ch-obolo to lock beside: pass -c FILE or -o FILE")
			}
			l, err := c.Lock()
			if err != nil {
				return err
			}
			if err := l.Write(p); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %d entries locked\n", p, len(l.Entries))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the lock (default: styx.lock beside the Ch-obolo)")
	return cmd
}

func (a *app) styxPublishCmd() *cobra.Command {
	var key, url, out, index string
	cmd := &cobra.Command{
		Use:   "publish DIR|git+REPO#TAG",
		Short: "Pack a Soul or a Ch-obolo bundle reproducibly, sign it, and print its registry entry",
		Long: `Publish packs DIR (a Soul: soul.yaml; a Ch-obolo bundle: styx.yaml and chobolo.yml) into
NAME-VERSION.tar.gz, byte for byte the same on every run, signs it with --key (an ed25519 OpenSSH
private key without passphrase), and prints the entry to add to the index. With --index DIR (a clone
of the index repository) it adds the entry there and commits it.

Given git+REPO#TAG instead of DIR, the artifact is the tag's tree (fetched with go-git): nothing is
written or uploaded, the entry's URL is git+REPO#TAG, and invoke fetches the tag and checks that its
tree packs to the signed bytes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return errors.New("--key: the ed25519 private key to sign with (ssh-keygen -t ed25519)")
			}
			signer, err := styx.LoadSigner(key)
			if err != nil {
				return err
			}
			p, err := styx.Publish(ctxOf(cmd), args[0], out, url, signer)
			if err != nil {
				return err
			}
			entry, err := p.EntryYAML()
			if err != nil {
				return err
			}
			if p.File != "" {
				fmt.Fprintf(a.stderr, "wrote %s (sha256 %s); upload it to %s\n", p.File, p.Version.SHA256, p.Version.URL)
			} else {
				fmt.Fprintf(a.stderr, "signed the tree of %s (sha256 %s); nothing to upload\n", p.Version.URL, p.Version.SHA256)
			}
			if index != "" {
				commit, err := p.AddToIndex(index)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "added to %s in commit %s; the maintainers sign the index (chaos styx sign-index)\n", index, commit[:12])
			}
			_, err = io.WriteString(a.stdout, entry)
			return err
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "ed25519 private key (OpenSSH format, no passphrase)")
	cmd.Flags().StringVar(&url, "url", "", "where the artifact will be served (its URL is URL/NAME-VERSION.tar.gz)")
	cmd.Flags().StringVarP(&out, "output", "o", ".", "directory to write the artifact into")
	cmd.Flags().StringVar(&index, "index", "", "a local clone of the index: add the entry there and commit")
	return cmd
}

func (a *app) styxSignIndexCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "sign-index DIR",
		Short: "Sign an index repository's registry.yaml (maintainers) and commit the signature",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			signer, err := styx.LoadSigner(key)
			if err != nil {
				return err
			}
			commit, err := styx.SignIndex(args[0], signer)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "signed %s with %s (commit %s)\n", filepath.Join(args[0], styx.IndexFile), signer.Public().Fingerprint(), commit[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the index signing key (ed25519, OpenSSH format)")
	return cmd
}

func (a *app) styxSiteCmd(f *styxFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "site -o DIR",
		Short: "Render the index as a static website (pages, README, search), for any static host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o DIR: where to write the site")
			}
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			ix, err := c.Index(ctxOf(cmd))
			if err != nil {
				return err
			}
			if err := styx.BuildSite(ix, c.Registry(), out); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %d entries\n", filepath.Join(out, "index.html"), len(ix.Entries))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the site into")
	return cmd
}

func (a *app) styxServeCmd(f *styxFlags) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the index's website locally (the site of chaos styx site)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.styxClient(f)
			if err != nil {
				return err
			}
			ix, err := c.Index(ctxOf(cmd))
			if err != nil {
				return err
			}
			site, err := styx.NewSiteHandler(ix, c.Registry())
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "serving %d entries on http://%s/ (Ctrl-C stops)\n", len(ix.Entries), ln.Addr())
			srv := &http.Server{Handler: site}
			ctx, stop := signal.NotifyContext(ctxOf(cmd), os.Interrupt)
			defer stop()
			go func() { <-ctx.Done(); srv.Close() }()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	return cmd
}
