package resilience

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSlogObserverLines(t *testing.T) {
	var buf bytes.Buffer
	o := NewSlogObserver(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	leaky := fmt.Errorf("failed to connect to postgres://app:%s@db/app", testPassword)
	o.Observe(Event{Kind: EventRetryScheduled, Op: "getCustomPrompt", Attempt: 1, MaxAttempts: 3, Delay: 180*time.Millisecond + 300*time.Microsecond, Code: CodeUnreachable, Err: leaky})
	o.Observe(Event{Kind: EventGaveUp, Op: "getCustomPrompt", Attempt: 3, MaxAttempts: 3, Code: CodeUnreachable, Err: leaky, Elapsed: 700 * time.Millisecond})
	o.Observe(Event{Kind: EventBreakerStateChanged, State: "open"})
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="[Prisma Retry] Attempt 1/3 failed, retrying in 180ms..." op=getCustomPrompt code=P1001 attempt=1 max_attempts=3 delay_ms=180`,
		`level=ERROR msg="[Prisma Retry] Giving up after 3/3 attempts" op=getCustomPrompt code=P1001 attempt=3 max_attempts=3 elapsed_ms=700`,
		`msg="[Prisma Retry] Circuit breaker open" state=open`,
		`postgres://app:xxxxx@db/app`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testPassword) {
		t.Errorf("log leaks the password:\n%s", out)
	}
}

// The executor's own events produce the documented line.
func TestSlogObserverThroughExecutor(t *testing.T) {
	refused := refusedErr(t)
	var buf bytes.Buffer
	p := shortPolicy()
	p.MaxAttempts, p.BaseDelay, p.MaxDelay, p.Jitter = 2, 20*time.Millisecond, 20*time.Millisecond, false
	x, err := New(p, WithObserver(NewSlogObserver(slog.New(slog.NewTextHandler(&buf, nil)))))
	if err != nil {
		t.Fatal(err)
	}
	x.Do(context.Background(), Op{Name: "getCustomPrompt"}, func(context.Context) error { return refused })
	if want := `msg="[Prisma Retry] Attempt 1/2 failed, retrying in 20ms..." op=getCustomPrompt code=P1001 attempt=1`; !strings.Contains(buf.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, buf.String())
	}
}

func TestPrometheusObserver(t *testing.T) {
	refused := refusedErr(t)
	reg := prometheus.NewRegistry()
	po, err := NewPrometheusObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := breakerPolicy() // 2 attempts, opens after 2 failed calls
	x, err := New(p, WithObserver(po))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	x.Do(ctx, Op{Name: "get"}, func(context.Context) error { return nil })
	x.Do(ctx, Op{Name: "get"}, func(context.Context) error { return refused })
	x.Do(ctx, Op{Name: "get"}, func(context.Context) error { return refused })
	x.Do(ctx, Op{Name: "get"}, func(context.Context) error { return nil }) // rejected: open

	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"success attempts", po.(*promObserver).attempts.WithLabelValues("get", "success"), 1},
		{"failed attempts", po.(*promObserver).attempts.WithLabelValues("get", "failure"), 4},
		{"retries", po.(*promObserver).retries.WithLabelValues("get", "P1001"), 2},
		{"give-ups", po.(*promObserver).giveUps.WithLabelValues("get", "P1001"), 2},
		{"rejected", po.(*promObserver).rejected.WithLabelValues("get"), 1},
		{"breaker open", po.(*promObserver).breaker.WithLabelValues("open"), 1},
		{"breaker closed", po.(*promObserver).breaker.WithLabelValues("closed"), 0},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, MetricDelay); n != 1 {
		t.Errorf("%s series = %d", MetricDelay, n)
	}
	// Registering twice on one registry must fail loudly, not panic.
	if _, err := NewPrometheusObserver(reg); err == nil {
		t.Error("second registration on the same registry succeeded")
	}
}

func TestObserversFanOut(t *testing.T) {
	var a, b recorder
	Observers{&a, nil, &b}.Observe(Event{Kind: EventSucceeded})
	if len(a.events) != 1 || len(b.events) != 1 {
		t.Errorf("fan-out reached %d and %d observers' events", len(a.events), len(b.events))
	}
	var got []EventKind
	ObserverFunc(func(e Event) { got = append(got, e.Kind) }).Observe(Event{Kind: EventGaveUp})
	if len(got) != 1 || got[0] != EventGaveUp {
		t.Errorf("ObserverFunc got %v", got)
	}
}
