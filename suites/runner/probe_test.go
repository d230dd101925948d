package runner

import (
	"testing"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// TestProbeTarget: each fault is probed where it acts, so that a probe
// can show its effect: through its proxy, through the path to the
// restarted container itself, through the path to the paused one, or in Docker's view of a partition.
func TestProbeTarget(t *testing.T) {
	tests := []struct {
		fault       scenarios.Fault
		kind, where string
	}{
		{scenarios.Fault{Type: scenarios.TypeOutage, Proxy: scenarios.ProxyDirect}, history.ProbeSQL, scenarios.ProxyDirect},
		{scenarios.Fault{Type: scenarios.TypeTimeout, Proxy: scenarios.ProxyPooler}, history.ProbeSQL, scenarios.ProxyPooler},
		{scenarios.Fault{Type: scenarios.TypeRestart, Target: scenarios.TargetPostgres}, history.ProbeSQL, scenarios.TargetPostgres},
		{scenarios.Fault{Type: scenarios.TypeRestart, Target: scenarios.TargetPgBouncer}, history.ProbeSQL, scenarios.TargetPgBouncer},
		{scenarios.Fault{Type: scenarios.TypePause, Target: scenarios.TargetPgBouncer}, history.ProbeSQL, scenarios.ProxyPooler},
		{scenarios.Fault{Type: scenarios.TypeClientLimit, Target: scenarios.TargetPgBouncer}, history.ProbeSQL, scenarios.ProxyPooler},
		{scenarios.Fault{Type: scenarios.TypeIdleReaping, Target: scenarios.TargetPgBouncer}, history.ProbeSQL, scenarios.ProxyPooler},
		{scenarios.Fault{Type: scenarios.TypeServerLimit, Target: scenarios.TargetPostgres}, history.ProbeSQL, scenarios.TargetPostgres},
		{scenarios.Fault{Type: scenarios.TypePasswordRotation, Target: scenarios.TargetPostgres}, history.ProbeSQL, scenarios.TargetPostgres},
		{scenarios.Fault{Type: scenarios.TypePartition, Target: scenarios.TargetBot}, history.ProbeNetwork, scenarios.TargetBot},
		{scenarios.Fault{Type: scenarios.TypeKill, Target: scenarios.TargetBot}, history.ProbeContainer, scenarios.TargetBot},
		{scenarios.Fault{Type: scenarios.TypeBotRestart, Target: scenarios.TargetBot}, history.ProbeContainer, scenarios.TargetBot},
	}
	for _, tt := range tests {
		kind, where, dsn := probeTarget(nil, tt.fault)
		if kind != tt.kind || where != tt.where {
			t.Errorf("%s on %s: probe %s of %s, want %s of %s", tt.fault.Type, tt.fault.Where(), kind, where, tt.kind, tt.where)
		}
		if (dsn == nil) != (kind != history.ProbeSQL) {
			t.Errorf("%s: an SQL probe needs a DSN, others none", tt.fault.Type)
		}
	}
}
