package bench

import "time"

// TimedMsg is a reply and when it completed, from the window's start.
type TimedMsg struct {
	At  time.Duration
	Msg Msg
}

// Tally sums up a throughput window: replies, replies per second overall
// and per 1 s bucket, and the latency of every message that completed.
func Tally(setting, config string, concurrency int, window time.Duration, done []TimedMsg) ThroughputResult {
	res := ThroughputResult{Setting: setting, Config: config, Concurrency: concurrency, WindowMS: MS(window)}
	buckets := int((window + time.Second - 1) / time.Second)
	res.Buckets = make([]int, buckets)
	var latencies []Sample
	for _, d := range done {
		if s, ok := d.Msg.Sample(); ok {
			latencies = append(latencies, s)
		}
		switch {
		case d.Msg.Capped:
			res.Capped++
		case d.Msg.Error != "":
			res.Errors++
		default:
			res.Replies++
			if d.Msg.Degraded {
				res.Degraded++
			}
			if i := int(d.At / time.Second); i >= 0 && i < buckets {
				res.Buckets[i]++
			}
		}
	}
	if window > 0 {
		res.RepliesPerSec = float64(res.Replies) / window.Seconds()
	}
	var perSecond []Sample
	for i, n := range res.Buckets {
		// A last partial bucket is scaled to a full second.
		span := min(time.Second, window-time.Duration(i)*time.Second)
		perSecond = append(perSecond, Sample{Value: float64(n) / span.Seconds()})
	}
	res.PerSecond = Summarize("replies/s", perSecond)
	res.Latency = Summarize("ms", latencies)
	return res
}
