package chaos

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/installer"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// InstallRequest is one `chaos install`: a Ch-obolo with `partitioning` and `bootloader`, and the
// disk (or disk image) it goes onto.
type InstallRequest struct {
	Chobolo *Chobolo
	// Disk is the block device to install onto; Image a disk image file (created or grown to
	// ImageSize bytes) attached to a free loop device for the install. Exactly one is set.
	Disk      string
	Image     string
	ImageSize int64
	// Dry plans only: nothing is written to the disk or the image. The bootstrap tarball is
	// built into CacheDir when it is not there yet (the roles' plan is computed on a copy of it).
	Dry bool
	// Yes is the user's yes to erasing the disk; without it (and without Approve) nothing is done.
	Yes bool
	// Wipe lets the install erase a disk that holds a partition table or file system signatures.
	// A disk in use (mounted, swap) is refused whatever Wipe says.
	Wipe bool
	// Approve decides the disk's plan (the destructive one); nil: Yes decides.
	Approve Approver
	// Suite and Mirror are the Debian release and where it comes from (a deb822 .sources file or
	// a URL). Defaults: bookworm, the installing machine's /etc/apt/sources.list.d/debian.sources
	// when present, else http://deb.debian.org/debian.
	Suite, Mirror string
	// CacheDir keeps bootstrapped roots as tarballs keyed by their recipe (default
	// /var/cache/chaos/install); StateDir holds the install's journal and lock on the installing
	// machine (default /var/lib/chaos/install).
	CacheDir, StateDir string
	// Secrets are handed to the Ch-obolo's roles (user passwords).
	Secrets SecretStore
	// Events receives every event: the three phases (disk, the new root's roles, boot) appear as
	// targets named install:DEV and @chroot/ROOT.
	Events func(Event)
	// UUID chooses file system UUIDs (nil: random); tests fix them.
	UUID func() string
}

// InstallResult is how an install went.
type InstallResult struct {
	Run *Run
	// Device is the disk installed onto (the loop device of an image; /dev/loopX in a dry run).
	Device string
	// Disk is the planned disk: partitions, devices, UUIDs, mounts, fstab.
	Disk *installer.Disk
	// Bootstrap is the recipe of the new root's core and Tarball its cached copy.
	Bootstrap *installer.Bootstrap
	Tarball   string
	// Steps are the time each step took, in order.
	Steps []InstallStep
	// Before is the disk's partition table before the install ("" when it had none).
	Before string
}

