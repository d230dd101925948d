package main

import (
	"context"
	"fmt"

	"github.com/p1001/p1001/suites/environment"
)

// doctorOutcome is one run of `bot doctor` against the bot's URL.
type doctorOutcome struct {
	res *environment.DoctorResult
	err error
}

// startDoctor runs the doctor in the background as soon as the fault is on:
// the breaker stays open for only its delay, so the narrated steps cannot
// wait for it.
func (d *Demo) startDoctor(ctx context.Context) {
	if d.Doctor == nil {
		return
	}
	// Its step timeout is the bot's attempt timeout (main), so a black hole
	// costs the doctor what it costs one attempt of the bot.
	ch := make(chan doctorOutcome, 1)
	d.doctor = ch
	go func() {
		res, err := d.Doctor(ctx)
		ch <- doctorOutcome{res, err}
	}()
}

// showDoctor shows the doctor's verdict next to the bot's log lines; the
// doctor must name a failure while the fault is on.
func (d *Demo) showDoctor(ctx context.Context) {
	if d.doctor == nil {
		return
	}
	var o doctorOutcome
	select {
	case o = <-d.doctor:
	case <-ctx.Done():
		return
	}
	if o.err != nil {
		d.expect(false, "bot doctor ran against the bot's DATABASE_URL: %v", o.err)
		return
	}
	doc := func(format string, args ...any) { d.N.line("doc", "| "+fmt.Sprintf(format, args...)) }
	doc("bot doctor, against the bot's DATABASE_URL inside the network:")
	for _, s := range o.res.Report.Steps {
		if s.Status == "skipped" {
			continue
		}
		doc("%s %-8s %s", map[string]string{"ok": "✔", "warn": "⚠", "fail": "✗"}[s.Status], s.Name, s.Summary)
		if s.Status == "fail" {
			code := s.Code
			if s.BotCode != "" {
				code += " (the bot logs " + s.BotCode + ")"
			}
			doc("  %s: %s", code, s.Reason)
			doc("  advice: %s", s.Advice)
		}
	}
	rep := o.res.Report
	d.expect(!rep.Healthy && rep.FailedStep != "", "bot doctor names the fault: %s", rep.Verdict())
}
