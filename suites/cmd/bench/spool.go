package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/p1001/p1001/suites/report/bench"
)

// spoolCost runs the healthy closed loop against each spool configuration,
// SpoolRounds times in turn.
func (b *bencher) spoolCost(ctx context.Context, r *bench.Report) error {
	for round := range b.opts.SpoolRounds {
		for _, c := range bench.SpoolConfigs() {
			b.log.Info("durable outbox cost: healthy throughput", "config", c.Name, "round", round+1, "of", b.opts.SpoolRounds)
			bot, err := b.startBot(ctx, &c, r)
			if err != nil {
				return err
			}
			res, err := b.throughput(ctx, bot, bench.SettingHealthy)
			res.Config = c.Name
			bot.client.close()
			_, stopErr := b.env.StopBot(context.WithoutCancel(ctx))
			if err = errors.Join(err, stopErr); err != nil {
				return fmt.Errorf("durable outbox cost, %s: %w", c.Name, err)
			}
			r.Spool = append(r.Spool, res)
		}
	}
	return nil
}
