package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// NameReplyEffect is the behaviour check of expect.effect: the faults show
// in the bot's replies (degraded, slower, retried).
const NameReplyEffect = "effect-on-replies"

// probeEvidence says what a probe inside a fault's window (which began at
// the wall-clock time since) must show for the fault to count as having
// taken effect, by fault type: the stack's side of the story, without the
// bot.
func probeEvidence(f scenarios.Fault, since time.Time) (what string, shows func(history.Probe) bool) {
	failed := func(p history.Probe) bool { return p.Kind == history.ProbeSQL && !p.OK }
	switch f.Type {
	case scenarios.TypeOutage:
		return "a probe connection through the proxy failed", failed
	case scenarios.TypeTimeout, scenarios.TypePause:
		return "a probe query got no answer", failed
	case scenarios.TypeResetPeer, scenarios.TypeLimitData:
		return "a probe connection through the proxy was cut", failed
	case scenarios.TypePgError:
		rf, _ := scenarios.RefusalOf(f.Refusal)
		return fmt.Sprintf("a probe connection through the proxy was refused with %q", rf.Message), func(p history.Probe) bool {
			return failed(p) && rf.Message != "" && strings.Contains(p.Err, rf.Message)
		}
	case scenarios.TypeRestart:
		return "a probe connection to the restarting " + f.Target + " failed", failed
	// The stack's own words on a failed probe.
	case scenarios.TypeClientLimit:
		return "a probe connection through the pooler was refused: no more connections allowed (max_client_conn)", failedWith(failed, "max_client_conn")
	case scenarios.TypeServerLimit:
		return "a new probe login to postgres was refused: too many clients", failedWith(failed, "too many clients")
	case scenarios.TypePasswordRotation:
		return "a new probe login to postgres with the old password failed", failedWith(failed, "password authentication failed")
	case scenarios.TypeIdleReaping:
		return "PgBouncer closed a probe connection left idle for 1s (client_idle_timeout)", failedWith(failed, "client_idle_timeout")
	case scenarios.TypeLatency:
		least := time.Duration(f.Attributes["latency"]-f.Attributes["jitter"])*time.Millisecond - 5*time.Millisecond
		return fmt.Sprintf("a probe query through the proxy took at least %s", max(least, 0)), func(p history.Probe) bool {
			return p.Kind == history.ProbeSQL && (p.OK || p.TimedOut) && p.Took() >= least
		}
	case scenarios.TypePartition:
		return "Docker showed " + f.Target + " detached from the stack's network", func(p history.Probe) bool {
			return p.Kind == history.ProbeNetwork && p.Err == "" && !p.OK
		}
	case scenarios.TypeDNS:
		name := scenarios.HostName(f.Proxy)
		return "Docker showed the name " + name + " gone from the stack's network", func(p history.Probe) bool {
			return p.Kind == history.ProbeNetwork && p.Where == name && p.Err == "" && !p.OK
		}
	case scenarios.TypeKill, scenarios.TypeBotRestart:
		// The container is started again within the window, often between
		// two probes: a start time inside the window shows it as well as a
		// probe that caught it stopped.
		return "Docker showed the " + f.Target + " container stopped, or started again after the fault began", func(p history.Probe) bool {
			return p.Kind == history.ProbeContainer && p.Err == "" && (!p.OK || p.StartedAt.After(since))
		}
	default: // bandwidth, slicer, slow_close: too gentle for a probe query to be sure
		id := toxicID(f)
		return "Toxiproxy listed the toxic " + id + " on " + f.Proxy, func(p history.Probe) bool {
			return p.Kind == history.ProbeToxics && p.OK && slices.Contains(p.Toxics, id)
		}
	}
}

// failedWith narrows a failed probe to one whose error has the words.
func failedWith(failed func(history.Probe) bool, words string) func(history.Probe) bool {
	return func(p history.Probe) bool { return failed(p) && strings.Contains(p.Err, words) }
}

// toxicID is how a toxics probe names a toxic: "name:type:stream".
func toxicID(f scenarios.Fault) string {
	stream := f.Stream
	if stream == "" {
		stream = scenarios.DefaultStream
	}
	return f.Name + ":" + f.Type + ":" + stream
}

// proven reports, per measured fault window, whether a probe that ran
// entirely inside it shows the fault's effect, and describes what was
// looked for and what the probes saw.
func proven(r rules, tl timeline, h history.History) map[string]proof {
	out := map[string]proof{}
	for _, w := range tl.windows {
		f, ok := r.faults[w.fault]
		if !ok {
			continue
		}
		what, shows := probeEvidence(f, h.Base.Add(w.start))
		pr := proof{want: what}
		for i, p := range h.Probes {
			if p.Fault != w.fault || p.Start < w.start || p.End > w.stop {
				continue
			}
			pr.inside++
			if shows(p) {
				pr.ok, pr.first = true, i
				break
			}
			pr.last = p
		}
		out[w.fault] = pr
	}
	return out
}

type proof struct {
	want   string
	ok     bool
	first  int           // the probe that showed it
	inside int           // probes inside the window looked at
	last   history.Probe // the last one that did not show it
}

// GuardEffect: every fault took effect, as the stack itself shows it (not
// the bot): a probe of the harness's own that ran entirely inside the
// fault's measured window saw what the fault does (see probeEvidence: a
// refused or cut probe connection, a probe query with no answer or slowed
// by the latency, Toxiproxy listing the toxic, Docker showing the bot
// detached). A bot that masks a fault does not make this guard fail: it
// fails a behaviour check (latency-bound, attempt-timeout,
// effect-on-replies). Without faults the guard passes when none was
// planned or measured.
func GuardEffect(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	tl := newTimeline(h, r.recoveryWithin)
	v := newVerdict(NameEffect, true, "Every fault took effect, as the harness's own probes of the stack show (without the bot).")
	if len(r.planned) == 0 {
		if tl.hasFaults() {
			v.fail("%d faults were measured but none planned", len(tl.windows))
		}
		return v.result()
	}
	proofs := proven(r, tl, h)
	for _, w := range tl.windows {
		pr, ok := proofs[w.fault]
		switch {
		case !ok:
			continue // not planned: guard-faults-played says so
		case pr.ok:
		case pr.inside == 0:
			v.fail("fault %s [%s, %s): no probe of the stack ran inside its window, so nothing shows it took effect (want: %s)",
				w.fault, offset(w.start), offset(w.stop), pr.want)
		default:
			v.fail("fault %s [%s, %s): none of the %d probes inside its window shows it took effect (want: %s; the last: %s)",
				w.fault, offset(w.start), offset(w.stop), pr.inside, pr.want, describeProbe(pr.last))
		}
	}
	return v.result()
}

func describeProbe(p history.Probe) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s probe of %s at %s took %s", p.Kind, p.Where, offset(p.Start), p.Took().Round(time.Millisecond))
	switch {
	case p.Kind == history.ProbeToxics:
		fmt.Fprintf(&b, ", toxics [%s], enabled %v", strings.Join(p.Toxics, " "), p.Enabled)
	case p.Kind == history.ProbeContainer:
		fmt.Fprintf(&b, ", running %v, started %s", p.OK, p.StartedAt.Format(time.RFC3339Nano))
	case p.TimedOut:
		b.WriteString(", no answer")
	case p.OK:
		b.WriteString(", ok")
	}
	if p.Err != "" {
		b.WriteString(", " + redact(p.Err))
	}
	return b.String()
}
