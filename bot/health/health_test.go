package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
)

func TestTrackerFollowsCalls(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	recovered := 0
	pooler := &resilience.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}
	tr := New(Options{Now: func() time.Time { return now }, OnRecover: func() { recovered++ }, Meta: pooler})
	if got := tr.Snapshot().DB.Breaker; got != "closed" {
		t.Errorf("breaker %q before any event, want closed", got)
	}
	steps := []struct {
		event         resilience.Event
		wantState     string
		wantRecovered int
	}{
		{resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeUnreachable}, StateUnknown, 0}, // attempts alone decide nothing
		{resilience.Event{Kind: resilience.EventGaveUp, Code: resilience.CodeUnreachable,
			Err: errors.New("P1001: Can't reach database server at toxiproxy:6543: dial postgres://bot:hunter2@toxiproxy:6543/db")}, StateDown, 0},
		{resilience.Event{Kind: resilience.EventBreakerStateChanged, State: "open", Code: resilience.CodeUnreachable}, StateDown, 0}, // not a call
		{resilience.Event{Kind: resilience.EventRejected, Code: resilience.CodeUnreachable}, StateDown, 0},
		{resilience.Event{Kind: resilience.EventSucceededAfterRetries}, StateUp, 1},
		{resilience.Event{Kind: resilience.EventSucceeded}, StateUp, 1},        // already up: no second kick
		{resilience.Event{Kind: resilience.EventGaveUp, Code: ""}, StateUp, 1}, // server answered (e.g. 23505)
		{resilience.Event{Kind: resilience.EventGaveUp, Code: resilience.CodeOpTimeout}, StateDown, 1},
		{resilience.Event{Kind: resilience.EventSucceeded}, StateUp, 2},
	}
	for i, s := range steps {
		now = now.Add(time.Second)
		tr.Observe(s.event)
		snap := tr.Snapshot()
		if snap.DB.State != s.wantState || recovered != s.wantRecovered {
			t.Errorf("step %d (%s): state %s recovered %d, want %s %d", i, s.event.Kind, snap.DB.State, recovered, s.wantState, s.wantRecovered)
		}
		if i == 1 {
			if strings.Contains(snap.DB.LastError, "hunter2") || !strings.Contains(snap.DB.LastError, "P1001") || snap.DB.LastCode != "P1001" {
				t.Errorf("last error %q code %q: want P1001 and no password", snap.DB.LastError, snap.DB.LastCode)
			}
			if snap.DB.Meta != pooler {
				t.Errorf("meta %+v, want the retry layer's server %+v", snap.DB.Meta, pooler)
			}
		}
	}
	if snap := tr.Snapshot(); snap.DB.Breaker != "open" || snap.Status != "ready" || snap.DB.LastSuccess == nil {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestTrackerMigrationAndDrain(t *testing.T) {
	tr := New(Options{Meta: &resilience.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}})
	retry := time.Now().Add(time.Minute)
	direct := &resilience.Meta{DatabaseHost: "db", DatabasePort: 5432} // MIGRATE_DATABASE_URL's server
	tr.MigrationFailed(MigrationFailure{Code: "P1000", Cause: "authentication failed", NonTransient: true, RetryAt: retry, Meta: direct,
		Error: "P1000: Authentication failed against database server at `db`, the provided database credentials for `bot` are not valid. ..."})
	snap := tr.Snapshot()
	if snap.DB.MigrationMeta != direct || snap.DB.Meta != direct {
		t.Errorf("meta %+v, migration meta %+v: want the migrator's server %+v for both", snap.DB.Meta, snap.DB.MigrationMeta, direct)
	}
	if snap.DB.Migrated || snap.DB.State != StateDown || snap.DB.MigrationError == "" || snap.DB.LastCode != "P1000" {
		t.Errorf("after failed migration: %+v", snap.DB)
	}
	if snap.DB.MigrationCode != "P1000" || snap.DB.MigrationCause != "authentication failed" || !snap.DB.MigrationNonTransient ||
		snap.DB.MigrationRetryAt == nil || !snap.DB.MigrationRetryAt.Equal(retry) {
		t.Errorf("the cause is not on /readyz: %+v", snap.DB)
	}
	if code, nonTransient := tr.MigrationCause(); code != "P1000" || !nonTransient {
		t.Errorf("MigrationCause = %q, %v; want P1000, true", code, nonTransient)
	}
	tr.Migrated()
	snap = tr.Snapshot()
	if !snap.DB.Migrated || snap.DB.State != StateUp || snap.DB.MigrationError != "" || snap.DB.MigrationCode != "" ||
		snap.DB.MigrationRetryAt != nil {
		t.Errorf("after migration: %+v", snap.DB)
	}
	if code, _ := tr.MigrationCause(); code != "" {
		t.Errorf("MigrationCause after migration = %q", code)
	}
	tr.Drain()
	if got := tr.Snapshot().Status; got != "draining" {
		t.Errorf("status = %q, want draining", got)
	}
}
