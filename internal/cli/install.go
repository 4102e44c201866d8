package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/installer"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type installOpts struct {
	disk, image, size string
	dry, yes, wipe    bool
	json              bool
	suite, mirror     string
	cache, state      string
	useSecrets        bool
	secrets           secretFlags
	// log is --logbook, --limani and --no-logbook: the install is recorded like an apply.
	log logFlags
}

func (a *app) installCmd() *cobra.Command {
	var o installOpts
	cmd := &cobra.Command{
		Use:   "install -c FILE (--disk /dev/X | --image FILE --size 8G)",
		Short: "Install the Ch-obolo's system onto a disk: partition, format, bootstrap, configure, boot loader",
		Long: `Install partitions the disk as the Ch-obolo's partitioning section says, makes the file
systems (labels, UUIDs), mounts the tree under a temporary directory, unpacks a Debian core made
by mmdebstrap (cached by its recipe), writes fstab by UUID, applies the whole Ch-obolo to the new
root through @chroot (its first generation is recorded there), installs GRUB and unmounts. A disk
holding a partition table or a file system is refused without --wipe; a disk in use always is.

Exit codes: 0 installed (or, with --dry, planned); 2 with --dry when there is something to do; 1 on error.`,
		Example: `  chaos install -c machine.yml --image disk.img --size 8G --dry
  chaos install -c machine.yml --disk /dev/sdb --wipe -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.install(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.disk, "disk", "", "the block device to install onto (erased)")
	f.StringVar(&o.image, "image", "", "a disk image file to install onto (created or grown to --size)")
	f.StringVar(&o.size, "size", "", "the size of --image: 8G, 20G, ...")
	f.BoolVarP(&o.dry, "dry", "d", false, "show the plan (partition table before and after, file systems, bootstrap, every role's plan) and stop")
	f.BoolVarP(&o.yes, "yes", "y", false, "erase the disk and install without asking")
	f.BoolVar(&o.wipe, "wipe", false, "erase a disk that holds a partition table or file systems")
	f.BoolVar(&o.json, "json", false, "events as JSON lines")
	f.StringVar(&o.suite, "suite", "", "Debian release to bootstrap (default bookworm)")
	f.StringVar(&o.mirror, "mirror", "", "Debian mirror: a URL or a deb822 .sources file (default: this machine's debian.sources)")
	f.StringVar(&o.cache, "cache", "", "where bootstrapped cores are cached (default /var/cache/chaos/install)")
	f.StringVar(&o.state, "state", "", "the install's journal and lock on this machine (default /var/lib/chaos/install)")
	f.BoolVarP(&o.useSecrets, "secrets", "s", false, "decrypt the secrets file (in memory) for the roles (user passwords)")
	o.secrets.register(f)
	o.log.register(f)
	return cmd
}

func (a *app) install(ctx context.Context, o installOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	req := chaos.InstallRequest{Disk: o.disk, Image: o.image, Dry: o.dry, Yes: o.yes, Wipe: o.wipe,
		Suite: o.suite, Mirror: o.mirror, CacheDir: o.cache, StateDir: o.state}
	switch {
	case (o.disk == "") == (o.image == ""):
		return errors.New("install: give --disk DEVICE or --image FILE --size SIZE")
	case o.image != "":
		size, rest, err := installer.ParseSize(o.size)
		if err != nil || rest {
			return fmt.Errorf("--size %q: expected a size like 8G", o.size)
		}
		req.ImageSize = size
	case o.size != "":
		return errors.New("--size goes with --image (a disk has its own size)")
	}
	c, err := a.loadChobolo()
	if err != nil {
		return err
	}
	req.Chobolo = c
	if o.useSecrets || o.secrets.file != "" || o.secrets.provider != "" || o.secrets.team != "" {
		if req.Secrets, err = a.loadApplySecrets(ctx, o.secrets, c); err != nil {
			return err
		}
	}
	if !o.dry && !o.yes && a.terminal() {
		req.Approve = a.askApproval(applyOpts{json: o.json})
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	ctl, err := a.controller(o.log.open(ctx, a, cfg))
	if err != nil {
		return err
	}
	req.Events = a.reporter(o.json).Event
	res, err := ctl.Install(ctx, req)
	if res != nil && res.Run != nil {
		o.log.finish(a, res.Run.LogbookID, o.json, o.dry)
	}
	if err != nil {
		return err
	}
	if !o.json && !o.dry {
		fmt.Fprintf(a.stdout, "installed onto %s:\n", res.Device)
		for _, s := range res.Steps {
			fmt.Fprintf(a.stdout, "  %-45s %6.1f s\n", s.Name, s.Elapsed.Seconds())
		}
	}
	return exitCode(res.Run, o.dry)
}
