package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The fleet the storage figures are projected to (issue 20): 10,000 hosts, a drift check every 30
// minutes, for 30 days.
const (
	storageHosts    = 10000
	storageInterval = 30 * time.Minute
	storageDays     = 30
)

// BenchmarkCapitainStorage measures the database bytes one host-run of a drift check costs: real
// drift checks (jobs through the server, on 2 real SSH hosts in network namespaces, nothing to
// change, the steady state) on SQLite and PostgreSQL, the database's used size before and after.
// What a host-run stores: its job host row, its events, its River job (River deletes completed
// jobs after 24 h; counted here as if kept). It reports bytes/host-run and the size of 30 days of
// 10,000 hosts every 30 minutes without retention, and with a 7-day retention (max_age 168h), both
// computed from the measured bytes (not inserted: 14.4 million host-runs).
func BenchmarkCapitainStorage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		db := filepath.Join(b.TempDir(), "capitain.db")
		benchStorage(b, db, func(ctx context.Context) int64 { return sqliteUsed(b, ctx, db) })
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := testenv.PostgreSQL(b)
		benchStorage(b, dsn, func(ctx context.Context) int64 { return pgUsed(b, ctx, dsn) })
	})
}

func benchStorage(b *testing.B, dsn string, used func(context.Context) int64) {
	hs := testenv.StartSSHHosts(b, 2)
	var yml strings.Builder
	fmt.Fprintf(&yml, "files:\n  - path: /etc/motd\n    content: \"x\\n\"\nfleet:\n  ssh: {known_hosts: %s, config: none}\n  hosts:\n", hs.KnownHosts)
	for i, h := range hs.Hosts {
		fmt.Fprintf(&yml, "    h%d: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", i, h.Addr, hs.KeyFile)
	}
	url, _ := testenv.GitServer(b, "fleet", map[string]string{"chobolo.yml": yml.String()})
	base, post, token := benchServer(b, dsn, 2)
	post("/api/v1/projects", map[string]any{"name": "p", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	post("/api/v1/projects/p/refresh", nil, nil)
	run := func(kind string) {
		var j server.Job
		post("/api/v1/jobs", server.JobRequest{Project: "p", Kind: kind}, &j)
		waitBenchJob(b, base, token, j.ID)
	}
	run(server.KindApply) // the hosts are Synced: drift checks find nothing, as most do
	ctx := context.Background()
	before := used(ctx)
	runs := 0
	for b.Loop() {
		run(server.KindDriftCheck)
		runs += len(hs.Hosts)
	}
	b.StopTimer()
	per := float64(used(ctx)-before) / float64(runs)
	perDay := float64(storageHosts) * float64(24*time.Hour/storageInterval)
	b.ReportMetric(per, "bytes/host-run")
	b.ReportMetric(per*perDay*storageDays/(1<<30), "GiB-30d-10k-hosts")
	b.ReportMetric(per*perDay*7/(1<<30), "GiB-7d-retention")
}

// waitBenchJob polls a job until it has finished.
func waitBenchJob(b *testing.B, base, token string, id int64) {
	b.Helper()
	for range 3000 {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d", base, id), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		var j server.Job
		if err := getJSON(req, &j); err != nil {
			b.Fatal(err)
		}
		if j.Finished != nil {
			if j.State != server.StateSucceeded {
				b.Fatalf("job %d: %+v", id, j)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("job %d did not finish", id)
}

// sqliteUsed is the bytes of the SQLite file's pages in use, after a checkpoint of its WAL.
func sqliteUsed(b *testing.B, ctx context.Context, path string) int64 {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var pages, free, size int64
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())`).Scan(&pages, &free, &size)
	}
	if err != nil {
		b.Fatal(err)
	}
	return (pages - free) * size
}

// pgUsed is the size of the PostgreSQL database.
func pgUsed(b *testing.B, ctx context.Context, dsn string) int64 {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
