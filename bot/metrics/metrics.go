// Package metrics is the bot's Prometheus registry: replies by prompt
// source, degraded replies, commands, the outbox, pgxpool statistics,
// database state and HTTP traffic. The retry layer registers its own
// db_retry_* metrics (attempts, retries, give-ups, breaker state) on the same
// registry. Nothing uses the global default registry.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/msglog"
)

// Metrics holds the registry and the bot's own collectors.
type Metrics struct {
	Registry *prometheus.Registry

	replies            *prometheus.CounterVec
	degraded           *prometheus.CounterVec
	attempts           *prometheus.HistogramVec
	replyDuration      *prometheus.HistogramVec
	commands           *prometheus.CounterVec
	responderFallbacks prometheus.Counter
	telegram           *prometheus.CounterVec
	httpRequests       *prometheus.CounterVec
	httpDuration       *prometheus.HistogramVec
	httpUnauthorized   *prometheus.CounterVec
}

// New returns a registry with the Go and process collectors, build info and
// the bot's counters.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{Registry: reg}

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bot_build_info", Help: "Build information; always 1."},
		[]string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	f(build)

	m.replies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_replies_total", Help: "Replies sent, by the prompt they used and whether the database failed them.",
	}, []string{"prompt_source", "degraded"})
	m.degraded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_degraded_replies_total", Help: "Replies given while the database call behind them failed, by Prisma code.",
	}, []string{"code"})
	m.attempts = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bot_reply_db_attempts", Help: "Database attempts behind each reply.", Buckets: []float64{0, 1, 2, 3, 4, 5, 8},
	}, []string{"degraded"})
	m.replyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bot_reply_duration_seconds", Help: "Time to produce a reply, database and responder included.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2.5, 5, 10},
	}, []string{"prompt_source"})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_commands_total", Help: "Commands answered, by command and outcome (ok or degraded).",
	}, []string{"command", "outcome"})
	m.responderFallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bot_responder_fallbacks_total", Help: "Replies where the language model was unreachable and the fallback text was sent.",
	})
	m.telegram = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_telegram_updates_total", Help: "Telegram webhook updates, by outcome.",
	}, []string{"outcome"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_http_requests_total", Help: "HTTP requests, by route, method and status code.",
	}, []string{"handler", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bot_http_request_duration_seconds", Help: "HTTP request latency, by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"handler"})
	m.httpUnauthorized = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bot_http_unauthorized_total", Help: "Message API requests refused for a missing, malformed or wrong API token.",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{m.replies, m.degraded, m.attempts, m.replyDuration, m.commands,
		m.responderFallbacks, m.telegram, m.httpRequests, m.httpDuration, m.httpUnauthorized} {
		f(c)
	}
	// Start the labelled series at zero so that rate() works from the first scrape.
	for _, src := range []chat.PromptSource{chat.SourceCustom, chat.SourceCached, chat.SourceDefault} {
		m.replies.WithLabelValues(string(src), "false")
		m.replies.WithLabelValues(string(src), "true")
	}
	for _, reason := range []string{httpapi.AuthMissing, httpapi.AuthMalformed, httpapi.AuthWrong} {
		m.httpUnauthorized.WithLabelValues(reason)
	}
	return m
}

// knownCommands bounds the command label's cardinality.
var knownCommands = map[string]bool{"/setprompt": true, "/prompt": true, "/reset": true, "/help": true, "/start": true}

// ObserveReply implements chat.Observer.
func (m *Metrics) ObserveReply(r chat.Reply, elapsed time.Duration) {
	degraded := "false"
	if r.Degraded {
		degraded = "true"
		m.degraded.WithLabelValues(r.Code).Inc()
	}
	m.replies.WithLabelValues(string(r.PromptSource), degraded).Inc()
	m.attempts.WithLabelValues(degraded).Observe(float64(r.Attempts))
	m.replyDuration.WithLabelValues(string(r.PromptSource)).Observe(elapsed.Seconds())
	if r.Command != "" {
		cmd := r.Command
		if !knownCommands[cmd] {
			cmd = "unknown"
		}
		outcome := "ok"
		if r.Degraded {
			outcome = "degraded"
		}
		m.commands.WithLabelValues(cmd, outcome).Inc()
	}
}

