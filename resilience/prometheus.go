package resilience

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

func itoa(n int) string { return strconv.Itoa(n) }

type promObserver struct {
	attempts *prometheus.CounterVec   // op, result
	retries  *prometheus.CounterVec   // op, code
	giveUps  *prometheus.CounterVec   // op, code
	rejected *prometheus.CounterVec   // op
	delay    prometheus.Histogram     // seconds
	duration *prometheus.HistogramVec // op, outcome
	breaker  *prometheus.GaugeVec     // state
}

// Metric names registered by NewPrometheusObserver.
const (
	MetricAttempts     = "db_retry_attempts_total"        // counter{op,result="success"|"failure"}: every attempt
	MetricRetries      = "db_retry_retries_total"         // counter{op,code}: retries scheduled
	MetricGiveUps      = "db_retry_giveups_total"         // counter{op,code}: failed calls (code "none" = not an availability error)
	MetricRejected     = "db_retry_rejected_total"        // counter{op}: calls failed fast by the open breaker
	MetricDelay        = "db_retry_delay_seconds"         // histogram: backoff delays chosen
	MetricCallDuration = "db_retry_call_duration_seconds" // histogram{op,outcome="success"|"failure"}: whole calls, retries included
	MetricBreakerState = "db_retry_breaker_state"         // gauge{state="closed"|"open"|"half-open"}: 1 for the current state
)

// NewPrometheusObserver registers the metrics above on reg (never the global
// default registry unless the caller passes it) and records events.
// One observer serves one Executor: the breaker gauge tracks a single breaker.
func NewPrometheusObserver(reg prometheus.Registerer) (Observer, error) {
	o := &promObserver{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricAttempts, Help: "Database call attempts by result."}, []string{"op", "result"}),
		retries:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRetries, Help: "Retries scheduled by error code."}, []string{"op", "code"}),
		giveUps:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricGiveUps, Help: "Calls that failed for good, by error code."}, []string{"op", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRejected, Help: "Calls failed fast by the open circuit breaker."}, []string{"op"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricDelay, Help: "Backoff delay before a retry.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5}}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricCallDuration, Help: "Whole call duration including retries.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"op", "outcome"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricBreakerState, Help: "Circuit breaker state: 1 for the current state."}, []string{"state"}),
	}
	for _, c := range []prometheus.Collector{o.attempts, o.retries, o.giveUps, o.rejected, o.delay, o.duration, o.breaker} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	o.setBreaker(stateClosed)
	return o, nil
}

func codeLabel(c Code) string {
	if c == "" {
		return "none"
	}
	return string(c)
}

func (o *promObserver) setBreaker(state string) {
	for _, s := range []string{stateClosed, stateOpen, stateHalfOpen} {
		v := 0.0
		if s == state {
			v = 1
		}
		o.breaker.WithLabelValues(s).Set(v)
	}
}

func (o *promObserver) Observe(e Event) {
	switch e.Kind {
	case EventAttemptFailed:
		o.attempts.WithLabelValues(e.Op, "failure").Inc()
	case EventRetryScheduled:
		o.retries.WithLabelValues(e.Op, codeLabel(e.Code)).Inc()
		o.delay.Observe(e.Delay.Seconds())
	case EventSucceeded, EventSucceededAfterRetries:
		o.attempts.WithLabelValues(e.Op, "success").Inc()
		o.duration.WithLabelValues(e.Op, "success").Observe(e.Elapsed.Seconds())
	case EventGaveUp:
		o.giveUps.WithLabelValues(e.Op, codeLabel(e.Code)).Inc()
		o.duration.WithLabelValues(e.Op, "failure").Observe(e.Elapsed.Seconds())
	case EventRejected:
		o.rejected.WithLabelValues(e.Op).Inc()
	case EventBreakerStateChanged:
		o.setBreaker(e.State)
	}
}
