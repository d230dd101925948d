package bench

import (
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
)

// Msg is one message sent to the bot and what came back: the reply (its
// fields flat in the JSON), or the cap, or an error.
type Msg struct {
	Chat string `json:"chat"`
	// SentMS is when it was sent, from the event the phase is timed from
	// (the fault applied, the fault cleared, the window opened).
	SentMS    float64 `json:"sent_ms"`
	LatencyMS float64 `json:"latency_ms"`
	// Capped: no reply within the client's cap; LatencyMS is the cap.
	Capped bool `json:"capped,omitempty"`
	botapi.Reply
	// Error is set when the bot gave no reply for another reason than the
	// cap (connection refused, HTTP 500, a body that is not JSON).
	Error string `json:"error,omitempty"`
}

// Replied: the bot answered.
func (m Msg) Replied() bool { return m.Error == "" && !m.Capped }

// Custom: answered with the chat's fresh custom prompt.
func (m Msg) Custom() bool {
	return m.Replied() && !m.Degraded && m.PromptSource == scenarios.SourceCustom
}

// Fallback: answered in degraded mode.
func (m Msg) Fallback() bool { return m.Replied() && m.Degraded }

// Effect: evidence that a fault reached the bot's database calls, a
// degraded reply or a wait cut off at the cap.
func (m Msg) Effect() bool { return m.Fallback() || m.Capped }

// Sample is the message's latency; false for a message with no latency
// to speak of (an error that is neither a reply nor the cap).
func (m Msg) Sample() (Sample, bool) {
	if m.Error != "" {
		return Sample{}, false
	}
	return Sample{Value: m.LatencyMS, AtLeast: m.Capped}, true
}

// MS is d in milliseconds, the report's unit.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
