package runner

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/history"
)

// The harness probes the stack itself during every fault, so that the
// proof that a fault took effect (checks.GuardEffect) does not rest on the
// bot's replies: a bot that masks a fault must fail a behaviour promise,
// not make the run "invalid".
const (
	// probeEvery is the pace of the probes inside a fault's window.
	probeEvery = 250 * time.Millisecond
	// probeLead: one probe before the fault opens the probe connection
	// and shows the path healthy just before.
	probeLead = 300 * time.Millisecond
	// probeDeadline bounds one SQL probe; a latency fault adds its delay.
	probeDeadline = time.Second
	// closeTimeout bounds closing a probe connection the fault may hold.
	closeTimeout = 100 * time.Millisecond
)

// probeFaults probes the stack for every fault of s, on the fault's planned
// window (offsets from base), and returns the probes by start.
func probeFaults(ctx context.Context, env *environment.Env, s scenarios.Scenario, base time.Time) []history.Probe {
	var (
		mu  sync.Mutex
		out []history.Probe
		wg  sync.WaitGroup
	)
	for _, f := range s.Faults {
		wg.Go(func() {
			ps := probeFault(ctx, env, f, base)
			mu.Lock()
			out = append(out, ps...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortStableFunc(out, func(a, b history.Probe) int { return int(a.Start - b.Start) })
	return out
}

// probeTarget says how to look at a fault: a SQL connection through the
// proxy (or to the container) it acts on, or Docker's view of a partition
// or of the bot's container (kill, bot-restart).
func probeTarget(env *environment.Env, f scenarios.Fault) (kind, where string, dsn func() string) {
	via := func(proxy string) func() string {
		return func() string {
			if proxy == scenarios.ProxyDirect {
				return env.DSNs().HostDirect
			}
			return env.DSNs().HostPooler
		}
	}
	switch f.Type {
	case scenarios.TypePartition:
		return history.ProbeNetwork, f.Target, nil
	case scenarios.TypeDNS:
		// Docker's view of the name (the harness cannot ask the
		// network's DNS from the host): whether it is still given.
		return history.ProbeNetwork, scenarios.HostName(f.Proxy), nil
	case scenarios.TypeKill, scenarios.TypeBotRestart:
		return history.ProbeContainer, f.Target, nil
	case scenarios.TypeRestart:
		// The restarted container itself, not through Toxiproxy: a toxic
		// on the same path (slow_close) may hold a dead connection open
		// past the restart, which would hide it from the probe.
		if f.Target == scenarios.TargetPostgres {
			return history.ProbeSQL, f.Target, func() string { return env.DSNs().HostPostgres }
		}
		return history.ProbeSQL, f.Target, func() string { return env.DSNs().HostPgBouncer }
	case scenarios.TypePause, scenarios.TypeClientLimit, scenarios.TypeIdleReaping:
		return history.ProbeSQL, scenarios.ProxyPooler, via(scenarios.ProxyPooler)
	case scenarios.TypeServerLimit, scenarios.TypePasswordRotation:
		// Straight to postgres, not through Toxiproxy: the fault ends the
		// sessions that came through it, and the probe's logins must not
		// count as the bot's (max_connects_per_second).
		return history.ProbeSQL, scenarios.TargetPostgres, func() string { return env.DSNs().HostPostgres }
	}
	return history.ProbeSQL, f.Proxy, via(f.Proxy)
}

func probeFault(ctx context.Context, env *environment.Env, f scenarios.Fault, base time.Time) []history.Probe {
	kind, where, dsn := probeTarget(env, f)
	if kind == history.ProbeSQL && dsn() == "" {
		// An existing stack: the harness has no DSN through its proxies;
		// only Toxiproxy's own state is looked at.
		kind = ""
	}
	deadline := probeDeadline
	if f.Type == scenarios.TypeLatency {
		deadline += time.Duration(f.Attributes["latency"]+f.Attributes["jitter"]) * time.Millisecond
	}
	var conn *pgx.Conn
	defer func() { closeProbe(ctx, conn) }()
	var out []history.Probe
	now := func() time.Duration { return time.Since(base) }
	toxicsAt := f.At.D() + f.For.D()/2
	toxicsDone := !f.IsToxic() && f.Type != scenarios.TypeOutage
	every, fresh := probeEvery, false
	switch f.Type {
	case scenarios.TypeIdleReaping:
		// Idle past PgBouncer's timeout between two probes.
		every = time.Second
	case scenarios.TypeServerLimit, scenarios.TypePasswordRotation, scenarios.TypeRestart:
		// Only a new login meets these; one already in keeps working (a
		// stopping PgBouncer or Postgres serves its clients until they
		// leave, and only refuses new ones).
		fresh = true
	}
	for next := max(f.At.D()-probeLead, 0); next < f.End(); next = max(next+every, now()) {
		if scenarios.SleepUntil(ctx, base.Add(next)) != nil {
			return out
		}
		p := history.Probe{Fault: f.Name, Kind: kind, Where: where, Start: now()}
		switch kind {
		case history.ProbeNetwork:
			attached, err := env.Attached(ctx, where)
			p.OK = attached
			if err != nil {
				p.Err = resilience.RedactText(err.Error())
			}
		case history.ProbeContainer:
			running, startedAt, err := env.BotState(ctx)
			p.OK, p.StartedAt = running, startedAt
			if err != nil {
				p.Err = resilience.RedactText(err.Error())
			}
		case "":
		default:
			conn = probeSQL(ctx, conn, dsn(), deadline, &p)
			if fresh {
				closeProbe(ctx, conn)
				conn = nil
			}
		}
		p.End = now()
		if kind != "" {
			out = append(out, p)
		}
		if !toxicsDone && now() >= toxicsAt {
			toxicsDone = true
			t := history.Probe{Fault: f.Name, Kind: history.ProbeToxics, Where: f.Proxy, Start: now()}
			enabled, toxics, err := env.ProxyState(ctx, f.Proxy)
			t.OK, t.Enabled, t.Toxics = err == nil, enabled, toxics
			if err != nil {
				t.Err = resilience.RedactText(err.Error())
			}
			t.End = now()
			out = append(out, t)
		}
	}
	return out
}

// probeSQL runs SELECT 1 on conn (connecting first when there is none)
// within deadline, records the outcome on p, and returns the connection
// to keep (nil after a failure).
func probeSQL(ctx context.Context, conn *pgx.Conn, dsn string, deadline time.Duration, p *history.Probe) *pgx.Conn {
	pctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	err := func() error {
		if conn == nil {
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				return err
			}
			// Through PgBouncer in transaction mode: no prepared statements.
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
			cfg.ConnectTimeout = deadline
			// A timed-out probe drops its connection instead of sending a
			// cancel request: PgBouncer 1.18 can die on a cancel client
			// that goes away first (pgbouncer#801, FATAL "bad client state:
			// 0"), and the probe must not be what breaks the stack.
			cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
				return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
			}
			if conn, err = pgx.ConnectConfig(pctx, cfg); err != nil {
				conn = nil
				return err
			}
		}
		var one int
		return conn.QueryRow(pctx, "SELECT 1").Scan(&one)
	}()
	if err == nil {
		p.OK = true
		return conn
	}
	p.TimedOut = errors.Is(err, context.DeadlineExceeded) || pctx.Err() != nil
	p.Err = resilience.RedactText(err.Error())
	closeProbe(ctx, conn)
	return nil
}

func closeProbe(ctx context.Context, conn *pgx.Conn) {
	if conn == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	_ = conn.Close(cctx) // the fault may hold the connection; it is dropped either way
}
