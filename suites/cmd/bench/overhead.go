package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/report/bench"
)

// overheadQuery is the bot's prompt lookup.
const overheadQuery = "SELECT prompt FROM chat_prompts WHERE chat_id = $1"

// overhead times the same query three ways over one pooled connection
// through the pooler proxy (toxiproxy, PgBouncer): bare with a context
// that has no deadline, bare with the attempt timeout's deadline (what any
// caller with a timeout pays: pgx then watches the context), and through
// a resilience.Executor with the default policy, called as the bot calls
// it for a lookup (a caller's context that cannot be canceled, the pool's
// tracer resilience.QueryDeadlines). The three take turns
// query by query, each in another order than the last, so that drift on
// a shared machine falls on all alike; each round compares medians, which
// a stray slow query does not move.
func overhead(ctx context.Context, dsn, chat string, rounds, batch int) (*bench.OverheadResult, error) {
	// The pool as the bot configures it from pgbouncer=true (exec mode, no
	// statement caches), with one connection.
	cfg, err := dburl.Parse("the pooler DSN", dsn+"&pgbouncer=true&connection_limit=1")
	if err != nil {
		return nil, fmt.Errorf("overhead: %w", err)
	}
	// The bot's tracer: a lookup's query runs unwatched, bounded by its
	// socket's deadline. The bare variants' queries pass through it too.
	resilience.InstallQueryDeadlines(cfg.Pool.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Pool)
	if err != nil {
		return nil, fmt.Errorf("overhead: pool: %w", err)
	}
	defer pool.Close()
	policy := resilience.DefaultPolicy()
	x, err := resilience.New(policy, resilience.WithTarget(cfg.Target()))
	if err != nil {
		return nil, fmt.Errorf("overhead: executor: %w", err)
	}
	lookup := func(ctx context.Context) (string, error) {
		var prompt string
		err := pool.QueryRow(ctx, overheadQuery, chat).Scan(&prompt)
		return prompt, err
	}
	// The caller's ctx would be watched too; the bare variants must not be.
	background := context.WithoutCancel(ctx)
	const bare, deadline, wrapped = 0, 1, 2
	variants := [3]struct {
		name string
		run  func() error
	}{
		bare: {"bare", func() error { _, err := lookup(background); return err }},
		deadline: {"bare with a deadline", func() error {
			actx, cancel := context.WithTimeout(background, policy.AttemptTimeout)
			defer cancel()
			_, err := lookup(actx)
			return err
		}},
		wrapped: {"wrapped", func() error {
			// As the bot's lookup: detached from the request (it runs on
			// past the reply deadline), bounded by the policy alone.
			_, _, err := resilience.Query(background, x, resilience.Op{Name: "getCustomPrompt"}, lookup)
			return err
		}},
	}
	var all [3][]bench.Sample
	var ratios, ratiosDeadline []bench.Sample
	// Round -1 is the warm-up (the connection, PgBouncer's server link).
	for r := -1; r < rounds; r++ {
		var round [3][]bench.Sample
		for i := range batch {
			for k := range variants {
				v := (r + 1 + i + k) % len(variants)
				start := time.Now()
				if err := variants[v].run(); err != nil {
					return nil, fmt.Errorf("overhead: %s query: %w", variants[v].name, err)
				}
				round[v] = append(round[v], bench.Sample{Value: float64(time.Since(start)) / float64(time.Microsecond)})
			}
		}
		if r < 0 {
			continue
		}
		var med [3]float64
		for v := range round {
			med[v] = bench.Summarize("µs", round[v]).Median.Value
			all[v] = append(all[v], round[v]...)
		}
		ratios = append(ratios, bench.Sample{Value: med[wrapped] / med[bare]})
		ratiosDeadline = append(ratiosDeadline, bench.Sample{Value: med[wrapped] / med[deadline]})
	}
	res := &bench.OverheadResult{
		Path: "host -> toxiproxy (pooler) -> PgBouncer -> Postgres", Query: overheadQuery,
		Rounds: rounds, Batch: batch,
		Bare: bench.Summarize("µs", all[bare]), BareDeadline: bench.Summarize("µs", all[deadline]), Wrapped: bench.Summarize("µs", all[wrapped]),
		RoundRatio: bench.Summarize("ratio", ratios), RoundRatioDeadline: bench.Summarize("ratio", ratiosDeadline),
	}
	res.OverheadPct = (res.RoundRatio.Median.Value - 1) * 100
	res.OverheadDeadlinePct = (res.RoundRatioDeadline.Median.Value - 1) * 100
	res.DiffUS = res.Wrapped.Median.Value - res.Bare.Median.Value
	return res, nil
}
