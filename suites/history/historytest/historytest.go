// Package historytest makes histories as the harness records them against
// targets that show less than p1001's bot, for the checks' and the
// report's tests.
package historytest

import "github.com/p1001/p1001/suites/history"

// AsTarget records h as the harness would against a target named name
// that shows only obs beyond status, reply text and timing: the reply
// fields, logs and postgres reads it does not show are absent.
func AsTarget(name string, obs ...history.Evidence) func(*history.History) {
	return func(h *history.History) {
		h.Target = &history.TargetInfo{Name: name, Observes: append([]history.Evidence{}, obs...)}
		for i := range h.Ops {
			o := &h.Ops[i]
			if !h.Sees(history.SeesPromptSource) {
				o.PromptSource = ""
			}
			if !h.Sees(history.SeesDegraded) {
				o.Degraded = false
			}
			if !h.Sees(history.SeesAttempts) {
				o.Attempts = 0
			}
			if !h.Sees(history.SeesCode) {
				o.Code, o.Meta = "", nil
			}
			if !h.Sees(history.SeesPromptAge) {
				o.PromptAgeMS = nil
			}
		}
		if !h.Sees(history.SeesRetryLog) && !h.Sees(history.SeesFallbackLog) {
			h.Logs = nil
		}
		if !h.Sees(history.SeesPrompts) {
			h.Prompts = nil
		}
		if !h.Sees(history.SeesMessageLog) {
			h.Logged, h.LoggedReplies = nil, nil
		}
		if !h.Sees(history.SeesMetrics) {
			h.MetricsAfter = nil
		}
	}
}
