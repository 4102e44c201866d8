package server

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

// Who may do what is internal/capitain/auth: every API request passes its Middleware (the
// principal of a Bearer token or a session cookie goes into the request's context), each route
// names the auth.Action it needs, and each change writes its audit entry in its own transaction.

// principal is who the request (or a caller of Refresh, CreateJob, CancelJob) acts as: the
// request's principal, or the server itself (schedules, webhooks) when the context has none.
func principal(ctx context.Context) *auth.Principal {
	if p := auth.FromContext(ctx); p != nil {
		return p
	}
	return auth.System()
}

// audit writes e for ctx's principal in tx.
func (srv *Server) audit(ctx context.Context, tx *sql.Tx, e auth.Entry) error {
	return srv.auth.Record(ctx, tx, principal(ctx), e)
}

// dialect is the database's, for internal/capitain/auth.
func (s *store) dialect() auth.Dialect {
	if s.postgres {
		return auth.Postgres
	}
	return auth.SQLite
}

// authError writes an error of internal/capitain/auth (401, 403, 404, 409, 429, 400).
func authError(w http.ResponseWriter, err error) {
	var ra *auth.RetryAfter
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(int((ra.Wait+time.Second-1)/time.Second)))
	}
	auth.WriteError(w, err)
}
