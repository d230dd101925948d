package botapi

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	data := []byte(`# TYPE bot_outbox_depth gauge
bot_outbox_depth 3
# TYPE bot_replies_total counter
bot_replies_total{source="custom",degraded="false"} 10
bot_replies_total{degraded="true",source="default"} 2
# TYPE bot_reply_duration_seconds histogram
bot_reply_duration_seconds_bucket{le="0.1"} 4
bot_reply_duration_seconds_bucket{le="+Inf"} 5
bot_reply_duration_seconds_sum 1.5
bot_reply_duration_seconds_count 5
`)
	got, err := ParseMetrics(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"bot_outbox_depth": 3,
		`bot_replies_total{degraded="false",source="custom"}`: 10,
		`bot_replies_total{degraded="true",source="default"}`: 2,
		"bot_reply_duration_seconds_count":                    5,
		"bot_reply_duration_seconds_sum":                      1.5,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(got), len(want), got)
	}
	if _, err := ParseMetrics([]byte("bot_outbox_depth{ 3\n")); err == nil {
		t.Error("malformed exposition parsed without error")
	}
}

func TestParseSeriesKey(t *testing.T) {
	tests := []struct {
		key, name string
		labels    map[string]string
		err       bool
	}{
		{key: "bot_outbox_depth", name: "bot_outbox_depth", labels: map[string]string{}},
		{key: `bot_build_info{commit="abc",version="p1001 bot abc go1.26.8"}`, name: "bot_build_info",
			labels: map[string]string{"commit": "abc", "version": "p1001 bot abc go1.26.8"}},
		{key: seriesKey("odd", map[string]string{"v": `a,b="c"}`, "w": "é\n"}), name: "odd",
			labels: map[string]string{"v": `a,b="c"}`, "w": "é\n"}},
		{key: "", err: true},
		{key: `{a="x"}`, err: true},
		{key: "m{}", err: true},
		{key: `m{a=x}`, err: true},
		{key: `m{a="x"`, err: true},
		{key: `m{a="x}`, err: true},
		{key: `m{a="x";b="y"}`, err: true},
		{key: `m{a="x"}}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			name, labels, err := ParseSeriesKey(tt.key)
			if (err != nil) != tt.err {
				t.Fatalf("ParseSeriesKey(%q) error %v, want one: %v", tt.key, err, tt.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.key)) {
					t.Errorf("error %v does not name the key", err)
				}
				return
			}
			if name != tt.name || !maps.Equal(labels, tt.labels) {
				t.Errorf("ParseSeriesKey(%q) = %q, %v; want %q, %v", tt.key, name, labels, tt.name, tt.labels)
			}
		})
	}
}

func TestBuildVersion(t *testing.T) {
	tests := []struct {
		metrics map[string]float64
		want    string
	}{
		{map[string]float64{`bot_build_info{commit="abc",version="p1001 bot abc"}`: 1, "bot_outbox_depth": 0}, "p1001 bot abc"},
		{map[string]float64{`bot_build_info{commit="abc"}`: 1}, ""},
		{map[string]float64{`other_info{version="x"}`: 1}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := BuildVersion(tt.metrics); got != tt.want {
			t.Errorf("BuildVersion(%v) = %q, want %q", tt.metrics, got, tt.want)
		}
	}
}
