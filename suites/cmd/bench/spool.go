package main

import (
	"context"
	"fmt"

	"github.com/p1001/p1001/suites/report/bench"
)

// spoolCost runs the healthy closed loop against each spool configuration,
// SpoolRounds times in turn.
func (b *bencher) spoolCost(ctx context.Context, r *bench.Report) error {
	for round := range b.opts.SpoolRounds {
		for _, c := range bench.SpoolConfigs() {
			b.log.Info("durable outbox cost: healthy throughput", "config", c.Name, "round", round+1, "of", b.opts.SpoolRounds)
			var res bench.ThroughputResult
			err := b.withBot(ctx, &c, r, func(bot *botRun) (err error) {
				res, err = b.throughput(ctx, bot, bench.SettingHealthy)
				return err
			})
			if err != nil {
				return fmt.Errorf("durable outbox cost, %s: %w", c.Name, err)
			}
			res.Config = c.Name
			r.Spool = append(r.Spool, res)
		}
	}
	return nil
}
