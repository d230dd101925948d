package scenarios

import (
	"fmt"
)

// Normalize returns s with the defaults of every field left at its zero
// value filled in, as Parse fills in the fields a file leaves out: for
// scenarios built in code (tests). A zero that means something (an
// explicit 0, expect.all_answered: false) cannot be told from "unset"
// here, so such a field is replaced; write those scenarios in YAML.
func Normalize(s Scenario) Scenario {
	s.applyDefaults(func(_ string, zero bool) bool { return !zero })
	return s
}

// applyDefaults fills in every field left out. set reports whether the
// field at path was set (zero: whether it holds its zero value): Parse
// goes by what the file set, not by zero values, so an explicit 0 is
// validated rather than silently replaced; Normalize goes by zero values.
func (s *Scenario) applyDefaults(set func(path string, zero bool) bool) {
	if !set("bot.database", s.Bot.Database == "") {
		s.Bot.Database = DefaultDatabase
	}
	if !set("traffic.concurrency", s.Traffic.Concurrency == 0) {
		s.Traffic.Concurrency = s.Traffic.Chats
	}
	if !set("traffic.custom_prompts", !s.Traffic.CustomPrompts) {
		s.Traffic.CustomPrompts = true
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		path := fmt.Sprintf("faults[%d]", i)
		if !set(path+".name", f.Name == "") {
			f.Name = fmt.Sprintf("%s-%d", f.Type, i)
		}
		if f.IsRestart() && !set(path+".for", f.For == 0) {
			f.For = Duration(DefaultRestartWindow)
		}
		// A fault that acts on one container only acts on it by default.
		if r, ok := recipeOf(f.Type); ok && len(r.targets) == 1 && !set(path+".target", f.Target == "") {
			f.Target = r.targets[0]
		}
		if specs, ok := toxicAttrs[f.Type]; ok {
			if !set(path+".stream", f.Stream == "") {
				f.Stream = DefaultStream
			}
			if !set(path+".toxicity", f.Toxicity == 0) {
				f.Toxicity = DefaultToxicity
			}
			for _, a := range specs {
				if _, has := f.Attributes[a.name]; !has && !a.required {
					if f.Attributes == nil {
						f.Attributes = map[string]int64{}
					}
					f.Attributes[a.name] = 0 // Toxiproxy's own default
				}
			}
		}
	}

	e := &s.Expect
	if len(s.Faults) == 0 && !set("expect.effect", e.Effect == "") {
		e.Effect = EffectNone
	}
	p := s.Policy()
	if !set("expect.attempts_per_failed_lookup", e.AttemptsPerFailedLookup == 0) {
		e.AttemptsPerFailedLookup = p.MaxAttempts
	}
	defaultList(set, "expect.prompt_sources.healthy", &e.PromptSources.Healthy, SourceCustom)
	defaultList(set, "expect.prompt_sources.fault", &e.PromptSources.Fault, SourceCustom, SourceCached, SourceDefault)
	defaultList(set, "expect.prompt_sources.recovery", &e.PromptSources.Recovery, SourceCustom)
	defaultBool(set, "expect.all_answered", &e.AllAnswered)
	defaultBool(set, "expect.no_acked_write_lost", &e.NoAckedWriteLost)
	defaultBool(set, "expect.outbox_drained", &e.OutboxDrained)
	if !set("expect.reply_latency_bound", e.ReplyLatencyBound == 0) {
		// 0 when the policy bounds nothing: validation then asks for it.
		if w := p.WorstCaseCall(); w > 0 && p.MaxAttempts <= maxAttempts {
			e.ReplyLatencyBound = Duration(w + DefaultLatencyMargin)
		}
	}
	if !set("expect.write_latency_bound", e.WriteLatencyBound == 0) {
		e.WriteLatencyBound = e.ReplyLatencyBound
	}
	if !set("expect.recovery_within", e.RecoveryWithin == 0) {
		e.RecoveryWithin = Duration(DefaultRecoveryWithin)
	}
	if !set("expect.min_messages_per_fault", e.MinMessagesPerFault == 0) {
		e.MinMessagesPerFault = DefaultMinMessagesPerFault
	}
}

func defaultList(set func(string, bool) bool, path string, dst *[]string, def ...string) {
	if !set(path, len(*dst) == 0) {
		*dst = def
	}
}

func defaultBool(set func(string, bool) bool, path string, dst *bool) {
	if !set(path, !*dst) {
		*dst = true
	}
}
