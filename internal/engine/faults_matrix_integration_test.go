package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The fault matrix: for each core, a Ch-obolo with the core's roles is applied to a real root with a
// fault at every op position (the op fails before it acts), a fault in the middle of every file
// write (the temp file is written, the rename never happens) and a kill of the op's process group
// in the middle of each op that can be interrupted half-way (a package transaction with part of its
// packages installed). After each, the apply returns the fault, is rolled back, and the root's whole
// state equals the state before.

// Files a package scriptlet uses to stop a transaction half-way: when armedFile exists, the
// scriptlet creates halfwayFile and sleeps, so the test kills the package manager exactly there.
const (
	armedFile   = "/run/chaos-fault-armed"
	halfwayFile = "/run/chaos-fault-halfway"
)

// haltScript is the scriptlet body that stops a transaction half-way when the test armed it.
const haltScript = "if [ -e " + armedFile + " ]; then : > " + halfwayFile + "; exec sleep 600; fi\n"

var errKilled = errors.New("op killed half-way")

// killAt is a mid-op fault: the op whose text contains Op is started and its process group is killed
// as soon as Halfway holds in the root (polled), i.e. after its first change to the target.
type killAt struct {
	Op      string
	What    string                 // what has happened when it is killed, for the log
	Halfway func(root string) bool // nil: the halt scriptlet's halfwayFile exists
	Arm     bool                   // create armedFile before the op (the halt scriptlet blocks)
}

// lossy names an op that cannot be undone (Op.Irreversible): a fault after it leaves its effect,
// which the test then allows, on exactly these paths, for the stated reason.
type lossy struct {
	Op    string
	Paths []string
	Why   string
}

type faultCase struct {
	Name    string
	Root    func(t *testing.T) string // a prepared root
	Chobolo string
	State   func(t *testing.T, root string) string
	Kills   []killAt
	Lossy   []lossy
}

type faultMode int

const (
	faultBefore   faultMode = iota // the op fails before it acts
	faultMidWrite                  // a write's temp file is written, then the write fails before the rename
	faultKill                      // the op's process group is killed half-way
)

// faulty injects one fault into the op that starts after it is armed (see faultMode).
type faulty struct {
	transport.Transport
	armed bool
	mode  faultMode
	root  string
	kill  killAt
	fired string // what the fault did, once it struck
}

var errInjected = errors.New("injected failure")

func (f *faulty) trip() error {
	if f.armed && f.mode == faultBefore {
		f.armed = false
		f.fired = "failed before the op"
		return errInjected
	}
	return nil
}

func (f *faulty) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if !f.armed || f.mode != faultKill {
		if err := f.trip(); err != nil {
			return transport.Result{}, err
		}
		return f.Transport.Run(ctx, c)
	}
	f.armed = false
	if f.kill.Arm {
		if err := os.WriteFile(filepath.Join(f.root, armedFile), nil, 0o644); err != nil {
			return transport.Result{}, err
		}
	}
	halfway := f.kill.Halfway
	if halfway == nil {
		halfway = func(root string) bool { _, err := os.Stat(filepath.Join(root, halfwayFile)); return err == nil }
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	struck := make(chan bool, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if halfway(f.root) {
				// Disarmed before the kill: nothing the undo runs may block.
				_ = os.Remove(filepath.Join(f.root, armedFile))
				struck <- true
				cancel()
				return
			}
			select {
			case <-kctx.Done():
				struck <- false
				return
			case <-tick.C:
			}
		}
	}()
	res, err := f.Transport.Run(kctx, c)
	cancel()
	_ = os.Remove(filepath.Join(f.root, armedFile))
	_ = os.Remove(filepath.Join(f.root, halfwayFile))
	if <-struck {
		f.fired = "killed half-way: " + f.kill.What
		return res, fmt.Errorf("%w: %w", errKilled, err)
	}
	return res, err // the op ran to its end: the caller sees fired == ""
}

