package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/resilience"
)

// overheadQuery is the bot's prompt lookup.
const overheadQuery = "SELECT prompt FROM chat_prompts WHERE chat_id = $1"

// overhead times the same query bare and through a resilience.Executor
// with the default policy, over one pooled connection through the pooler
// proxy (toxiproxy, PgBouncer). Rounds alternate which variant goes first,
// so that drift on a shared machine falls on both alike.
func overhead(ctx context.Context, dsn, chat string, rounds, batch int) (*OverheadResult, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("overhead: pool config: %w", err)
	}
	// As the bot does for pgbouncer=true: no named prepared statements.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.ConnConfig.StatementCacheCapacity = 0
	cfg.ConnConfig.DescriptionCacheCapacity = 0
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("overhead: pool: %w", err)
	}
	defer pool.Close()
	x, err := resilience.New(resilience.DefaultPolicy(), resilience.WithAddr(resilience.AddrFromDSN(dsn)))
	if err != nil {
		return nil, fmt.Errorf("overhead: executor: %w", err)
	}
	lookup := func(ctx context.Context) (string, error) {
		var prompt string
		err := pool.QueryRow(ctx, overheadQuery, chat).Scan(&prompt)
		return prompt, err
	}
	op := resilience.Op{Name: "getCustomPrompt"}
	variants := [2]func() error{
		func() error { _, err := lookup(ctx); return err },
		func() error { _, _, err := resilience.Query(ctx, x, op, lookup); return err },
	}
	timeBatch := func(v int, into *[]Sample) (float64, error) {
		var total time.Duration
		for range batch {
			start := time.Now()
			if err := variants[v](); err != nil {
				return 0, fmt.Errorf("overhead: %s query: %w", [2]string{"bare", "wrapped"}[v], err)
			}
			d := time.Since(start)
			total += d
			*into = append(*into, Sample{Value: float64(d) / float64(time.Microsecond)})
		}
		return float64(total) / float64(batch), nil
	}

	var discard, bare, wrapped, ratios []Sample
	for v := range variants { // warm-up: connection, pgbouncer's server link
		if _, err := timeBatch(v, &discard); err != nil {
			return nil, err
		}
	}
	for r := range rounds {
		var mean [2]float64
		order := [2]int{0, 1}
		if r%2 == 1 {
			order = [2]int{1, 0}
		}
		for _, v := range order {
			into := &bare
			if v == 1 {
				into = &wrapped
			}
			if mean[v], err = timeBatch(v, into); err != nil {
				return nil, err
			}
		}
		ratios = append(ratios, Sample{Value: mean[1] / mean[0]})
	}
	res := &OverheadResult{
		Path: "host -> toxiproxy (pooler) -> PgBouncer -> Postgres", Query: overheadQuery,
		Rounds: rounds, Batch: batch,
		Bare: Summarize("µs", bare), Wrapped: Summarize("µs", wrapped), RoundRatio: Summarize("ratio", ratios),
	}
	res.OverheadPct = (res.RoundRatio.Median.Value - 1) * 100
	res.DiffUS = res.Wrapped.Median.Value - res.Bare.Median.Value
	return res, nil
}
