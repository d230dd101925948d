package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/p1001/p1001/suites/history"
)

// ParseLogs reads the bot's slog JSON lines. A line that is not JSON (a
// panic, say) is kept as its text in Msg, so nothing the bot said is lost.
func ParseLogs(data []byte) []history.LogLine {
	var lines []history.LogLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(text), &fields); err != nil {
			lines = append(lines, history.LogLine{Msg: text})
			continue
		}
		line := history.LogLine{}
		if t, ok := fields["time"].(string); ok {
			line.Time, _ = time.Parse(time.RFC3339Nano, t)
		}
		line.Level, _ = fields["level"].(string)
		line.Msg, _ = fields["msg"].(string)
		delete(fields, "time")
		delete(fields, "level")
		delete(fields, "msg")
		if len(fields) > 0 {
			line.Attrs = fields
		}
		lines = append(lines, line)
	}
	return lines
}

// ParseMetrics reads Prometheus text exposition into name{labels} -> value.
// Histograms and summaries contribute their _count and _sum.
func ParseMetrics(data []byte) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := map[string]float64{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := seriesKey(name, labels)
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				out[seriesKey(name+"_count", labels)] = float64(m.GetHistogram().GetSampleCount())
				out[seriesKey(name+"_sum", labels)] = m.GetHistogram().GetSampleSum()
			case m.Summary != nil:
				out[seriesKey(name+"_count", labels)] = float64(m.GetSummary().GetSampleCount())
				out[seriesKey(name+"_sum", labels)] = m.GetSummary().GetSampleSum()
			}
		}
	}
	return out, nil
}

// seriesKey writes name{a="x",b="y"} with sorted labels, as Prometheus
// prints a series; a series without labels is just its name.
func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
