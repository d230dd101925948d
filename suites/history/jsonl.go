package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
)

// history.jsonl holds one JSON object per line, each with a "record":
//
//	{"record":"run", "scenario":..., "base":..., "target":...}        first line (target omitted for p1001's own bot)
//	{"record":"op", ...Op}                                             one per request
//	{"record":"fault", ...scenarios.FaultEvent}                        one per fault
//	{"record":"log", ...botlog.Line}                                   one per bot log line
//	{"record":"probe", ...Probe}                                       one per harness probe
//	{"record":"state", "metrics_after":..., "prompts":..., "logged":...} last line
//
// Lines are self-describing so that tools (jq, grep) can slice a history
// without loading it whole, and a truncated file still reads up to the cut.

type runLine struct {
	Record   string    `json:"record"`
	Scenario string    `json:"scenario"`
	Base     time.Time `json:"base"`
	// Target is stored so that a report built later from the file knows
	// what the harness could see: without it every check would read the
	// history as p1001's own bot, which shows everything.
	Target *TargetInfo `json:"target,omitempty"`
}

type opLine struct {
	Record string `json:"record"`
	Op
}

type faultLine struct {
	Record string `json:"record"`
	scenarios.FaultEvent
}

type logLine struct {
	Record string `json:"record"`
	botlog.Line
}

type probeLine struct {
	Record string `json:"record"`
	Probe
}

type stateLine struct {
	Record       string             `json:"record"`
	MetricsAfter map[string]float64 `json:"metrics_after,omitempty"`
	Prompts      map[string]string  `json:"prompts,omitempty"`
	Logged       map[string]int     `json:"logged,omitempty"`
	// LoggedReplies was added later: older histories lack it.
	LoggedReplies map[string]int `json:"logged_replies,omitempty"`
	// ServerConnects was added later: older histories lack it.
	ServerConnects []time.Duration `json:"server_connects,omitempty"`
}

// WriteJSONL writes h as history.jsonl.
func (h History) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(runLine{"run", h.Scenario, h.Base, h.Target}); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	for _, op := range h.Ops {
		if err := enc.Encode(opLine{"op", op}); err != nil {
			return fmt.Errorf("write history op %d: %w", op.Index, err)
		}
	}
	for _, f := range h.Faults {
		if err := enc.Encode(faultLine{"fault", f}); err != nil {
			return fmt.Errorf("write history fault %s: %w", f.Fault, err)
		}
	}
	for _, l := range h.Logs {
		if err := enc.Encode(logLine{"log", l}); err != nil {
			return fmt.Errorf("write history log line: %w", err)
		}
	}
	for _, p := range h.Probes {
		if err := enc.Encode(probeLine{"probe", p}); err != nil {
			return fmt.Errorf("write history probe of %s: %w", p.Fault, err)
		}
	}
	if err := enc.Encode(stateLine{"state", h.MetricsAfter, h.Prompts, h.Logged, h.LoggedReplies, h.ServerConnects}); err != nil {
		return fmt.Errorf("write history state: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// ReadJSONL reads a history.jsonl. An error names the line.
func ReadJSONL(r io.Reader) (History, error) {
	var h History
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var head struct {
			Record string `json:"record"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return h, fmt.Errorf("history line %d: %w", n, err)
		}
		var err error
		switch head.Record {
		case "run":
			var v runLine
			err = json.Unmarshal(line, &v)
			h.Scenario, h.Base, h.Target = v.Scenario, v.Base, v.Target
		case "op":
			var v opLine
			err = json.Unmarshal(line, &v)
			h.Ops = append(h.Ops, v.Op)
		case "fault":
			var v faultLine
			err = json.Unmarshal(line, &v)
			h.Faults = append(h.Faults, v.FaultEvent)
		case "log":
			var v logLine
			err = json.Unmarshal(line, &v)
			h.Logs = append(h.Logs, v.Line)
		case "probe":
			var v probeLine
			err = json.Unmarshal(line, &v)
			h.Probes = append(h.Probes, v.Probe)
		case "state":
			var v stateLine
			err = json.Unmarshal(line, &v)
			h.MetricsAfter, h.Prompts, h.Logged, h.LoggedReplies = v.MetricsAfter, v.Prompts, v.Logged, v.LoggedReplies
			h.ServerConnects = v.ServerConnects
		default:
			err = fmt.Errorf("unknown record %q", head.Record)
		}
		if err != nil {
			return h, fmt.Errorf("history line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("read history: %w", err)
	}
	return h, nil
}
