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
// proxy (toxiproxy, PgBouncer). The two alternate query by query, each
// pair in the other order than the last, so that drift on a shared
// machine falls on both alike; each round compares the two medians, which
// a stray slow query does not move.
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
	names := [2]string{"bare", "wrapped"}
	timeOne := func(v int) (float64, error) {
		start := time.Now()
		if err := variants[v](); err != nil {
			return 0, fmt.Errorf("overhead: %s query: %w", names[v], err)
		}
		return float64(time.Since(start)) / float64(time.Microsecond), nil
	}

	for i := range batch { // warm-up: the connection, PgBouncer's server link
		if _, err := timeOne(i % 2); err != nil {
			return nil, err
		}
	}
	var all [2][]Sample
	var ratios []Sample
	for r := range rounds {
		var round [2][]Sample
		for i := range batch {
			order := [2]int{0, 1}
			if (r+i)%2 == 1 {
				order = [2]int{1, 0}
			}
			for _, v := range order {
				us, err := timeOne(v)
				if err != nil {
					return nil, err
				}
				round[v] = append(round[v], Sample{Value: us})
			}
		}
		bare, wrapped := Summarize("µs", round[0]), Summarize("µs", round[1])
		ratios = append(ratios, Sample{Value: wrapped.Median.Value / bare.Median.Value})
		all[0] = append(all[0], round[0]...)
		all[1] = append(all[1], round[1]...)
	}
	res := &OverheadResult{
		Path: "host -> toxiproxy (pooler) -> PgBouncer -> Postgres", Query: overheadQuery,
		Rounds: rounds, Batch: batch,
		Bare: Summarize("µs", all[0]), Wrapped: Summarize("µs", all[1]), RoundRatio: Summarize("ratio", ratios),
	}
	res.OverheadPct = (res.RoundRatio.Median.Value - 1) * 100
	res.DiffUS = res.Wrapped.Median.Value - res.Bare.Median.Value
	return res, nil
}
