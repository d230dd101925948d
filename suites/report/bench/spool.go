package bench

import "slices"

// Durable outbox configurations: the bot's healthy throughput without the
// spool and with it in both SPOOL_FSYNC modes, on the same stack and
// build, taking turns round by round so that a drift of the shared
// machine's load does not favour one of them.
const (
	SpoolOff        = "spool=off"
	SpoolBackground = "spool=background"
	SpoolReply      = "spool=reply"
)

// SpoolConfigs are the configurations, in the order they take turns.
func SpoolConfigs() []BotConfig {
	return []BotConfig{
		{Name: SpoolOff, Env: map[string]string{"SPOOL_PATH": "off"}, URLParams: map[string]string{}},
		{Name: SpoolBackground, Env: map[string]string{"SPOOL_FSYNC": "background"}, URLParams: map[string]string{}},
		{Name: SpoolReply, Env: map[string]string{"SPOOL_FSYNC": "reply"}, URLParams: map[string]string{}},
	}
}

// SpoolRow sums up one spool configuration's windows.
type SpoolRow struct {
	Config  string `json:"config"`
	Windows int    `json:"windows"`
	// RepliesPerSec is all replies over all windows; P99MS the mean of the
	// windows' p99 latencies.
	RepliesPerSec float64 `json:"replies_per_sec"`
	P99MS         float64 `json:"p99_ms"`
	// ChangePct is RepliesPerSec against spool=off, in percent.
	ChangePct float64 `json:"change_pct"`
}

// SpoolCost sums up the windows per configuration, in SpoolConfigs order.
func SpoolCost(windows []ThroughputResult) []SpoolRow {
	var rows []SpoolRow
	for _, c := range SpoolConfigs() {
		row := SpoolRow{Config: c.Name}
		var replies int
		var secs, p99 float64
		for _, t := range windows {
			if t.Config != c.Name {
				continue
			}
			row.Windows++
			replies += t.Replies
			secs += t.WindowMS / 1000
			p99 += t.Latency.P99.Value
		}
		if row.Windows == 0 || secs == 0 {
			continue
		}
		row.RepliesPerSec, row.P99MS = float64(replies)/secs, p99/float64(row.Windows)
		rows = append(rows, row)
	}
	if i := slices.IndexFunc(rows, func(r SpoolRow) bool { return r.Config == SpoolOff }); i >= 0 && rows[i].RepliesPerSec > 0 {
		for j := range rows {
			rows[j].ChangePct = 100 * (rows[j].RepliesPerSec/rows[i].RepliesPerSec - 1)
		}
	}
	return rows
}
