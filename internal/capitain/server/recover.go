package server

import (
	"context"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

// RecoveryToken opens cfg's database (as the server does: a SQLite file only while no server
// holds it) and issues a one-hour token for the enabled global admin user: the way back in when
// every admin token is lost. Only whoever can open the database can do it; no API route does.
func RecoveryToken(ctx context.Context, cfg Config, user string) (string, error) {
	if err := cfg.defaults(); err != nil {
		return "", err
	}
	st, err := openStore(ctx, cfg.DB)
	if err != nil {
		return "", err
	}
	defer st.close()
	if err := auth.Migrate(ctx, st.db, st.dialect()); err != nil {
		return "", err
	}
	return auth.New(st.db, st.dialect()).RecoveryToken(ctx, user)
}