func (f *faulty) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode, uid, gid int, v func(string) error) error {
	if !f.armed || f.mode != faultMidWrite {
		if err := f.trip(); err != nil {
			return err
		}
		return f.Transport.WriteFile(ctx, p, data, mode, uid, gid, v)
	}
	f.armed = false
	// A real mid-write fault: the transport has written and synced the temp file next to p (its
	// own validation passed); the fault strikes before the rename.
	return f.Transport.WriteFile(ctx, p, data, mode, uid, gid, func(tmp string) error {
		if v != nil {
			if err := v(tmp); err != nil {
				return err
			}
		}
		fi, err := f.Transport.Stat(ctx, tmp)
		if err != nil || !fi.Exists || !bytes.Equal(fi.Content, data) {
			return fmt.Errorf("the temp file %s is not written (%v)", tmp, err)
		}
		f.fired = "failed between the temp file's write and its rename"
		return errInjected
	})
}

func (f *faulty) Remove(ctx context.Context, p string, r bool) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Remove(ctx, p, r)
}
func (f *faulty) Symlink(ctx context.Context, p, target string) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Symlink(ctx, p, target)
}
func (f *faulty) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Mkdir(ctx, p, mode)
}
func (f *faulty) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Chmod(ctx, p, mode)
}

// planOps lists the ops of a plan in execution order.
func planOps(hp *engine.HostPlan) []engine.Op {
	var ops []engine.Op
	for _, rp := range hp.Roles {
		for _, s := range rp.Steps {
			ops = append(ops, s.Ops...)
		}
	}
	return ops
}

// planText is the rendered plan without its first line, which names the root's directory (a lossy
// fault's fresh root has another).
func planText(hp *engine.HostPlan) string {
	_, rest, _ := strings.Cut(enginetest.Render(hp), "\n")
	return rest
}

