// Command chaos-release builds a release into a directory (`make release VERSION=x.y.z`;
// docs/release.md): binaries, tarballs, .deb, .rpm, Arch packages, the Capitain image (OCI archive)
// and a signed SHA256SUMS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/release"
)

func main() {
	version := flag.String("version", "", "version to release, x.y.z (required)")
	out := flag.String("out", "dist", "output directory (must be empty or missing)")
	arches := flag.String("arches", strings.Join(release.Arches, ","), "architectures, comma-separated (GOARCH names)")
	keyFile := flag.String("key", "", "minisign secret key file, unencrypted (minisign -G -W); default: $CHAOS_SIGNING_KEY's content")
	unsigned := flag.Bool("unsigned", false, "build without signing SHA256SUMS (a trial build, not a release)")
	flag.Parse()
	if err := run(*version, *out, *arches, *keyFile, *unsigned); err != nil {
		fmt.Fprintln(os.Stderr, "chaos-release:", err)
		os.Exit(1)
	}
}

func run(version, out, arches, keyFile string, unsigned bool) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	// The key is read before anything is built: a release that cannot be signed fails in a second,
	// not after the builds.
	var key *minisign.PrivateKey
	if !unsigned {
		k, err := release.LoadKey(keyFile)
		if errors.Is(err, release.ErrNoKey) {
			return fmt.Errorf("%w (or -unsigned for a trial build)", err)
		}
		if err != nil {
			return err
		}
		key = &k
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a, err := release.Run(ctx, release.Options{Repo: repo, Out: out, Version: version, Arches: strings.Split(arches, ","),
		Key: key, Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "release: "+format+"\n", args...) }})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s", a.Sums)
	if a.Sig != "" {
		fmt.Printf(" and %s (key %s, public key %s)", a.Sig, minisign.IDString(key.ID), key.Public())
	}
	fmt.Println()
	return nil
}
