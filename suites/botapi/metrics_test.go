package botapi

import "testing"

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
