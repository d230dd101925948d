package scenarios

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCatalog loads the real catalog: every file valid, names unique and
// equal to the file names, and every kind issue 5 asks for covered.
func TestCatalog(t *testing.T) {
	list, err := LoadDir(".")
	if err != nil {
		t.Fatalf("the catalog does not load:\n%v", err)
	}
	if len(list) < 16 {
		t.Errorf("catalog has %d scenarios, want at least 16", len(list))
	}
	names := map[string]bool{}
	var total time.Duration
	for _, s := range list {
		if names[s.Name] {
			t.Errorf("scenario name %q is used twice", s.Name)
		}
		names[s.Name] = true
		if base := strings.TrimSuffix(filepath.Base(s.File), Ext); base != s.Name {
			t.Errorf("%s: name %q differs from the file name", s.File, s.Name)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate after Load: %v", s.File, err)
		}
		total += s.Traffic.Duration.D()
		if d := s.Traffic.Duration.D(); d < 4*time.Second || d > 10*time.Second {
			t.Errorf("%s: traffic lasts %s; keep catalog scenarios between 4s and 10s", s.File, d)
		}
	}
	// Traffic is the part of the catalog's time the files control; each
	// scenario adds a bot start and setup. Issue 14's twelve realistic
	// failures raised the budget from 2m30s to 3m30s (3m25.5s of traffic
	// in 32 scenarios); past it, a new scenario must make room.
	if total > 3*time.Minute+30*time.Second {
		t.Errorf("catalog traffic adds up to %s, over the 3m30s that leaves room for setup", total)
	}

	has := func(what string, pred func(Scenario, Fault) bool) {
		t.Helper()
		for _, s := range list {
			for _, f := range s.Faults {
				if pred(s, f) {
					return
				}
			}
		}
		t.Errorf("no scenario covers %s", what)
	}
	if !slices.ContainsFunc(list, func(s Scenario) bool { return len(s.Faults) == 0 && s.HasLabel("fault:none") }) {
		t.Error("no healthy baseline (no faults, label fault:none)")
	}
	attemptTimeout := func(s Scenario) int64 { return s.Policy().AttemptTimeout.Milliseconds() }
	has("latency below the attempt timeout", func(s Scenario, f Fault) bool {
		return f.Type == TypeLatency && f.Attributes["jitter"] == 0 && f.Attributes["latency"] < attemptTimeout(s) && s.Expect.Effect == EffectSlower
	})
	has("latency above the attempt timeout", func(s Scenario, f Fault) bool {
		return f.Type == TypeLatency && f.Attributes["latency"] > attemptTimeout(s) && s.Expect.Effect == EffectDegraded
	})
	has("jitter", func(s Scenario, f Fault) bool { return f.Type == TypeLatency && f.Attributes["jitter"] > 0 })
	for _, stream := range []string{StreamUpstream, StreamDownstream} {
		has("reset_peer "+stream, func(s Scenario, f Fault) bool { return f.Type == TypeResetPeer && f.Stream == stream })
	}
	has("a black hole", func(s Scenario, f Fault) bool { return f.Type == TypeTimeout && f.Attributes["timeout"] == 0 })
	has("a hard outage with recovery", func(s Scenario, f Fault) bool {
		return f.Type == TypeOutage && f.Flap == 0 && slices.Equal(s.Expect.PromptSources.Recovery, []string{SourceCustom})
	})
	has("flapping", func(s Scenario, f Fault) bool { return f.Type == TypeOutage && f.Flap > 0 && f.Flap.D() < time.Second })
	has("a bandwidth squeeze", func(s Scenario, f Fault) bool { return f.Type == TypeBandwidth })
	has("slicer", func(s Scenario, f Fault) bool { return f.Type == TypeSlicer })
	has("limit_data", func(s Scenario, f Fault) bool { return f.Type == TypeLimitData })
	has("slow_close", func(s Scenario, f Fault) bool { return f.Type == TypeSlowClose })
	has("pool exhaustion (small connection_limit, many chats, P2024)", func(s Scenario, f Fault) bool {
		return s.HasLabel("fault:pool_exhaustion") && s.Bot.URLParams["connection_limit"] != "" &&
			s.Traffic.Chats >= 8 && slices.Contains(s.Expect.Codes[f.Name].Must, "P2024")
	})
	has("a postgres restart", func(s Scenario, f Fault) bool { return f.Type == TypeRestart && f.Target == TargetPostgres })
	has("a PgBouncer pause", func(s Scenario, f Fault) bool { return f.Type == TypePause })
	has("a network partition of the bot", func(s Scenario, f Fault) bool { return f.Type == TypePartition && f.Target == TargetBot })
	// The bot's own crash and restart, each inside a database outage (the
	// outbox holds records then), and a crash under healthy load.
	during := func(typ string) func(Scenario, Fault) bool {
		return func(s Scenario, f Fault) bool {
			return f.Type == typ && slices.ContainsFunc(s.Faults, func(o Fault) bool {
				return o.Type == TypeOutage && o.At < f.At && f.At.D() < o.End()
			})
		}
	}
	has("a kill during an outage", during(TypeKill))
	has("a bot-restart during an outage", during(TypeBotRestart))
	has("a kill under healthy load", func(s Scenario, f Fault) bool { return f.Type == TypeKill && len(s.Faults) == 1 })

	// Direct against pooler: two scenarios that differ only in the path.
	found := false
	for _, a := range list {
		for _, b := range list {
			if a.Bot.Database == ProxyPooler && b.Bot.Database == ProxyDirect && len(a.Faults) > 0 && sameFaultsOtherPath(a, b) {
				found = true
			}
		}
	}
	if !found {
		t.Error("no pair of scenarios puts the direct and the pooler path under the same fault")
	}

	// Labels: every kind has its label (Validate checks it per file), and
	// every fault kind appears somewhere in the catalog.
	kinds := map[string]bool{}
	for _, s := range list {
		for _, l := range s.Labels {
			if k, ok := strings.CutPrefix(l, "fault:"); ok {
				kinds[k] = true
			}
		}
		if !s.HasLabel("path:" + s.Bot.Database) {
			t.Errorf("%s: no path:%s label", s.File, s.Bot.Database)
		}
	}
	for _, k := range FaultKinds() {
		if !kinds[k] {
			t.Errorf("no scenario has the label fault:%s", k)
		}
	}
}