// dropPaths removes the HostState lines of paths (relative to the root, and what is under them).
func dropPaths(state string, paths []string) string {
	var out []string
	for _, l := range strings.Split(state, "\n") {
		if !slices.ContainsFunc(paths, func(p string) bool {
			p = strings.TrimPrefix(p, "/")
			return strings.HasPrefix(l, p+" ") || strings.HasPrefix(l, p+"/")
		}) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// runFaultMatrix runs every fault of fc, each on the same root (it must come back exactly each
// time; a lossy fault gets a fresh root afterwards), then applies for real twice.
func runFaultMatrix(t *testing.T, fc faultCase) transport.Transport {
	ctx := context.Background()
	root := fc.Root(t)
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: builtin.Registry()}
	c := load(t, fc.Chobolo)
	req := engine.Request{Chobolo: c, Assume: true}
	first, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	plan0 := planText(first)
	ops := planOps(first)
	t.Logf("%s: %d ops:\n%s", fc.Name, len(ops), plan0)
	before := fc.State(t, root)

	type fault struct {
		k    int
		mode faultMode
		kill killAt
	}
	var faults []fault
	for k, op := range ops {
		faults = append(faults, fault{k: k + 1, mode: faultBefore})
		if op.Kind == engine.OpWrite {
			faults = append(faults, fault{k: k + 1, mode: faultMidWrite})
		}
	}
	for _, kl := range fc.Kills {
		k := slices.IndexFunc(ops, func(op engine.Op) bool { return strings.Contains(op.String(), kl.Op) })
		if k < 0 {
			t.Fatalf("no op %q to kill half-way in the plan", kl.Op)
		}
		faults = append(faults, fault{k: k + 1, mode: faultKill, kill: kl})
	}
	start := time.Now()
	counts := map[faultMode]int{}
	for _, ft := range faults {
		f := &faulty{Transport: tr, mode: ft.mode, root: root, kill: ft.kill}
		seen := 0
		var failedOp string
		r := req
		r.Observe = func(ev engine.Event) {
			if ev.Type == engine.EventOpStart {
				if seen++; seen == ft.k {
					f.armed, failedOp = true, ev.Role+": "+ev.Op
				}
			}
		}
		hp, err := e.Plan(ctx, tr, req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Apply(ctx, f, hp, r)
		where := fmt.Sprintf("op %d (%s)", ft.k, failedOp)
		if f.fired == "" {
			t.Fatalf("%s: the fault (mode %d) never struck: %v", where, ft.mode, err)
		}
		where += ", " + f.fired
		if !errors.Is(err, errInjected) && !errors.Is(err, errKilled) || res == nil {
			t.Fatalf("%s: want the fault's error, got %v", where, err)
		}
		if len(res.UndoErrors) > 0 {
			t.Errorf("%s: undo errors: %v", where, res.UndoErrors)
		}
		// The undo of a killed op must succeed (a failed op's failing undo is only a warning: a
		// fault before an op may leave nothing to undo).
		if ft.mode == faultKill && len(res.Warnings) > 0 {
			t.Errorf("%s: the undo of the killed op: %v", where, res.Warnings)
		}
		want, got := before, fc.State(t, root)
		var lost []lossy
		if !res.RolledBack {
			if len(res.NotUndone) == 0 {
				t.Fatalf("%s: not rolled back, and no op named as not undone: %+v", where, res)
			}
			for _, nu := range res.NotUndone {
				i := slices.IndexFunc(fc.Lossy, func(l lossy) bool { return strings.Contains(nu, l.Op) })
				if i < 0 {
					t.Fatalf("%s: the rollback passed over %s, which the test does not expect", where, nu)
				}
				lost = append(lost, fc.Lossy[i])
				want, got = dropPaths(want, fc.Lossy[i].Paths), dropPaths(got, fc.Lossy[i].Paths)
			}
		}
		if got != want {
			t.Fatalf("%s: the root changed after the rollback:\n%s", where, diffState(want, got))
		}
		if testenv.Exists(t, root, engine.JournalDir) {
			t.Fatalf("%s: journal left behind", where)
		}
		counts[ft.mode]++
		if len(lost) > 0 {
			for _, l := range lost {
				t.Logf("%s: not undone, by design: %s (%v: %s)", where, l.Op, l.Paths, l.Why)
			}
			// The irreversible op's effect stays: the rest of the matrix runs on a fresh root.
			root = fc.Root(t)
			tr = enginetest.Chroot(t, root)
			before = fc.State(t, root)
			continue
		}
		if again, err := e.Plan(ctx, tr, req); err != nil || planText(again) != plan0 {
			t.Fatalf("%s: the plan after the rollback differs:\n%s\nwas:\n%s (%v)", where, planText(again), plan0, err)
		}
	}
	t.Logf("%s: %d faults before an op, %d in the middle of a write, %d kills half-way, all rolled back in %s",
		fc.Name, counts[faultBefore], counts[faultMidWrite], counts[faultKill], time.Since(start).Round(time.Millisecond))
	enginetest.ApplyTwice(t, tr, c, builtin.Roles()...)
	return tr
}

// rpmState is HostState with rpm's and dnf's databases as what they hold rather than their bytes:
// rpmdb.sqlite (and its -shm and -wal) and dnf's history.sqlite are SQLite files whose pages differ
// after an install and its removal even when the package set is the same. What counts is compared
// instead: every installed package (name, version, release) and dnf's reason for each
// (user-installed or not) and the installed groups, which is what the next plan reads.
func rpmState(t *testing.T, root string) string {
	t.Helper()
	db := []string{"usr/lib/sysimage/rpm", "var/lib/dnf"}
	s := dropPaths(testenv.HostState(t, root), db)
	rpm := testenv.Chroot(t, root, "rpm", "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\n")
	user := testenv.Chroot(t, root, "dnf", "-q", "-C", "--disablerepo=*", "repoquery", "--userinstalled", "--qf", "%{name}\n")
	groups, _, code := testenv.ChrootResult(t, root, "dnf", "-q", "-C", "group", "list", "--installed")
	groups += fmt.Sprintf("(exit %d)", code) // 1 without any group data in the repositories
	verify, _, _ := testenv.ChrootResult(t, root, "rpm", "--verifydb")
	return s + "\n-- rpm -qa\n" + sortLines(rpm) + "\n-- user-installed\n" + sortLines(user) +
		"\n-- groups\n" + groups + "\n-- rpm --verifydb\n" + verify
}

func sortLines(s string) string {
	l := strings.Fields(s)
	slices.Sort(l)
	return strings.Join(l, "\n")
}

// fedoraPkgs: chaos-b needs chaos-lib (which provides /bin/sh for the scriptlets: nothing in the
// root's rpm database does) and stops in its %post when the test armed it: chaos-lib is installed
// and chaos-b's files are written when dnf is killed.
var fedoraPkgs = []testenv.RpmPkg{
	{Name: "chaos-a", Files: map[string]string{"/usr/share/chaos-a/README": "a\n"}, Dirs: []string{"/usr/share/chaos-a"}},
	{Name: "chaos-lib", Provides: []string{"/bin/sh"}, Files: map[string]string{"/usr/share/chaos-lib/data": "lib\n"},
		Dirs: []string{"/usr/share/chaos-lib"}},
	{Name: "chaos-b", Requires: []string{"chaos-lib"}, Post: haltScript,
		Files: map[string]string{"/usr/bin/chaos-b": "#!/bin/sh\necho b\n", "/etc/chaos-b.conf": "b=1\n"}},
	{Name: "chaos-g1", Files: map[string]string{"/usr/bin/chaos-g1": "#!/bin/sh\necho g1\n"}},
	{Name: "glibc-langpack-pt"}, // the region role installs it for pt_BR
}

var fedoraGroups = []testenv.RpmGroup{{ID: "chaos-tools", Packages: []string{"chaos-g1"}}}

// fedoraFaults is the Fedora core's fault matrix: dnf (a transaction with a dependency and a
// group), yumrepos (a .repo file and dnf makecache) and region (its glibc langpack installed with
// dnf), with the core-agnostic roles.
var fedoraFaults = faultCase{
	Name: "fedora",
	Root: func(t *testing.T) string {
		root := testenv.FedoraRoot(t)
		testenv.RpmRepo(t, root, fedoraGroups, fedoraPkgs...)
		testenv.Chroot(t, root, "cp", "-a", testenv.RpmRepoDir, "/srv/chaos-rpm-repo2")
		return root
	},
	Chobolo: `hostname: forge
packages: [chaos-a, chaos-b, "@chaos-tools"]
users:
  - name: alice
    groups: [adm]
repos:
  dnf:
    - name: two
      baseurl: file:///srv/chaos-rpm-repo2
      gpgcheck: false
region:
  timezone: Europe/Berlin
  locale: [pt_BR.UTF-8]
files:
  - path: /etc/motd
    content: "managed by chaos\n"
`,
	State: rpmState,
	Kills: []killAt{{Op: "install -- chaos-a chaos-b @chaos-tools", Arm: true,
		What: "dnf's transaction with chaos-lib installed and chaos-b's files written, stopped in chaos-b's %post"}},
}

// TestFaultsFedora runs the Fedora fault matrix (see faultCase).
func TestFaultsFedora(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, fedoraFaults)
}

// fedoraUnpackFaults kills dnf while rpm writes a package's files: chaos-small is installed, and
// chaos-big's 64 MiB file is half-written under rpm's temp name (PATH;XXXXXXXX), its directory and
// first file there, the package in no database (rpm records it after its files). The kill strikes
// as soon as the temp file appears, which stays there as long as rpm writes 64 MiB.
var fedoraUnpackFaults = faultCase{
	Name: "fedora-unpack",
	Root: func(t *testing.T) string {
		root := testenv.FedoraRoot(t)
		testenv.RpmRepo(t, root, nil,
			testenv.RpmPkg{Name: "chaos-small", Files: map[string]string{"/usr/share/chaos-small/a": "a\n"}, Dirs: []string{"/usr/share/chaos-small"}},
			testenv.RpmPkg{Name: "chaos-big", Requires: []string{"chaos-small"}, Dirs: []string{"/usr/share/chaos-big"},
				Files: map[string]string{"/usr/share/chaos-big/a": "a\n", "/usr/share/chaos-big/blob": strings.Repeat("0123456789abcdef", 4<<20)}})
		return root
	},
	Chobolo: "packages: [chaos-big]\n",
	State:   rpmState,
	Kills: []killAt{{Op: "install -- chaos-big", What: "rpm writing chaos-big's files (chaos-small installed)",
		Halfway: func(root string) bool {
			m, _ := filepath.Glob(filepath.Join(root, "usr/share/chaos-big/blob;*"))
			return len(m) > 0
		}}},
}

// TestFaultsFedoraUnpack runs fedoraUnpackFaults.
func TestFaultsFedoraUnpack(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, fedoraUnpackFaults)
}

