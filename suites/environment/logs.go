package environment

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/testcontainers/testcontainers-go"
)

// BotLogs returns everything the current bot has logged so far or, when
// none runs, what the last stopped bot logged (StopBot keeps it), so that
// a failed spec's evidence has the bot's log even after its container was
// removed. Nil when no bot ran since ForgetBotLogs.
func (e *Env) BotLogs(ctx context.Context) ([]byte, error) {
	e.mu.Lock()
	bot, earlier, kept := e.bot, e.botEarlierLives, e.botLogs
	e.mu.Unlock()
	if bot == nil {
		return kept, nil
	}
	logs, err := (&Bot{Container: bot}).Logs(ctx)
	return joinLives(earlier, logs), err
}

// ForgetBotLogs drops the stopped bot's log, so that the next spec's
// evidence never shows an earlier spec's bot.
func (e *Env) ForgetBotLogs() {
	e.mu.Lock()
	e.botLogs = nil
	e.mu.Unlock()
}

// Stack parts whose logs LogTail reads.
const (
	PartPostgres  = "postgres"
	PartPgBouncer = "pgbouncer"
	PartToxiproxy = "toxiproxy"
)

// LogTail returns the last n lines a part of the stack (PartPostgres,
// PartPgBouncer, PartToxiproxy) logged.
func (e *Env) LogTail(ctx context.Context, part string, n int) ([]byte, error) {
	var c testcontainers.Container
	switch part {
	case PartPostgres:
		if e.Postgres != nil {
			c = e.Postgres
		}
	case PartPgBouncer:
		if e.PgBouncer != nil {
			c = e.PgBouncer
		}
	case PartToxiproxy:
		if e.Toxiproxy != nil {
			c = e.Toxiproxy
		}
	default:
		return nil, fmt.Errorf("log tail: unknown part %q (want %s, %s or %s)", part, PartPostgres, PartPgBouncer, PartToxiproxy)
	}
	if c == nil {
		return nil, fmt.Errorf("log tail: %s is not running", part)
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s logs: %w", part, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("%s logs: %w", part, err)
	}
	return lastLines(b, n), nil
}

// lastLines keeps the last n lines of b.
func lastLines(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 || n <= 0 {
		return nil
	}
	i := len(b)
	for range n {
		j := bytes.LastIndexByte(b[:i], '\n')
		if j < 0 {
			return append(b, '\n')
		}
		i = j
	}
	return append(b[i+1:], '\n')
}