// InstallStep is one timed step of an install.
type InstallStep struct {
	Name    string        `json:"name"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Install plans an install and, unless Dry, carries it out: partition, format, mount, unpack the
// bootstrapped core, fstab (one engine apply on the installing machine), the Ch-obolo applied to
// the new root through @chroot (its first generation recorded there), then GRUB and the unmounts
// (a last engine apply). Whatever fails, nothing stays mounted and an image's loop device is
// detached; the error says which step failed and what the disk holds.
func (c *Controller) Install(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	if (req.Disk == "") == (req.Image == "") {
		return nil, errors.New("install: give a disk or an image (not both)")
	}
	if req.Image != "" && req.ImageSize <= 0 {
		return nil, errors.New("install: an image needs its size")
	}
	if !req.Dry && !req.Yes && req.Approve == nil {
		return nil, errors.New("install erases the disk: confirm with -y (or approve its plan)")
	}
	if req.Image != "" {
		// The tools run from /: a relative image path is the caller's.
		abs, err := filepath.Abs(req.Image)
		if err != nil {
			return nil, err
		}
		req.Image = abs
	}
	layout, err := installer.ParseLayout(req.Chobolo)
	if err != nil {
		return nil, err
	}
	suite := cmp.Or(req.Suite, "bookworm")
	mirror, mirrorText := req.Mirror, req.Mirror
	if mirror == "" {
		mirror, mirrorText = "http://deb.debian.org/debian", "http://deb.debian.org/debian"
		if data, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources"); err == nil {
			mirror, mirrorText = "/etc/apt/sources.list.d/debian.sources", string(data)
		}
	}
	res := &InstallResult{Bootstrap: installer.NewBootstrap(req.Chobolo, layout, suite, mirror, mirrorText)}
	local := transport.NewLocal()
	defer local.Close()
	timed := func(name string, start time.Time) {
		res.Steps = append(res.Steps, InstallStep{Name: name, Elapsed: time.Since(start)})
	}

	// The disk's facts, and the refusals that need no change to anything.
	start := time.Now()
	var facts *installer.DiskFacts
	if req.Image != "" {
		facts, err = installer.GatherImage(ctx, local, req.Image, req.ImageSize)
	} else {
		facts, err = installer.Gather(ctx, local, req.Disk)
	}
	if err != nil {
		return nil, err
	}
	res.Before = facts.Table
	if err := facts.Refusal(req.Wipe); err != nil {
		return nil, fmt.Errorf("%s: %w", layout.RefusalPos(), err)
	}
	// A missing mkfs would fail after the disk was wiped: refused before.
	if err := installer.CheckTools(layout, !facts.VFAT, func(tool string) bool {
		r, err := local.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `command -v "$1" >/dev/null`, "sh", tool}})
		return err == nil && r.Code == 0
	}); err != nil {
		return nil, err
	}
	dev := req.Disk
	if req.Image != "" {
		dev = "/dev/loopX"
	}
	uuid := req.UUID
	if uuid == nil {
		uuid = installer.RandomUUID
	}
	root := filepath.Join(os.TempDir(), "chaos-install-"+rand.Text()[:10])
	// A dry run of an image plans on the size it will have.
	if _, err := installer.PlanDisk(layout, dev, facts.Size, root, uuid); err != nil {
		return nil, err
	}
	timed("plan", start)

	start = time.Now()
	cacheDir := cmp.Or(req.CacheDir, "/var/cache/chaos/install")
	if res.Tarball, err = c.bootstrapTarball(ctx, local, cacheDir, res.Bootstrap, req.Events); err != nil {
		return res, err
	}
	timed("bootstrap the core (mmdebstrap, or the cached tarball)", start)

	if !req.Dry && req.Image != "" {
		if dev, err = attachImage(ctx, local, req.Image, req.ImageSize); err != nil {
			return res, err
		}
		defer detach(local, dev)
	}
	res.Device = dev
	if res.Disk, err = installer.PlanDisk(layout, dev, facts.Size, root, uuid); err != nil {
		return res, err
	}
	d := res.Disk
	d.FuseFAT = !facts.VFAT

	ar := ApplyRequest{Chobolo: req.Chobolo, Dry: req.Dry, Yes: req.Yes, Approve: req.Approve, Secrets: req.Secrets,
		Events: req.Events, Command: "install"}
	r := c.startRun(ctx, &ar, 3)
	defer func() { res.Run = r.finish() }()
	stateDir := cmp.Or(req.StateDir, "/var/lib/chaos/install")
	phase := func(ar ApplyRequest, hp *Plan) bool {
		host := installer.NewHost(transport.NewLocal(), dev, stateDir)
		j := c.job(ar, host.Name(), func(context.Context, bool) (transport.Transport, error) { return host, nil })
		j.plan = func(context.Context, transport.Transport, *engine.Request) (*Plan, error) { return hp, nil }
		j.noRecord, j.emit = true, r.emit
		out, p := j.run(ctx)
		r.done(out, p)
		return out.Status != StatusFailed
	}
	roles := func(ar ApplyRequest, root string) bool {
		spec := "@chroot" + root
		j := c.job(ar, spec, func(ctx context.Context, ro bool) (transport.Transport, error) {
			return c.openSpec(ctx, spec, nil, ar.Connect, ro)
		})
		j.emit = r.emit
		out, p := j.run(ctx)
		r.done(out, p)
		return out.Status != StatusFailed
	}

	if req.Dry {
		// The roles and the boot loader are planned on a copy of the bootstrapped root: what the
		// disk will hold after the unpack, without touching the disk.
		phase(ar, installer.DiskPlan(layout, d, res.Before, res.Tarball, res.Bootstrap))
		tmp, err := os.MkdirTemp("", "chaos-install-plan-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		if _, err := transport.Check(ctx, local, transport.Cmd{Argv: []string{"tar", "--zstd", "-xpf", res.Tarball, "-C", tmp, "--numeric-owner"}}); err != nil {
			return res, fmt.Errorf("unpacking %s to plan the roles: %w", res.Tarball, err)
		}
		start = time.Now()
		roles(ar, tmp)
		timed("plan the roles on a copy of the root", start)
		return res, c.bootPhase(layout, d, tmp, r, func(hp *Plan) bool { return phase(ar, hp) })
	}

	// From here on the disk changes. Whatever happens, nothing stays mounted under root.
	defer func() {
		if left := unmountUnder(root); len(left) > 0 {
			r.emit(Event{Type: engine.EventMessage, Level: "error", Message: "still mounted after the install: " + strings.Join(left, ", ")})
		}
		_ = os.Remove(root)
	}()
	start = time.Now()
	// A refused plan changed nothing: that is no failure of the disk.
	refused := false
	approve := ar.Approve
	if approve == nil {
		approve = Unattended(req.Yes, false)
	}
	ar.Approve = func(ctx context.Context, p *Plan) (Approval, error) {
		a, err := approve(ctx, p)
		refused = err == nil && a == Refuse
		return a, err
	}
	if !phase(ar, installer.DiskPlan(layout, d, res.Before, res.Tarball, res.Bootstrap)) {
		if refused {
			return res, fmt.Errorf("install: not approved: nothing was written to %s", dev)
		}
		return res, fmt.Errorf("install: partitioning, formatting or unpacking %s failed (see above); the disk's contents are undefined: run again with --wipe", dev)
	}
	timed("partition, format, mount, unpack, fstab", start)
	start = time.Now()
	inner := ar
	inner.Approve, inner.Yes, inner.PruneAll = Unattended(true, true), true, true
	if !roles(inner, root) {
		return res, fmt.Errorf("install: applying the Ch-obolo to the new root failed (see above): %s is partitioned and holds the core but is not bootable; run again with --wipe", dev)
	}
	timed("apply the Ch-obolo to the new root", start)
	start = time.Now()
	inner.Approve = Unattended(true, true)
	if err := c.bootPhase(layout, d, root, r, func(hp *Plan) bool { return phase(inner, hp) }); err != nil {
		return res, err
	}
	timed("boot loader and unmount", start)
	return res, nil
}

// bootPhase plans the boot loader from the kernels in root and runs it with run.
func (c *Controller) bootPhase(l *installer.Layout, d *installer.Disk, root string, r *run, run func(*Plan) bool) error {
	rf, err := installer.ReadRootFacts(root)
	if err != nil {
		return err
	}
	hp, err := installer.BootPlan(l, d, rf)
	if err != nil {
		return err
	}
	if !run(hp) {
		return fmt.Errorf("install: the boot loader step failed (see above): %s holds the configured system but may not boot", d.Device)
	}
	return nil
}

// bootstrapTarball returns the cached tarball of b, building it first when it is missing (once
// per recipe: concurrent installs wait for one build).
func (c *Controller) bootstrapTarball(ctx context.Context, t transport.Transport, dir string, b *installer.Bootstrap, events func(Event)) (string, error) {
	out := filepath.Join(dir, b.Key())
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(out+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if events != nil {
		events(Event{Type: engine.EventMessage, Level: "note", Message: "bootstrapping Debian " + b.Suite + " (once for this recipe): " + strings.Join(b.Packages, " ")}.Stamp())
	}
	tmp := strings.TrimSuffix(out, ".tar.zst") + ".tmp-" + strconv.Itoa(os.Getpid()) + ".tar.zst"
	defer os.Remove(tmp)
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: b.Argv(tmp)}); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return out, os.Rename(tmp, out)
}

// attachImage creates (or grows) the image and attaches it to a free loop device.
func attachImage(ctx context.Context, t transport.Transport, image string, size int64) (string, error) {
	f, err := os.OpenFile(image, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	st, err := f.Stat()
	if err == nil && st.Size() < size {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	out, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"losetup", "--find", "--show", image}})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	dev := strings.TrimSpace(string(out.Stdout))
	// Partitions a previous user of the loop device left (the kernel does not drop partx's
	// partitions on detach) would not be the image's: dropped before partitioning.
	_, _ = t.Run(ctx, transport.Cmd{Argv: []string{"partx", "-d", dev}})
	return dev, nil
}

// detach forgets the loop device's partitions and detaches it.
func detach(t transport.Transport, dev string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// partx -d fails while a just-unmounted partition is still held: by the kernel, or by fusefat,
	// which exits only after its umount returned (slowly on a loaded machine). Retried for up to
	// 50 s: partitions left behind would stay on the loop device for its next user.
	// (partx -d also fails when there is nothing to delete: the kernel's list is what is checked.)
	for i := 0; i < 200 && len(installer.KernelPartitions(dev)) > 0; i++ {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		_, _ = t.Run(ctx, transport.Cmd{Argv: []string{"partx", "-d", dev}})
	}
	_, _ = t.Run(ctx, transport.Cmd{Argv: []string{"losetup", "-d", dev}})
}

// unmountUnder unmounts everything mounted at or under dir, deepest first (lazily when busy), and
// returns what is still mounted.
func unmountUnder(dir string) []string {
	list := func() []string {
		f, err := os.Open("/proc/self/mounts")
		if err != nil {
			return nil
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			p := strings.ReplaceAll(fields[1], `\040`, " ")
			if p == dir || strings.HasPrefix(p, dir+"/") {
				out = append(out, p)
			}
		}
		return out
	}
	for _, p := range slices.Backward(list()) {
		if err := syscall.Unmount(p, 0); err != nil {
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
		}
	}
	return list()
}
