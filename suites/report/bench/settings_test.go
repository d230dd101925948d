package bench

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCapFor(t *testing.T) {
	s := validReport().Settings
	for _, tt := range []struct {
		config string
		o      Outage
		cap    time.Duration
		cycles int
	}{
		{ConfigRunbook, BlackHole, 2 * time.Minute, 2},
		{ConfigRunbook, Refused, 15 * time.Second, 3},
		{ConfigP1001, BlackHole, 15 * time.Second, 3},
		{ConfigP1001, Reset, 15 * time.Second, 3},
	} {
		if capAt, cycles := s.CapFor(tt.config, tt.o); capAt != tt.cap || cycles != tt.cycles {
			t.Errorf("CapFor(%s, %s) = %s, %d; want %s, %d", tt.config, tt.o, capAt, cycles, tt.cap, tt.cycles)
		}
	}
}

func TestSettingsFlags(t *testing.T) {
	parse := func(args ...string) (Settings, error) {
		var s Settings
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s.Flags(fs)
		if err := fs.Parse(args); err != nil {
			return s, err
		}
		return s, s.Check()
	}
	s, err := parse()
	if err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	// The defaults are enough for a valid run.
	if s.Cycles < MinCycles || s.SlowCycles < MinSlowCycles || s.SlowCycles*s.SteadyMessages < MinSteady ||
		s.OverheadRounds < MinOverheadRounds || s.BenchCount < MinMicroRuns {
		t.Errorf("the defaults cannot make a valid run: %+v", s)
	}
	if s, err := parse("-slow-cap", "3m", "-window", "2s"); err != nil || s.SlowCap.D() != 3*time.Minute || s.Window.D() != 2*time.Second {
		t.Errorf("-slow-cap 3m -window 2s: %+v, %v", s, err)
	}
	for _, tt := range []struct{ args, want string }{
		{"-window 1500ms", "-window"}, {"-cap 0s", "-cap"}, {"-slow-cycles 0", "-slow-cycles"},
		{"-latency 50us", "-latency"}, {"-recovery-pace -1ms", "-recovery-pace"}, {"-cap 15", `invalid value "15" for flag -cap`},
	} {
		if _, err := parse(strings.Fields(tt.args)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.args, err, tt.want)
		}
	}
}