// fakeReflector stands in for reflector (an Arch-only program that ranks mirrors by downloading from
// them; see internal/roles/mirrors): it writes the mirror list it was asked to save, pointing at the
// root's own mirror so that the transactions after it still find their packages.
const fakeReflector = `#!/bin/sh
save=""
args="$*"
while [ $# -gt 0 ]; do [ "$1" = --save ] && save=$2; shift; done
printf '%s\n%s\n' '# With:       reflector (fake)' "# args: $args" > "$save"
echo 'Server = file:///srv/chaos-pacman-mirror/$repo' >> "$save"
`

// archFaults is the Arch core's fault matrix: pacman (a transaction with a dependency), pacmanconf
// (pacman.conf with a third-party repository, its backup, pacman -Sy), mirrors (reflector's
// ranking, which cannot be undone) and the core-agnostic roles.
var archFaults = faultCase{
	Name: "arch",
	Root: func(t *testing.T) string {
		root := testenv.ArchRoot(t)
		testenv.PacmanMirror(t, root, "core", testenv.PacPkg{Name: "chaos-base"},
			testenv.PacPkg{Name: "chaos-lib", Files: map[string]string{"/usr/share/chaos-lib/data": "lib\n"}},
			testenv.PacPkg{Name: "chaos-a", Files: map[string]string{"/usr/share/chaos-a/README": "a\n"}},
			// chaos-b stops in its post_install when the test armed it: chaos-lib is installed and
			// chaos-b's files are extracted when pacman is killed.
			testenv.PacPkg{Name: "chaos-b", Depends: []string{"chaos-lib"}, Install: "post_install() {\n" + haltScript + "}\n",
				Files: map[string]string{"/usr/bin/chaos-b": "#!/bin/sh\necho b\n", "/etc/chaos-b.conf": "b=1\n"}})
		testenv.PacmanMirror(t, root, "extra")
		testenv.PacmanMirror(t, root, "third", testenv.PacPkg{Name: "third-a"})
		testenv.WriteFile(t, root, "/usr/bin/reflector", fakeReflector)
		testenv.Chroot(t, root, "chmod", "755", "/usr/bin/reflector")
		return root
	},
	Chobolo: `hostname: forge
packages: [chaos-a, chaos-b, third-a]
baseOverride: [chaos-base]
users:
  - name: alice
    groups: [adm]
repos:
  managed: {core: true, extra: true}
  third_party:
    - name: third
      url: file:///srv/chaos-pacman-mirror/third
      siglevel: Never
  i_know_exactly_what_im_doing: "[options]\nArchitecture = auto\nCheckSpace\nSigLevel = Never\nLocalFileSigLevel = Never\n"
mirrors:
  countries: [BR]
  count: 3
files:
  - path: /etc/motd
    content: "managed by chaos\n"
`,
	State: state,
	Kills: []killAt{{Op: "-S --needed --noconfirm --noprogressbar -- chaos-a chaos-b", Arm: true,
		What: "pacman's transaction with chaos-lib installed and chaos-b's files extracted, stopped in chaos-b's post_install"}},
	Lossy: []lossy{{Op: "reflector", Paths: []string{"/etc/pacman.d/mirrorlist"},
		Why: "reflector overwrites the mirror list with its ranking; the previous list is not kept (Op.Irreversible)"}},
}

