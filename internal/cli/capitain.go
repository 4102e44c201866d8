package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

func (a *app) capitainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capitain",
		Short: "Capitain, the central server: projects, hosts, jobs, API (docs/capitain.md)",
	}
	cmd.AddCommand(a.capitainServeCmd(), a.capitainRecoverCmd())
	cmd.AddCommand(a.capitainClientCmds()...)
	return cmd
}

func (a *app) capitainRecoverCmd() *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "recover USER",
		Short: "Print a one-hour token for a global admin, from the server's database (when every admin token is lost)",
		Long: `Open the server's database directly (--data and --db as for serve; a SQLite database only while
no server runs on it) and print a new API token for the enabled global admin USER, valid one hour,
with every scope. It is in the audit log as the system's. There is no API route to this: only
whoever can open the database can do it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := server.RecoveryToken(cmd.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.Data, "data", "", "data directory (default $XDG_DATA_HOME/chaos/capitain)")
	cmd.Flags().StringVar(&cfg.DB, "db", "", "database: a SQLite file or a postgres:// DSN (default DATA/capitain.db; $CHAOS_CAPITAIN_DB)")
	return cmd
}

func (a *app) capitainServeCmd() *cobra.Command {
	var cfg server.Config
	var file string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Capitain server (SQLite in the data directory, 127.0.0.1:8080, by default)",
		Long: `Serve the Capitain API on --listen (default 127.0.0.1:8080) with its database in --db: a SQLite file
(default DATA/capitain.db, DATA being --data or $XDG_DATA_HOME/chaos/capitain) or a postgres:// DSN
(also $CHAOS_CAPITAIN_DB). The first start creates the global admin "admin" and prints its token
once (stored hashed, valid 7 days): log in with it (chaos capitain login URL), then create users
and tokens. --config reads a YAML file with the same keys as the flags (data, db, listen, workers,
node_timeout, max_body, read_timeout, trusted_proxies, session_ttl); flags override it.`,
		Example: `  chaos capitain serve
  chaos capitain serve --db postgres://capitain@db/capitain --listen 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				fc, err := server.LoadConfig(file)
				if err != nil {
					return err
				}
				fl := cmd.Flags()
				if !fl.Changed("data") {
					cfg.Data = fc.Data
				}
				if !fl.Changed("db") {
					cfg.DB = fc.DB
				}
				if !fl.Changed("listen") {
					cfg.Listen = fc.Listen
				}
				if !fl.Changed("workers") {
					cfg.Workers = fc.Workers
				}
				cfg.NodeTimeout, cfg.MaxBody, cfg.ReadTimeout = fc.NodeTimeout, fc.MaxBody, fc.ReadTimeout
				cfg.TrustedProxies, cfg.SessionTTL = fc.TrustedProxies, fc.SessionTTL
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			srv, err := server.New(ctx, cfg, a.stdout, log)
			if err != nil {
				return err
			}
			return srv.Serve(ctx, a.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Data, "data", "", "data directory (default $XDG_DATA_HOME/chaos/capitain)")
	f.StringVar(&cfg.DB, "db", "", "database: a SQLite file or a postgres:// DSN (default DATA/capitain.db; $CHAOS_CAPITAIN_DB)")
	f.StringVar(&cfg.Listen, "listen", "", "address to listen on (default 127.0.0.1:8080)")
	f.IntVar(&cfg.Workers, "workers", 0, "hosts run at once by this server (default 16; -1: none, an API-only replica)")
	f.StringVar(&file, "config", "", "YAML config file (keys as the flags)")
	return cmd
}
