package botapi

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The bot's outbox metrics (docs/bot.md, "Metrics").
const (
	// MetricOutboxDepth: message-log records not yet written to the database.
	MetricOutboxDepth    = "bot_outbox_depth"
	MetricOutboxDropped  = "bot_outbox_dropped_total"
	MetricOutboxRejected = "bot_outbox_rejected_total"
	MetricOutboxLost     = "bot_outbox_lost_total"
)

// ErrOutboxNotEmpty: the outbox still held records when the wait ended.
var ErrOutboxNotEmpty = errors.New("the bot's outbox is not empty")

// MetricsReader reads the bot's /metrics: a *Client, or a fake in tests.
type MetricsReader interface {
	Metrics(ctx context.Context) (map[string]float64, error)
}

// WaitOutboxEmpty reads /metrics every poll until the bot's outbox is
// empty (its message log written), for at most timeout, and returns the
// metrics read last. A wait that ends with records left returns them with
// an error wrapping ErrOutboxNotEmpty, so that a caller who judges the
// leftovers itself can go on.
func WaitOutboxEmpty(ctx context.Context, bot MetricsReader, timeout, poll time.Duration) (map[string]float64, error) {
	deadline := time.Now().Add(timeout)
	for {
		metrics, err := bot.Metrics(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the bot's metrics: %w", err)
		}
		depth, ok := metrics[MetricOutboxDepth]
		switch {
		case !ok:
			return metrics, fmt.Errorf("/metrics has no %s", MetricOutboxDepth)
		case depth == 0:
			return metrics, nil
		case time.Now().After(deadline):
			return metrics, fmt.Errorf("%w: %v record(s) after %s", ErrOutboxNotEmpty, depth, timeout)
		}
		select {
		case <-ctx.Done():
			return metrics, ctx.Err()
		case <-time.After(poll):
		}
	}
}
