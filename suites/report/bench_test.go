package report

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// BenchmarkBuildCatalog renders the report of the whole catalog
// (../../scenarios) from synthetic histories sized like a real run: one op
// per 1/rate over the traffic duration, degraded replies inside each
// planned fault window, retry, fallback and breaker log lines. It measures
// Build end to end: reading histories, checks, figures, one chart per
// scenario, the three files.
func BenchmarkBuildCatalog(b *testing.B) {
	b.Setenv(StepSummaryEnv, "")
	catalog, err := scenarios.LoadDir("../../scenarios")
	if err != nil {
		b.Fatalf("load the catalog: %v", err)
	}
	runDir := b.TempDir()
	ops := 0
	for _, s := range catalog {
		h := synthHistory(s)
		ops += len(h.Ops)
		dir := filepath.Join(runDir, ScenariosDir, s.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, HistoryFile))
		if err != nil {
			b.Fatal(err)
		}
		if err := h.WriteJSONL(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := WriteRunInfo(runDir, NewRunInfo("bench", time.Now())); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r, err := Build(runDir, catalog)
		if err != nil {
			b.Fatal(err)
		}
		if r.ScenariosRun != len(catalog) {
			b.Fatalf("%d of %d scenarios in the report", r.ScenariosRun, len(catalog))
		}
	}
	b.ReportMetric(float64(len(catalog)), "scenarios")
	b.ReportMetric(float64(ops), "ops")
}

// synthHistory makes a plausible history for s without containers.
func synthHistory(s scenarios.Scenario) history.History {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	h := history.History{Scenario: s.Name, Base: base}
	windows := s.FaultWindows()
	for _, f := range s.Faults {
		h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: f.Name, Type: f.Type, Where: f.Where(), Start: f.At.D(), Stop: f.End()})
	}
	inFault := func(at time.Duration) (scenarios.Window, bool) {
		for _, w := range windows {
			if at >= w.Start && at < w.End {
				return w, true
			}
		}
		return scenarios.Window{}, false
	}
	chats := max(s.Traffic.Chats, 1)
	step := time.Duration(float64(time.Second) / max(s.Traffic.Rate, 1))
	opened := map[string]bool{}
	for i := 0; time.Duration(i)*step < s.Traffic.Duration.D(); i++ {
		at := time.Duration(i) * step
		chat := fmt.Sprintf("%s-c%d", s.Name, i%chats)
		o := history.Op{
			Index: i, Chat: chat, Kind: history.Message, Text: fmt.Sprintf("hello %d", i),
			Invoke: at, Complete: at + 2*time.Millisecond + time.Duration(i%7)*100*time.Microsecond,
			Outcome: history.OK, Status: 200,
			Reply: botapi.Reply{Text: "[persona of " + chat + "] You said: hello", PromptSource: scenarios.SourceCustom, Attempts: 1},
		}
		if w, ok := inFault(at); ok {
			o.PromptSource, o.Degraded, o.Code, o.Attempts = scenarios.SourceCached, true, "P1001", 0
			if !opened[w.Fault] {
				opened[w.Fault] = true
				o.Attempts, o.Complete = 3, at+250*time.Millisecond
				for a := 1; a < 3; a++ {
					h.Logs = append(h.Logs, botlog.Line{Time: base.Add(at + time.Duration(a)*80*time.Millisecond), Level: "WARN",
						Msg: fmt.Sprintf("[Prisma Retry] Attempt %d/3 failed, retrying in 80ms...", a)})
				}
				h.Logs = append(h.Logs,
					botlog.Line{Time: base.Add(at + 250*time.Millisecond), Level: "WARN", Msg: "[Prisma Retry] Circuit breaker open"},
					botlog.Line{Time: base.Add(w.End + time.Second), Level: "WARN", Msg: "[Prisma Retry] Circuit breaker half-open"},
					botlog.Line{Time: base.Add(w.End + time.Second + 5*time.Millisecond), Level: "WARN", Msg: "[Prisma Retry] Circuit breaker closed"})
			}
			h.Logs = append(h.Logs,
				botlog.Line{Time: base.Add(o.Complete), Level: "ERROR", Msg: "[getCustomPrompt] Database connection error after retries, using fallback prompt"},
				botlog.Line{Time: base.Add(o.Complete), Level: "WARN", Msg: "[MessageHandler] Database connection error, replying in degraded mode"})
		}
		h.Ops = append(h.Ops, o)
	}
	return h
}
