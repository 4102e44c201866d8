package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own (two servers in one
// process, as in tests, do not collide).
type metrics struct {
	reg          *prometheus.Registry
	jobsCreated  *prometheus.CounterVec
	jobDuration  *prometheus.HistogramVec
	hostDuration *prometheus.HistogramVec
	api          *prometheus.HistogramVec
	refreshes    prometheus.Counter

	notifications *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.jobsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capitain_jobs_created_total",
		Help: "Jobs created, by kind."}, []string{"kind"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "capitain_job_duration_seconds",
		Help: "From creation to the last host's end, by kind and final state.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)},
		[]string{"kind", "state"})
	m.hostDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "capitain_host_duration_seconds",
		Help: "One host's run, by job kind and outcome.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)},
		[]string{"kind", "outcome"})
	m.api = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "capitain_api_request_duration_seconds",
		Help: "API latency by route and status.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
		[]string{"route", "code"})
	m.refreshes = prometheus.NewCounter(prometheus.CounterOpts{Name: "capitain_project_refreshes_total", Help: "Project refreshes."})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capitain_notifications_total",
		Help: "Notification delivery attempts and drops, by channel, event and outcome (delivered, retried, failed, dropped)."},
		[]string{"channel", "event", "outcome"})
	return m
}

// register adds the collectors, the ones read from the database included (jobs by kind and
// state, hosts by sync status, queue depth: every replica reports the shared numbers).
func (m *metrics) register(srv *Server) {
	m.reg.MustRegister(m.jobsCreated, m.jobDuration, m.hostDuration, m.api, m.refreshes, m.notifications,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&dbCollector{srv: srv},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "capitain_notifications_pending",
			Help: "Notification deliveries queued, waiting to retry or being sent."}, func() float64 {
			if srv.notifier == nil {
				return 0
			}
			return float64(srv.notifier.Pending())
		}))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descJobs  = prometheus.NewDesc("capitain_jobs", "Jobs by kind and state.", []string{"kind", "state"}, nil)
	descHosts = prometheus.NewDesc("capitain_hosts", "Hosts by sync status.", []string{"status"}, nil)
	descQueue = prometheus.NewDesc("capitain_queue_depth", "Host jobs waiting in the queue (available, scheduled, retryable).", nil, nil)
)

type dbCollector struct{ srv *Server }

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descHosts
	ch <- descQueue
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db := c.srv.store.db
	if rows, err := db.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM capitain_jobs GROUP BY kind, state`); err == nil {
		for rows.Next() {
			var k, s string
			var n float64
			if rows.Scan(&k, &s, &n) == nil {
				ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, n, k, s)
			}
		}
		rows.Close()
	}
	if counts, err := c.srv.store.hostCounts(ctx, true, nil); err == nil {
		for s, n := range counts {
			ch <- prometheus.MustNewConstMetric(descHosts, prometheus.GaugeValue, float64(n), s)
		}
	}
	var n float64
	if db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'capitain_host' AND state IN ('available', 'scheduled', 'retryable')`).Scan(&n) == nil {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, n)
	}
}

// instrument records the API latency of a route.
func (srv *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		srv.metrics.api.WithLabelValues(route, http.StatusText(sw.code)).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (an event stream clears its deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