// archUnpackFaults kills pacman while it extracts a package: chaos-small is installed, and
// chaos-big's 64 MiB file is half-written, its database entry still empty (pacman writes it after
// the files). The kill strikes as soon as the file appears, which stays incomplete as long as
// pacman writes 64 MiB.
var archUnpackFaults = faultCase{
	Name: "arch-unpack",
	Root: func(t *testing.T) string {
		root := testenv.ArchRoot(t)
		testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "chaos-small", Files: map[string]string{"/usr/share/chaos-small/a": "a\n"}},
			testenv.PacPkg{Name: "chaos-big", Depends: []string{"chaos-small"},
				Files: map[string]string{"/usr/share/chaos-big/a": "a\n", "/usr/share/chaos-big/blob": strings.Repeat("0123456789abcdef", 4<<20)}})
		return root
	},
	Chobolo: "packages: [chaos-big]\nbaseOverride: [chaos-small]\n",
	State:   state,
	Kills: []killAt{{Op: "-- chaos-big", What: "pacman extracting chaos-big (chaos-small installed)",
		Halfway: func(root string) bool {
			_, err := os.Stat(filepath.Join(root, "usr/share/chaos-big/blob"))
			return err == nil
		}}},
}

// TestFaultsArchUnpack runs archUnpackFaults.
func TestFaultsArchUnpack(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, archUnpackFaults)
}

