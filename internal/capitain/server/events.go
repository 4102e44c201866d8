package server

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// Event is one stored event of a job: a pkg/chaos event (docs/events.md) of one host, numbered
// in the order it was stored (Seq, from 1, per job).
type Event struct {
	Seq  int64           `json:"seq"`
	Host string          `json:"host"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// eventWriter stores one host's events in order, in batches, from its own goroutine (a run is
// never slowed by the database more than its buffer allows).
type eventWriter struct {
	srv   *Server
	job   int64
	host  string
	strip string // the server's directory of the commit, taken out of file paths
	ch    chan chaos.Event
	done  chan error
}

func (srv *Server) newEventWriter(job int64, host, strip string) *eventWriter {
	w := &eventWriter{srv: srv, job: job, host: host, strip: strip, ch: make(chan chaos.Event, 1024), done: make(chan error, 1)}
	go w.loop()
	return w
}

func (w *eventWriter) add(ev chaos.Event) { w.ch <- ev }

// close waits until every event is stored and returns the first error.
func (w *eventWriter) close() error {
	close(w.ch)
	return <-w.done
}

func (w *eventWriter) loop() {
	var first error
	for ev := range w.ch {
		batch := []chaos.Event{ev}
	more:
		for len(batch) < 256 {
			select {
			case ev, ok := <-w.ch:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		if err := w.srv.store.appendEvents(context.Background(), w.job, w.host, w.strip, batch); err != nil && first == nil {
			first = err
		}
		w.srv.hub.signal(w.job)
	}
	w.done <- first
}

// appendEvents stores events of one job with the next sequence numbers. On PostgreSQL an
// advisory lock per job orders concurrent writers (a sequence number is never committed after a
// larger one, so a reader resuming after N misses nothing), and NOTIFY wakes the streams of every
// replica; SQLite has one writer.
func (s *store) appendEvents(ctx context.Context, job int64, host, strip string, evs []chaos.Event) error {
	prefix, _ := json.Marshal(strip + "/")
	prefix = prefix[1 : len(prefix)-1] // as it appears inside a JSON string
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(1667330164, ($1 % 2147483647)::int)`, job); err != nil {
			return err
		}
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(seq), 0) FROM capitain_events WHERE job_id = ?`), job).Scan(&seq); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO capitain_events (job_id, seq, host, type, at, data) VALUES `)
	args := make([]any, 0, 6*len(evs))
	for i, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if strip != "" {
			data = bytes.ReplaceAll(data, prefix, nil)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
		seq++
		args = append(args, job, seq, host, string(ev.Type), ev.Time.UnixNano(), string(data))
	}
	if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
		return err
	}
	if s.postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify('capitain_events', $1)`, strconv.FormatInt(job, 10)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// events reads a job's events after seq, at most limit.
func (s *store) events(ctx context.Context, job, after int64, limit int) ([]*Event, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, host, type, at, data FROM capitain_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		job, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var e Event
		var at int64
		var data string
		if err := rows.Scan(&e.Seq, &e.Host, &e.Type, &at, &data); err != nil {
			return nil, err
		}
		e.Time, e.Data = time.Unix(0, at).UTC(), json.RawMessage(data)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// hub wakes the event streams of a job in this process (a write here, or a NOTIFY from another
// replica).
type hub struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]bool
}

func (h *hub) subscribe(job int64) (ch chan struct{}, cancel func()) {
	ch = make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[int64]map[chan struct{}]bool{}
	}
	if h.subs[job] == nil {
		h.subs[job] = map[chan struct{}]bool{}
	}
	h.subs[job][ch] = true
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[job], ch)
		if len(h.subs[job]) == 0 {
			delete(h.subs, job)
		}
		h.mu.Unlock()
	}
}

func (h *hub) signal(job int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[job] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// listen relays the NOTIFYs of other replicas to the hub until ctx ends (PostgreSQL only).
func (srv *Server) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := srv.store.pool.Acquire(ctx)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		if _, err := conn.Exec(ctx, `LISTEN capitain_events`); err == nil {
			for {
				n, err := conn.Conn().WaitForNotification(ctx)
				if err != nil {
					break
				}
				if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
					srv.hub.signal(id)
				}
			}
		}
		// A connection that listened goes, not back to the pool.
		_ = conn.Hijack().Close(context.Background())
	}
}
