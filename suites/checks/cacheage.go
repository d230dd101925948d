package checks

import (
	"fmt"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// NameCacheAge is the check of the cached prompt's age a reply reports
// (prompt_age_ms), and of the switch to the default once it expires.
const NameCacheAge = "cache-age"

// ageResolution is prompt_age_ms's unit: the bot truncates to whole
// milliseconds, so the true age lies in [ms, ms+1ms).
const ageResolution = time.Millisecond

// CacheAge: every cached reply says how old its prompt is (prompt_age_ms),
// at most PROMPT_MAX_STALENESS, and that age fits the harness's own timing
// of the chat's reads and saves (fills, as cache-staleness reads them):
//   - at least the reply's invoke minus the latest end of any fill that
//     could have filled the cache before the reply ended: the bot cannot
//     have read more recently than that;
//   - at most the reply's end minus the earliest moment of the youngest
//     fill that ended before the reply began: that fill certainly reached
//     the cache before, and a later put only makes the entry younger.
//
// So a bot that reports a small age for a prompt the harness saw read long
// ago fails, and so does one that serves a prompt older than the limit
// however it reports it (cache-staleness fails it too, from the harness's
// side alone). The unit (1ms) is the only margin: both clocks are monotonic
// on one host.
//
// With expect.cache_expiry the run must also show the switch: in some
// chat, a degraded cached reply, then a degraded default reply invoked
// after it ended and more than PROMPT_MAX_STALENESS after the latest end of
// every fill of that chat before it (its cache had certainly expired, by
// the harness's clock). Whether a default reply came too early is
// prompt-claims' promise, and a cached one too late cache-staleness'.
func CacheAge(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	promise := fmt.Sprintf("A cached reply reports its prompt's age (prompt_age_ms), at most %s (PROMPT_MAX_STALENESS), and within the bounds the harness's timing of the chat's reads and saves sets.", r.staleness)
	if s.Expect.CacheExpiry {
		promise = fmt.Sprintf("A cached reply reports its prompt's age (prompt_age_ms), at most %s (PROMPT_MAX_STALENESS), within the bounds the harness's timing of the chat's reads and saves sets, and a chat switches from its cached to the default prompt once the limit passed.", r.staleness)
	}
	v := newVerdict(NameCacheAge, false, promise)
	// Before the skip below: a target that shows no prompt_source shows
	// no cached reply either.
	if un, ok := v.unobservable(h, needsCacheAge); ok {
		return un
	}
	fills := fillsOf(r, h, cutWindows(r, h))
	cachedSeen := false
	for _, o := range h.Ops {
		if o.Outcome != history.OK || o.PromptSource != scenarios.SourceCached {
			continue
		}
		cachedSeen = true
		if o.PromptAgeMS == nil {
			v.op(o, "claims the cached prompt but reports no prompt_age_ms")
			continue
		}
		age := time.Duration(*o.PromptAgeMS) * time.Millisecond
		if age < 0 || age > r.staleness {
			v.op(o, "reports a cached prompt %s old: want 0 to %s (PROMPT_MAX_STALENESS)", age, r.staleness)
			continue
		}
		persona, known := replyPersona(o)
		var latestEnd, definite time.Duration = -forever, -forever
		for _, f := range fills[o.Chat] {
			if f.earliest < o.Complete && (!known || !f.known || f.persona == persona) {
				latestEnd = max(latestEnd, f.end(o.Complete))
			}
			if !f.maybe && f.op.Complete <= o.Invoke {
				definite = max(definite, f.earliest)
			}
		}
		switch {
		case latestEnd == -forever:
			v.op(o, "reports a cached prompt %s old, but the history shows no read or save of it by the bot before", age)
		case age+ageResolution <= o.Invoke-latestEnd:
			v.op(o, "reports a cached prompt %s old, but the last read or save that could have filled it ended %s before this request began",
				age, (o.Invoke - latestEnd).Round(time.Millisecond))
		case definite != -forever && age > o.Complete-definite:
			v.op(o, "reports a cached prompt %s old, but a read or save of the chat began at most %s before this reply ended",
				age, (o.Complete - definite).Round(time.Millisecond))
		}
	}
	if s.Expect.CacheExpiry && !switched(h, fills, r.staleness) {
		v.fail("no chat switched from a cached to the default prompt after PROMPT_MAX_STALENESS (%s) passed: the outage proves nothing about the limit", r.staleness)
	}
	if !cachedSeen && !s.Expect.CacheExpiry {
		return v.skip("no reply claims the cached prompt")
	}
	return v.result()
}

// switched reports whether some chat shows a degraded cached reply and,
// after it, a degraded default reply whose cache had certainly expired:
// invoked more than staleness after the latest end of every fill of the
// chat that began before it.
func switched(h history.History, fills map[string][]fill, staleness time.Duration) bool {
	for _, c := range h.Ops {
		if c.Outcome != history.OK || !c.Degraded || c.PromptSource != scenarios.SourceCached {
			continue
		}
		for _, o := range h.Ops {
			if o.Chat != c.Chat || o.Outcome != history.OK || !o.Degraded || o.PromptSource != scenarios.SourceDefault || o.Invoke < c.Complete {
				continue
			}
			latest := -forever
			for _, f := range fills[o.Chat] {
				if f.op.Invoke < o.Complete {
					latest = max(latest, f.end(o.Complete))
				}
			}
			if o.Invoke-latest > staleness {
				return true
			}
		}
	}
	return false
}