// ResponderFallback counts a fallback reply (responder.NewOpenAI's hook).
func (m *Metrics) ResponderFallback(error) { m.responderFallbacks.Inc() }

// TelegramUpdate counts a webhook update by outcome.
func (m *Metrics) TelegramUpdate(outcome string) { m.telegram.WithLabelValues(outcome).Inc() }

// Unauthorized counts a message API request refused for its token
// (httpapi.Options.Unauthorized).
func (m *Metrics) Unauthorized(reason string) { m.httpUnauthorized.WithLabelValues(reason).Inc() }

// Instrument wraps an HTTP handler with request counters and latency.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"handler": route}
	return promhttp.InstrumentHandlerCounter(m.httpRequests.MustCurryWith(labels),
		promhttp.InstrumentHandlerDuration(m.httpDuration.MustCurryWith(labels), h))
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// RegisterOutbox exposes the outbox's depth and counters.
func (m *Metrics) RegisterOutbox(o *msglog.Outbox) {
	stat := func(f func(msglog.Stats) float64) func() float64 { return func() float64 { return f(o.Stats()) } }
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_outbox_depth", Help: "Message-log records waiting for the database."},
			stat(func(s msglog.Stats) float64 { return float64(s.Depth) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_outbox_capacity", Help: "Most records the outbox holds (OUTBOX_CAPACITY)."},
			stat(func(s msglog.Stats) float64 { return float64(s.Capacity) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_flushed_total", Help: "Message-log records written to the database."},
			stat(func(s msglog.Stats) float64 { return float64(s.Flushed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_dropped_total", Help: "Records refused because the outbox was full.",
			ConstLabels: prometheus.Labels{"reason": "overflow"}},
			stat(func(s msglog.Stats) float64 { return float64(s.DroppedOverflow) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_rejected_total", Help: "Records the database refused permanently (bad data) and that were dropped."},
			stat(func(s msglog.Stats) float64 { return float64(s.DroppedRejected) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_lost_total", Help: "Records still queued when shutdown gave up on the database."},
			stat(func(s msglog.Stats) float64 { return float64(s.Lost) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_failed_writes_total", Help: "Failed batch writes (each retried)."},
			stat(func(s msglog.Stats) float64 { return float64(s.FailedWrites) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_kept_total", Help: "Records left in the spool at shutdown for the next start."},
			stat(func(s msglog.Stats) float64 { return float64(s.Kept) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_outbox_replayed_total", Help: "Records found in the spool at start and queued first."},
			stat(func(s msglog.Stats) float64 { return float64(s.Replayed) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_spool_durable", Help: "1 when message-log records are written to the spool (SPOOL_PATH) before the reply leaves."},
			stat(func(s msglog.Stats) float64 {
				if s.Durable {
					return 1
				}
				return 0
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_spool_bytes", Help: "Encoded size of the records in the spool."},
			stat(func(s msglog.Stats) float64 { return float64(s.SpoolBytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_spool_max_bytes", Help: "Most bytes of records the spool holds (SPOOL_MAX_BYTES)."},
			stat(func(s msglog.Stats) float64 { return float64(s.SpoolMaxBytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_spool_errors_total", Help: "Failed spool writes or deletes."},
			stat(func(s msglog.Stats) float64 { return float64(s.SpoolErrors) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bot_spool_corrupt_total", Help: "Unreadable spool files moved aside at start."},
			stat(func(s msglog.Stats) float64 { return float64(s.SpoolCorrupt) })),
	)
}

// RegisterHealth exposes the tracked database state.
func (m *Metrics) RegisterHealth(t *health.Tracker) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_db_up", Help: "1 when the last finished database call reached the server, 0 when it failed for availability or none finished yet."},
			func() float64 {
				if t.Snapshot().DB.State == health.StateUp {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bot_db_migrated", Help: "1 once the embedded migrations are applied."},
			func() float64 {
				if t.Snapshot().DB.Migrated {
					return 1
				}
				return 0
			}),
	)
}

// LookupCounter reports the prompt lookups running now (*chat.Handler).
type LookupCounter interface{ LookupsInFlight() int }

// RegisterLookups exposes the prompt lookups in flight: one per chat at
// most, MAX_PROMPT_LOOKUPS in all; past the reply deadline they run on
// in the background.
func (m *Metrics) RegisterLookups(l LookupCounter) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bot_prompt_lookups_in_flight",
		Help: "Prompt lookups running now, those replies stopped waiting for (REPLY_DEADLINE) included.",
	}, func() float64 { return float64(l.LookupsInFlight()) }))
}

// RegisterPool exposes pgxpool statistics.
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) {
	m.Registry.MustRegister(&poolCollector{pool: pool})
}

type poolCollector struct{ pool *pgxpool.Pool }

var poolDescs = struct {
	max, total, idle, acquired, constructing                       *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires, acquireSeconds      *prometheus.Desc
	newConns, lifetimeDestroys, idleDestroys, emptyAcquireWaitSecs *prometheus.Desc
}{
	max:                  prometheus.NewDesc("bot_db_pool_max_conns", "Pool size limit (connection_limit).", nil, nil),
	total:                prometheus.NewDesc("bot_db_pool_total_conns", "Connections open or being opened.", nil, nil),
	idle:                 prometheus.NewDesc("bot_db_pool_idle_conns", "Idle connections.", nil, nil),
	acquired:             prometheus.NewDesc("bot_db_pool_acquired_conns", "Connections in use.", nil, nil),
	constructing:         prometheus.NewDesc("bot_db_pool_constructing_conns", "Connections being opened.", nil, nil),
	acquires:             prometheus.NewDesc("bot_db_pool_acquires_total", "Successful acquires.", nil, nil),
	emptyAcquires:        prometheus.NewDesc("bot_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", nil, nil),
	canceledAcquires:     prometheus.NewDesc("bot_db_pool_canceled_acquires_total", "Acquires given up (context done, e.g. pool_timeout).", nil, nil),
	acquireSeconds:       prometheus.NewDesc("bot_db_pool_acquire_seconds_total", "Time spent in successful acquires.", nil, nil),
	newConns:             prometheus.NewDesc("bot_db_pool_new_conns_total", "Connections opened.", nil, nil),
	lifetimeDestroys:     prometheus.NewDesc("bot_db_pool_max_lifetime_destroys_total", "Connections closed for their age.", nil, nil),
	idleDestroys:         prometheus.NewDesc("bot_db_pool_max_idle_destroys_total", "Connections closed for idleness.", nil, nil),
	emptyAcquireWaitSecs: prometheus.NewDesc("bot_db_pool_empty_acquire_wait_seconds_total", "Time spent waiting in acquires that found the pool empty.", nil, nil),
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := poolDescs
	for _, desc := range []*prometheus.Desc{d.max, d.total, d.idle, d.acquired, d.constructing, d.acquires, d.emptyAcquires,
		d.canceledAcquires, d.acquireSeconds, d.newConns, d.lifetimeDestroys, d.idleDestroys, d.emptyAcquireWaitSecs} {
		ch <- desc
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	d := poolDescs
	g := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	k := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	g(d.max, float64(s.MaxConns()))
	g(d.total, float64(s.TotalConns()))
	g(d.idle, float64(s.IdleConns()))
	g(d.acquired, float64(s.AcquiredConns()))
	g(d.constructing, float64(s.ConstructingConns()))
	k(d.acquires, float64(s.AcquireCount()))
	k(d.emptyAcquires, float64(s.EmptyAcquireCount()))
	k(d.canceledAcquires, float64(s.CanceledAcquireCount()))
	k(d.acquireSeconds, s.AcquireDuration().Seconds())
	k(d.newConns, float64(s.NewConnsCount()))
	k(d.lifetimeDestroys, float64(s.MaxLifetimeDestroyCount()))
	k(d.idleDestroys, float64(s.MaxIdleDestroyCount()))
	k(d.emptyAcquireWaitSecs, s.EmptyAcquireWaitTime().Seconds())
}
