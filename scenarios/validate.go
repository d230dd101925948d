package scenarios

import (
	"errors"
	"fmt"
	"github.com/p1001/p1001/internal/strictyaml"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/resilience/prismaurl"
)

// validator is the loader's strictyaml.Validator, with its own checks.
type validator struct{ strictyaml.Validator }

// Validate checks a scenario that already has its defaults (as Load and
// Parse return it); the errors carry no line numbers. Load and Parse run
// the same checks with lines.
func (s Scenario) Validate() error {
	file := s.File
	if file == "" {
		file = s.Name
	}
	probs := strictyaml.NewProblems(file)
	s.validate(&validator{strictyaml.Validator{Probs: probs, Pos: strictyaml.Positions{}}})
	return probs.Err()
}

func (s Scenario) validate(v *validator) {
	switch {
	case s.Name == "":
		v.Errf("name", "is required")
	case len(s.Name) > 64 || !namePattern.MatchString(s.Name):
		v.Errf("name", "%q must be lower-case words of [a-z0-9] joined by single hyphens, at most 64 characters", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		v.Errf("description", "is required: say in a sentence or two what the scenario proves")
	}
	s.validateBot(v)
	s.validateTraffic(v)
	s.validateFaults(v)
	s.validateLabels(v)
	s.validateExpect(v)
	s.validatePhases(v)
}

func (s Scenario) validateBot(v *validator) {
	b := s.Bot
	if !slices.Contains(proxies, b.Database) {
		v.Errf("bot.database", "%q is not one of %s", b.Database, strings.Join(proxies, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(b.URLParams)) {
		param, ok := prismaurl.Lookup(k)
		if !ok {
			v.Errf("bot.url_params."+k, "unknown Prisma parameter (known: %s)", strings.Join(prismaurl.Names(), ", "))
			continue
		}
		if err := param.Check(b.URLParams[k]); err != nil {
			v.Errf("bot.url_params."+k, "%v", err)
		}
	}
	r, br := b.Retry, b.Breaker
	if r.MaxAttempts != nil && *r.MaxAttempts > maxAttempts {
		v.Errf("bot.retry.max_attempts", "must be at most %d, got %d", maxAttempts, *r.MaxAttempts)
	}
	for field, n := range map[string]*int{"bot.breaker.failure_threshold": br.FailureThreshold, "bot.breaker.success_threshold": br.SuccessThreshold} {
		if n != nil && (*n < 0 || *n > math.MaxInt32) {
			v.Errf(field, "must be between 0 and %d, got %d", math.MaxInt32, *n)
		}
	}
	if err := s.Policy().Validate(); err != nil {
		var fe *resilience.FieldError
		if errors.As(err, &fe) {
			field, set := s.policyField(fe.Field)
			msg := fe.Msg
			if !set {
				msg += " (this field is not set: the bot's default is used)"
			}
			v.Errf(field, "%s", msg)
		} else {
			v.Errf("bot.retry", "%v", err)
		}
	}
	if d := b.PromptMaxStaleness; d != nil && *d < 0 {
		v.Errf("bot.prompt_max_staleness", "must not be negative, got %s", *d)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Env)) {
		field := "bot.env." + k
		switch {
		case !envKeyPattern.MatchString(k):
			v.Errf(field, "variable names are [A-Z][A-Z0-9_]*")
		case envOwned[k] != "":
			v.Errf(field, "not allowed here: %s", envOwned[k])
		case resilience.IsPolicyEnv(k):
			v.Errf(field, "not allowed here: use bot.retry and bot.breaker")
		}
	}
}

// policyField maps a resilience.Policy field to its YAML path and says
// whether the scenario sets it.
func (s Scenario) policyField(name string) (string, bool) {
	for _, pv := range resilience.PolicyVars() {
		if pv.Field == name {
			f, path := s.Bot.typedField(pv)
			return path, f.IsValid() && !f.IsNil()
		}
	}
	return "bot.retry", false
}

func (s Scenario) validateTraffic(v *validator) {
	t := s.Traffic
	chatsOK := t.Chats >= 1 && t.Chats <= maxChats
	if !chatsOK {
		v.Errf("traffic.chats", "must be between 1 and %d, got %d", maxChats, t.Chats)
	}
	if !(t.Rate > 0 && t.Rate <= maxRate) {
		v.Errf("traffic.rate", "must be a number of messages per second above 0 and at most %g, got %g", maxRate, t.Rate)
	}
	if t.Duration <= 0 || t.Duration.D() > maxTraffic {
		v.Errf("traffic.duration", "must be above 0 and at most %s, got %s", maxTraffic, t.Duration)
	}
	// A concurrency taken from bad chats is not a second problem.
	if (t.Concurrency < 1 || t.Concurrency > maxConcurrency) && (chatsOK || t.Concurrency != t.Chats) {
		v.Errf("traffic.concurrency", "must be between 1 and %d, got %d", maxConcurrency, t.Concurrency)
	}
	sum := 0.0
	for _, k := range slices.Sorted(maps.Keys(t.Commands)) {
		f := t.Commands[k]
		switch {
		case !slices.Contains(commandNames, k):
			v.Errf("traffic.commands."+k, "unknown command (known: %s)", strings.Join(commandNames, ", "))
		case !(f >= 0 && f <= 1):
			v.Errf("traffic.commands."+k, "must be a fraction between 0 and 1, got %g", f)
		default:
			sum += f
		}
	}
	if sum > maxCommandMix {
		v.Errf("traffic.commands", "fractions add up to %.3g; at most %g, so that most sends are messages", sum, maxCommandMix)
	}
}

// resource is what two faults must not act on at the same time.
func (f Fault) resource() string {
	if f.Proxy != "" {
		return "proxy " + f.Proxy
	}
	if f.Target != "" {
		return "container " + f.Target
	}
	return ""
}

func (s Scenario) validateFaults(v *validator) {
	names := map[string]int{}
	for i, f := range s.Faults {
		path := fmt.Sprintf("faults[%d]", i)
		field := func(name string) string { return path + "." + name }
		r, known := recipeOf(f.Type)
		if !known {
			if f.Type == "" {
				v.Errf(field("type"), "is required (one of %s)", strings.Join(faultTypes, ", "))
			} else {
				v.Errf(field("type"), "unknown fault type %q (known: %s)", f.Type, strings.Join(faultTypes, ", "))
			}
			continue // the rest depends on the type
		}
		switch prev, dup := names[f.Name]; {
		case len(f.Name) > 64 || !faultNamePattern.MatchString(f.Name):
			v.Errf(field("name"), "%q must be [a-z0-9_-], starting with a letter or digit, at most 64 characters", f.Name)
		case dup:
			v.Errf(field("name"), "%q is also the name of faults[%d]", f.Name, prev)
		default:
			names[f.Name] = i
		}
		if f.At < 0 {
			v.Errf(field("at"), "must not be negative, got %s", f.At)
		}
		if f.For <= 0 {
			if f.For == 0 && !f.IsRestart() {
				v.Errf(field("for"), "is required: how long the %s lasts", f.Type)
			} else {
				v.Errf(field("for"), "must be above 0, got %s", f.For)
			}
		}

		// Proxy, target, stream, toxicity, flap and attributes each belong
		// to some types only; elsewhere they are mistakes, not ignored.
		toxic := r.attrs != nil
		if r.onProxy {
			if !slices.Contains(proxies, f.Proxy) {
				if f.Proxy == "" {
					v.Errf(field("proxy"), "is required for %s (one of %s)", f.Type, strings.Join(proxies, ", "))
				} else {
					v.Errf(field("proxy"), "unknown proxy %q (known: %s)", f.Proxy, strings.Join(proxies, ", "))
				}
			}
			if f.Target != "" {
				v.Errf(field("target"), "not used by %s, which acts on a proxy", f.Type)
			}
			// Only the bot's own path is reached by name (Scenario.ByName).
			if f.Type == TypeDNS && slices.Contains(proxies, f.Proxy) && f.Proxy != s.Bot.Database {
				v.Errf(field("proxy"), "%s takes away the name the bot reaches its database by: must be bot.database (%s), got %s", f.Type, s.Bot.Database, f.Proxy)
			}
		} else {
			if f.Proxy != "" {
				v.Errf(field("proxy"), "not used by %s, which acts on a container (target)", f.Type)
			}
			if allowed := r.targets; !slices.Contains(allowed, f.Target) {
				if f.Target == "" {
					v.Errf(field("target"), "is required for %s (one of %s)", f.Type, strings.Join(allowed, ", "))
				} else {
					v.Errf(field("target"), "%s cannot act on %q (allowed: %s)", f.Type, f.Target, strings.Join(allowed, ", "))
				}
			}
		}
		if toxic {
			if !slices.Contains(streams, f.Stream) {
				v.Errf(field("stream"), "%q is not one of %s", f.Stream, strings.Join(streams, ", "))
			}
			if !(f.Toxicity > 0 && f.Toxicity <= 1) {
				v.Errf(field("toxicity"), "must be above 0 and at most 1, got %g", f.Toxicity)
			}
			if r.stream != "" && f.Stream != r.stream && slices.Contains(streams, f.Stream) {
				v.Errf(field("stream"), "%s works on the %s stream only, got %s", f.Type, r.stream, f.Stream)
			}
			validateAttrs(v, field("attributes"), f, r)
		} else {
			if f.Stream != "" {
				v.Errf(field("stream"), "only toxics have a stream, not %s", f.Type)
			}
			if f.Toxicity != 0 {
				v.Errf(field("toxicity"), "only toxics have a toxicity, not %s", f.Type)
			}
			if len(f.Attributes) > 0 {
				v.Errf(field("attributes"), "only toxics have attributes, not %s", f.Type)
			}
		}
		validateRefusal(v, field("refusal"), f, r)
		if f.Flap != 0 {
			switch {
			case !r.flaps:
				v.Errf(field("flap"), "only an outage can flap, not %s", f.Type)
			case f.Flap < Duration(minFlap) || (f.For > 0 && f.Flap >= f.For):
				v.Errf(field("flap"), "must be at least %s and shorter than for (%s), got %s", minFlap, f.For, f.Flap)
			}
		}
		if end := f.End(); s.Traffic.Duration > 0 && end > s.Traffic.Duration.D() {
			v.Errf(field("for"), "the fault ends at %s, after the traffic (traffic.duration %s)", end, s.Traffic.Duration)
		}
	}
	s.validateOverlaps(v)
}

func validateAttrs(v *validator, path string, f Fault, r recipe) {
	specs := r.attrs
	for _, k := range slices.Sorted(maps.Keys(f.Attributes)) {
		i := slices.IndexFunc(specs, func(a attrSpec) bool { return a.name == k })
		if i < 0 {
			known := make([]string, len(specs))
			for j, a := range specs {
				known[j] = a.name
			}
			v.Errf(path+"."+k, "unknown attribute for %s (known: %s)", f.Type, strings.Join(known, ", "))
			continue
		}
		if n := f.Attributes[k]; n < specs[i].min || n > maxAttr {
			v.Errf(path+"."+k, "must be between %d and %d (%s), got %d", specs[i].min, maxAttr, specs[i].unit, n)
		}
	}
	for _, a := range specs {
		if _, ok := f.Attributes[a.name]; a.required && !ok {
			v.Errf(path+"."+a.name, "is required for %s (%s)", f.Type, a.unit)
		}
	}
	if r.check != nil {
		r.check(f, func(attr, msg string) { v.Errf(path+"."+attr, "%s", msg) })
	}
}

func validateRefusal(v *validator, path string, f Fault, r recipe) {
	names := make([]string, len(refusals))
	for i, rf := range refusals {
		names[i] = rf.Name
	}
	_, known := RefusalOf(f.Refusal)
	switch {
	case !r.refusal && f.Refusal != "":
		v.Errf(path, "only %s has a refusal, not %s", TypePgError, f.Type)
	case r.refusal && f.Refusal == "":
		v.Errf(path, "is required for %s (one of %s)", f.Type, strings.Join(names, ", "))
	case r.refusal && !known:
		v.Errf(path, "unknown refusal %q (known: %s)", f.Refusal, strings.Join(names, ", "))
	}
}

func (s Scenario) validateOverlaps(v *validator) {
	for i, a := range s.Faults {
		for j := range i {
			b := s.Faults[j]
			if a.resource() == "" || a.resource() != b.resource() {
				continue
			}
			if a.At.D() < b.End() && b.At.D() < a.End() {
				where := ""
				if line := v.Pos.Line(fmt.Sprintf("faults[%d]", j)); line > 0 {
					where = fmt.Sprintf(" (line %d)", line)
				}
				v.Errf(fmt.Sprintf("faults[%d]", i), "window [%s, %s) overlaps faults[%d] %q [%s, %s)%s on %s",
					a.At, a.End(), j, b.Name, b.At, time.Duration(b.End()), where, a.resource())
			}
		}
	}
}

func (s Scenario) validateLabels(v *validator) {
	if len(s.Labels) == 0 {
		v.Errf("labels", "are required: fault:<kind> for each fault kind and path:%s", s.Bot.Database)
		return
	}
	// A kind outside the vocabulary comes from a bad fault type, which is
	// reported on the fault.
	kinds := slices.DeleteFunc(s.Kinds(), func(k string) bool { return !slices.Contains(FaultKinds(), k) })
	seen := map[string]bool{}
	var paths, faultLabels []string
	for i, l := range s.Labels {
		field := fmt.Sprintf("labels[%d]", i)
		m := labelPattern.FindStringSubmatch(l)
		switch {
		case m == nil:
			v.Errf(field, "%q is not key:value (lower-case key, value of [a-z0-9_-])", l)
			continue
		case seen[l]:
			v.Errf(field, "%q is listed twice", l)
			continue
		case !slices.Contains(labelKeys, m[1]):
			v.Errf(field, "unknown label key %q (known: %s)", m[1], strings.Join(labelKeys, ", "))
			continue
		}
		seen[l] = true
		switch key, val := m[1], m[2]; key {
		case "path":
			paths = append(paths, val)
			if val != s.Bot.Database {
				v.Errf(field, "%q does not match bot.database (%s)", l, s.Bot.Database)
			}
		case "fault":
			faultLabels = append(faultLabels, val)
			switch {
			case !slices.Contains(FaultKinds(), val):
				v.Errf(field, "unknown fault kind %q (known: %s)", val, strings.Join(FaultKinds(), ", "))
			case !slices.Contains(kinds, val) && !slices.Contains(labelOnlyKinds, val):
				v.Errf(field, "%q names no fault of this scenario (its kinds: %s)", l, strings.Join(kinds, ", "))
			}
		}
	}
	if len(paths) != 1 {
		v.Errf("labels", "need exactly one path label (path:%s), got %d", s.Bot.Database, len(paths))
	}
	for _, k := range kinds {
		if !slices.Contains(faultLabels, k) {
			v.Errf("labels", "missing fault:%s: every fault kind needs its label so that label filters select the scenario", k)
		}
	}
}

func (s Scenario) validateExpect(v *validator) {
	e := s.Expect
	baseline := len(s.Faults) == 0
	switch {
	case e.Effect == "":
		v.Errf("expect.effect", "is required: the evidence that the faults took effect (%s, %s, %s or %s)", EffectDegraded, EffectSlower, EffectRetried, EffectUnanswered)
	case !slices.Contains(effects, e.Effect):
		v.Errf("expect.effect", "unknown effect %q (known: %s)", e.Effect, strings.Join(effects, ", "))
	case baseline && e.Effect != EffectNone:
		v.Errf("expect.effect", "a scenario without faults can only expect %s", EffectNone)
	case !baseline && e.Effect == EffectNone:
		v.Errf("expect.effect", "%s is only for the baseline without faults: a fault must show an effect (%s, %s, %s or %s)", EffectNone, EffectDegraded, EffectSlower, EffectRetried, EffectUnanswered)
	case e.Effect == EffectUnanswered && !slices.ContainsFunc(s.Faults, Fault.CutsBot):
		v.Errf("expect.effect", "%s needs a fault that takes the bot down (%s or %s): other faults leave it answering", EffectUnanswered, TypeKill, TypeBotRestart)
	}
	switch {
	case e.Effect == EffectSlower && e.SlowerBy <= 0:
		v.Errf("expect.slower_by", "must be above 0 with effect %s, got %s", EffectSlower, e.SlowerBy)
	case e.Effect != EffectSlower && e.SlowerBy != 0:
		v.Errf("expect.slower_by", "only used with effect %s", EffectSlower)
	}
	if maxA := s.Policy().MaxAttempts; e.AttemptsPerFailedLookup < 1 || e.AttemptsPerFailedLookup > maxA {
		v.Errf("expect.attempts_per_failed_lookup", "must be between 1 and the policy's max attempts (%d), got %d", maxA, e.AttemptsPerFailedLookup)
	}
	for phase, list := range map[string][]string{"healthy": e.PromptSources.Healthy, "fault": e.PromptSources.Fault, "recovery": e.PromptSources.Recovery} {
		field := "expect.prompt_sources." + phase
		if len(list) == 0 {
			v.Errf(field, "must list at least one of %s", strings.Join(sources, ", "))
		}
		for i, src := range list {
			switch {
			case !slices.Contains(sources, src):
				v.Errf(fmt.Sprintf("%s[%d]", field, i), "unknown prompt source %q (known: %s)", src, strings.Join(sources, ", "))
			case slices.Index(list, src) != i:
				v.Errf(fmt.Sprintf("%s[%d]", field, i), "%q is listed twice", src)
			}
		}
	}
	if e.ReplyLatencyBound <= 0 {
		v.Errf("expect.reply_latency_bound", "must be above 0, got %s (there is no default when bot.retry sets neither budget nor attempt_timeout)", e.ReplyLatencyBound)
	}
	if e.WriteLatencyBound <= 0 && e.ReplyLatencyBound > 0 {
		v.Errf("expect.write_latency_bound", "must be above 0, got %s", e.WriteLatencyBound)
	}
	if e.RecoveryWithin <= 0 {
		v.Errf("expect.recovery_within", "must be above 0, got %s", e.RecoveryWithin)
	}
	for i, l := range e.LogLines {
		if strings.TrimSpace(l) == "" {
			v.Errf(fmt.Sprintf("expect.log_lines[%d]", i), "must not be blank")
		}
	}
	if e.MinMessagesPerFault < 1 {
		v.Errf("expect.min_messages_per_fault", "must be at least 1, got %d", e.MinMessagesPerFault)
	}
	if e.CacheExpiry {
		s.validateCacheExpiry(v)
	}
	faultNames := make([]string, len(s.Faults))
	for i, f := range s.Faults {
		faultNames[i] = f.Name
	}
	for _, name := range slices.Sorted(maps.Keys(e.Codes)) {
		fc, field := e.Codes[name], "expect.codes."+name
		if !slices.Contains(faultNames, name) {
			v.Errf(field, "names no fault of this scenario (its faults: %s)", strings.Join(faultNames, ", "))
			continue
		}
		for _, list := range []struct {
			key   string
			codes []string
		}{{"must", fc.Must}, {"may", fc.May}} {
			for i, c := range list.codes {
				f := fmt.Sprintf("%s.%s[%d]", field, list.key, i)
				switch {
				case !codePattern.MatchString(c) || !slices.Contains(knownCodes, resilience.Code(c)):
					known := make([]string, len(knownCodes))
					for j, k := range knownCodes {
						known[j] = string(k)
					}
					v.Errf(f, "unknown Prisma code %q (known: %s)", c, strings.Join(known, ", "))
				case slices.Index(list.codes, c) != i:
					v.Errf(f, "%q is listed twice", c)
				case list.key == "may" && slices.Contains(fc.Must, c):
					v.Errf(f, "%q is already in must", c)
				}
			}
		}
	}
	if n := e.AttemptsPerRetriedLookup; n != 0 && (n < 2 || n > s.Policy().MaxAttempts) {
		v.Errf("expect.attempts_per_retried_lookup", "must be between 2 and the policy's max attempts (%d), got %d", s.Policy().MaxAttempts, n)
	}
	switch r := e.MaxConnectsPerSecond; {
	case r < 0 || math.IsNaN(r) || math.IsInf(r, 0):
		v.Errf("expect.max_connects_per_second", "must be a number above 0, got %g", r)
	case r > 0 && s.Bot.Database != ProxyDirect:
		v.Errf("expect.max_connects_per_second", "needs bot.database: %s: through the pooler, postgres sees PgBouncer's connections, not the bot's", ProxyDirect)
	case r > 0 && baseline:
		v.Errf("expect.max_connects_per_second", "is counted during faults; a scenario without faults has none")
	}
	if baseline && len(e.Codes) > 0 {
		v.Errf("expect.codes", "a scenario without faults has no fault codes to expect")
	}
}

// validatePhases is a static validity guard: at the scenario's rate, each
// fault window, the healthy phase before the first fault and the recovery
// phase after it must each hold at least min_messages_per_fault messages,
// or the checkers would prove nothing.
func (s Scenario) validatePhases(v *validator) {
	t, e := s.Traffic, s.Expect
	if len(s.Faults) == 0 || !(t.Rate > 0) || t.Duration <= 0 || e.MinMessagesPerFault < 1 {
		return
	}
	expected := func(d time.Duration) float64 { return t.Rate * d.Seconds() }
	need := float64(e.MinMessagesPerFault)
	first, last := 0, 0
	for i, f := range s.Faults {
		if f.At < s.Faults[first].At {
			first = i
		}
		if f.End() > s.Faults[last].End() {
			last = i
		}
		if f.For > 0 && expected(f.For.D()) < need {
			v.Errf(fmt.Sprintf("faults[%d].for", i), "at traffic.rate %g/s the %s window holds ~%.1f messages, fewer than expect.min_messages_per_fault (%d)",
				t.Rate, f.For, expected(f.For.D()), e.MinMessagesPerFault)
		}
	}
	if at := s.Faults[first].At.D(); at >= 0 && expected(at) < need {
		v.Errf(fmt.Sprintf("faults[%d].at", first), "the healthy phase before the first fault holds ~%.1f messages at traffic.rate %g/s, fewer than expect.min_messages_per_fault (%d): start the fault later",
			expected(at), t.Rate, e.MinMessagesPerFault)
	}
	if e.RecoveryWithin > 0 {
		tail := t.Duration.D() - s.Faults[last].End() - e.RecoveryWithin.D()
		if tail < 0 || expected(tail) < need {
			v.Errf("traffic.duration", "the recovery phase (after the last fault ends at %s, plus expect.recovery_within %s) holds ~%.1f messages, fewer than expect.min_messages_per_fault (%d): lengthen the traffic",
				s.Faults[last].End(), e.RecoveryWithin, max(expected(tail), 0), e.MinMessagesPerFault)
		}
	}
}

// validateCacheExpiry: expect.cache_expiry can only be seen with a cache
// limit the scenario sets, a fault that outlasts it, and the fault phase
// allowing both sources the switch shows.
func (s Scenario) validateCacheExpiry(v *validator) {
	const field = "expect.cache_expiry"
	limit := s.Bot.PromptMaxStaleness
	if limit == nil || *limit <= 0 {
		v.Errf(field, "needs bot.prompt_max_staleness above 0: the limit whose expiry the run must show")
		return
	}
	if !slices.ContainsFunc(s.Faults, func(f Fault) bool { return f.For > *limit }) {
		v.Errf(field, "needs a fault longer than bot.prompt_max_staleness (%s): no cached prompt can expire inside a shorter one", *limit)
	}
	for _, src := range []string{SourceCached, SourceDefault} {
		if !slices.Contains(s.Expect.PromptSources.Fault, src) {
			v.Errf(field, "needs %q in expect.prompt_sources.fault: the switch goes from cached to default", src)
		}
	}
}
