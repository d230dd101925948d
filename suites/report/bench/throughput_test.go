package bench

import (
	"slices"
	"testing"
	"time"
)

func TestTally(t *testing.T) {
	at := func(d time.Duration, m Msg) TimedMsg { return TimedMsg{At: d, Msg: m} }
	done := []TimedMsg{
		at(100*time.Millisecond, reply(2)),
		at(900*time.Millisecond, reply(4)),
		at(1500*time.Millisecond, fallback(1, 0)),
		at(2100*time.Millisecond, reply(3)),
		at(2200*time.Millisecond, capped(15000)),
		at(2300*time.Millisecond, Msg{Error: "HTTP 500"}),
		at(2400*time.Millisecond, reply(5)),
	}
	got := Tally(SettingHealthy, ConfigP1001, 16, 2500*time.Millisecond, done)
	if got.Replies != 5 || got.Degraded != 1 || got.Capped != 1 || got.Errors != 1 {
		t.Errorf("replies %d, degraded %d, capped %d, errors %d; want 5, 1, 1, 1", got.Replies, got.Degraded, got.Capped, got.Errors)
	}
	if want := []int{2, 1, 2}; !slices.Equal(got.Buckets, want) {
		t.Errorf("buckets %v, want %v (the capped and failed ones are no replies)", got.Buckets, want)
	}
	if got.RepliesPerSec != 2 {
		t.Errorf("replies/s %v, want 5 / 2.5 s = 2", got.RepliesPerSec)
	}
	// The last bucket is half a second long: its 2 replies are 4/s.
	if want := Summarize("replies/s", Exact(2, 1, 4)); got.PerSecond != want {
		t.Errorf("per second %+v, want %+v", got.PerSecond, want)
	}
	// The capped message counts as a latency sample (>= the cap), the failed one does not.
	if got.Latency.N != 6 || got.Latency.Capped != 1 || !got.Latency.Max.AtLeast || got.Latency.Median.Value != 3 {
		t.Errorf("latency %+v, want 6 samples, 1 capped, max a bound, median 3", got.Latency)
	}
	if got.Setting != SettingHealthy || got.Config != ConfigP1001 || got.Concurrency != 16 || got.WindowMS != 2500 {
		t.Errorf("labels %+v", got)
	}
}

func TestTallyEmptyWindow(t *testing.T) {
	got := Tally(SettingOutage, ConfigP1001, 4, 3*time.Second, nil)
	if got.Replies != 0 || got.RepliesPerSec != 0 || got.Latency.N != 0 || !slices.Equal(got.Buckets, []int{0, 0, 0}) {
		t.Errorf("empty window tallied as %+v", got)
	}
	if got.PerSecond.Max.Value != 0 || got.PerSecond.N != 3 {
		t.Errorf("per second %+v, want three empty buckets", got.PerSecond)
	}
}
