package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as one JSON document (schema p1001.doctor/v1).
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

var marks = map[Status]string{OK: "✔", Warn: "⚠", Fail: "✗", Skipped: "·"}

var colours = map[Status]string{OK: "\x1b[32m", Warn: "\x1b[33m", Fail: "\x1b[31m", Skipped: "\x1b[90m"}

// WriteText writes the report for a person; colour adds ANSI colours (only
// for a terminal).
func WriteText(w io.Writer, rep *Report, colour bool) error {
	var b strings.Builder
	paint := func(st Status, s string) string {
		if !colour {
			return s
		}
		return colours[st] + s + "\x1b[0m"
	}
	fmt.Fprintf(&b, "bot doctor: %s (%s)\n", rep.URL, rep.Var)
	fmt.Fprintf(&b, "policy: %d attempts, %s per attempt, %s budget; each step at most %s, the whole run at most %s\n\n",
		rep.Policy.MaxAttempts, rep.Policy.AttemptTimeout, rep.Policy.Budget, rep.StepTimeout, rep.Bound)
	for _, s := range rep.Steps {
		dur := ""
		if s.Status != Skipped {
			dur = round(s.Duration).String()
		}
		fmt.Fprintf(&b, "%s %-9s %8s  %s\n", paint(s.Status, marks[s.Status]), s.Name, dur, s.Summary)
		for _, d := range s.Details {
			fmt.Fprintf(&b, "%22s- %s\n", "", d)
		}
		if s.Status == Fail {
			code := string(s.Code)
			if code == "" {
				code = "no Prisma code"
			}
			if s.BotCode != "" {
				code += fmt.Sprintf(" (the bot logs %s)", s.BotCode)
			}
			fmt.Fprintf(&b, "%22s%s: %s\n", "", paint(Fail, code), s.Reason)
			if s.Advice != "" {
				fmt.Fprintf(&b, "%22sadvice: %s\n", "", s.Advice)
			}
		}
	}
	b.WriteString("\n")
	switch {
	case rep.Healthy:
		warns := 0
		for _, s := range rep.Steps {
			if s.Status == Warn {
				warns++
			}
		}
		verdict := "healthy"
		if warns > 0 {
			verdict = fmt.Sprintf("healthy, %d warning(s)", warns)
		}
		fmt.Fprintf(&b, "%s in %s\n", paint(OK, verdict), round(rep.Elapsed))
	default:
		code := string(rep.Code)
		if code == "" {
			code = "no Prisma code"
		}
		fmt.Fprintf(&b, "%s at step %s (%s) in %s\n", paint(Fail, "FAILED"), rep.FailedStep, code, round(rep.Elapsed))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