// TestFaultsArch runs the Arch fault matrix (see faultCase).
func TestFaultsArch(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, archFaults)
}

// archAURFaults is the AUR role's fault matrix, on its own because every AUR build is ~20 s of
// makepkg: an AUR package needing an official one, built by the build user with the real makepkg.
// The kill strikes in the middle of the build op: its official dependency installed, makepkg
// running.
var archAURFaults = faultCase{
	Name: "arch-aur",
	Root: func(t *testing.T) string {
		root := testenv.ArchRoot(t)
		testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "core-x", Files: map[string]string{"/usr/share/core-x/data": "x\n"}})
		testenv.AURCommit(t, root, "aur-app", "1.0", "core-x")
		// makepkg needs /proc (as under arch-chroot); testenv unmounts it with the root.
		if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
			t.Fatal(err)
		}
		return root
	},
	Chobolo: `aurPackages: {base_url: "file:///srv/aur", packages: [aur-app]}
files:
  - path: /etc/motd
    content: "managed by chaos\n"
`,
	State: state,
	Kills: []killAt{{Op: "build aur-app", What: "the build of aur-app with its official dependency core-x installed, makepkg running",
		Halfway: func(root string) bool {
			m, _ := filepath.Glob(filepath.Join(root, "var/lib/pacman/local/core-x-*"))
			return len(m) > 0
		}}},
}

// TestFaultsArchAUR runs the AUR fault matrix (see faultCase).
func TestFaultsArchAUR(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, archAURFaults)
}

// archBootFaults is the boot loader's fault matrix on a real disk image (testenv.ArchBootDisk: an
// overlay root cannot serve a boot loader): systemd-boot's loader.conf and entries on the FAT ESP
// mounted at /boot, and the packages the partitioning's file systems need. `bootctl install` is not planned in a chroot without
// --allow-bootloader-install, and cannot be undone where it is (Op.Irreversible).
var archBootFaults = faultCase{
	Name: "arch-bootloader",
	Root: func(t *testing.T) string {
		d := testenv.ArchBootDisk(t)
		d.MountESP(t, "/boot")
		// The tools of the declared file systems, which the packages role installs.
		testenv.PacmanRepo(t, d.Root, testenv.PacPkg{Name: "dosfstools"}, testenv.PacPkg{Name: "e2fsprogs"})
		for _, f := range []string{"vmlinuz-linux", "initramfs-linux.img", "intel-ucode.img"} {
			if err := os.WriteFile(filepath.Join(d.Root, "boot", f), []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d.Root
	},
	Chobolo: `bootloader: {name: systemd-boot, timeout: 4, kernel_params: quiet}
partitioning: {disk: /dev/sda, partitions: [{name: EFI, important: boot, type: fat32, mountpoint: /boot}, {name: archroot, important: root, type: ext4}]}
files:
  - path: /etc/motd
    content: "managed by chaos\n"
`,
	State: state,
}

// TestFaultsArchBootloader runs the boot loader's fault matrix (see faultCase).
func TestFaultsArchBootloader(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, archBootFaults)
}
