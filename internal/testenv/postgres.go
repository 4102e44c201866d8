package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// PostgreSQL starts a private PostgreSQL server for the test from Debian's postgresql package
// (scripts/deps.sh installs it): initdb and pg_ctl run as the postgres user on a temp data directory,
// listening on a unix socket in that directory only, on a free port number; it is stopped and removed
// at cleanup. It returns a libpq key=value DSN (host=DIR port=N user=postgres dbname=postgres). The
// test is skipped when PostgreSQL is not installed (a failure under CHAOS_REQUIRE_ALL=1: Missing).
func PostgreSQL(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		Missing(t, "testenv: PostgreSQL is not installed (scripts/deps.sh installs postgresql)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir, err := os.MkdirTemp("", "chaos-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// A port number nobody uses right now (the server listens on the socket only, but the port
	// names the socket file).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	as := func(argv ...string) {
		t.Helper()
		cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, argv...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testenv: %v: %v\n%s", argv, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	as(bin+"/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	as(bin+"/pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c fsync=off", dir, port), "start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", bin+"/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
		_ = os.RemoveAll(dir)
	})
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port)
}