// sameFaultsOtherPath reports whether b is a's timeline on b's path.
func sameFaultsOtherPath(a, b Scenario) bool {
	if len(a.Faults) != len(b.Faults) || a.Traffic.Duration != b.Traffic.Duration || a.Traffic.Rate != b.Traffic.Rate {
		return false
	}
	for i, fa := range a.Faults {
		fb := b.Faults[i]
		if fa.Proxy == a.Bot.Database {
			fa.Proxy = b.Bot.Database
		}
		if !reflect.DeepEqual(fa, fb) {
			return false
		}
	}
	return true
}

// TestDocsListEveryTypeAndScenario: docs/scenarios.md has a row for every
// fault type (Fault types) and every catalog scenario (The catalog).
func TestDocsListEveryTypeAndScenario(t *testing.T) {
	md, err := os.ReadFile("../docs/scenarios.md")
	if err != nil {
		t.Fatal(err)
	}
	_, types, _ := strings.Cut(string(md), "\n## Fault types\n")
	_, catalog, _ := strings.Cut(string(md), "\n## The catalog\n")
	row := func(section, name string) bool { return strings.Contains(section, "\n| `"+name+"` |") }
	for _, typ := range faultTypes {
		if !row(types, typ) {
			t.Errorf("docs/scenarios.md, Fault types: no row for %s", typ)
		}
	}
	list, err := LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if !row(catalog, s.Name) {
			t.Errorf("docs/scenarios.md, The catalog: no row for %s", s.Name)
		}
	}
}
