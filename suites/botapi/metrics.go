package botapi

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

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

// ParseSeriesKey splits a key of ParseMetrics' map back into the metric's
// name and labels: name{a="x",b="y"} gives name and {a: x, b: y}.
func ParseSeriesKey(key string) (string, map[string]string, error) {
	labels := map[string]string{}
	name, rest, found := strings.Cut(key, "{")
	if name == "" {
		return "", nil, fmt.Errorf("series key %q: no metric name", key)
	}
	if !found {
		return name, labels, nil
	}
	for {
		label, value, ok := strings.Cut(rest, "=")
		if !ok || label == "" || !strings.HasPrefix(value, `"`) {
			return "", nil, fmt.Errorf("series key %q: want label=\"value\" at %q", key, rest)
		}
		quoted, err := strconv.QuotedPrefix(value)
		if err != nil {
			return "", nil, fmt.Errorf("series key %q: label %s: %w", key, label, err)
		}
		// QuotedPrefix has checked the quoting: Unquote cannot fail.
		labels[label], _ = strconv.Unquote(quoted)
		switch rest = value[len(quoted):]; {
		case rest == "}":
			return name, labels, nil
		case strings.HasPrefix(rest, ","):
			rest = rest[1:]
		default:
			return "", nil, fmt.Errorf("series key %q: want , or } after label %s", key, label)
		}
	}
}

// BuildVersion is the version label of the bot's bot_build_info gauge in
// metrics (ParseMetrics' map), "" when it has none.
func BuildVersion(metrics map[string]float64) string {
	for key := range metrics {
		name, labels, err := ParseSeriesKey(key)
		if err == nil && name == "bot_build_info" && labels["version"] != "" {
			return labels["version"]
		}
	}
	return ""
}
