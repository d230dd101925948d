package runner

import (
	"testing"
	"time"
)

func TestParseLogs(t *testing.T) {
	data := []byte(`{"time":"2026-11-26T09:00:01.5Z","level":"WARN","msg":"[DB Retry] Attempt 1/3 failed, retrying in 80ms...","op":"getCustomPrompt","code":"P1001","attempt":1}
not json: panic
` + "\n" + `{"time":"2026-11-26T09:00:02Z","level":"INFO","msg":"listening"}`)
	lines := ParseLogs(data)
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (blank lines skipped, non-JSON kept): %+v", len(lines), lines)
	}
	first := lines[0]
	if first.Level != "WARN" || first.Msg != "[DB Retry] Attempt 1/3 failed, retrying in 80ms..." ||
		!first.Time.Equal(time.Date(2026, 11, 26, 9, 0, 1, 500e6, time.UTC)) {
		t.Errorf("first line parsed as %+v", first)
	}
	if first.Attrs["code"] != "P1001" || first.Attrs["op"] != "getCustomPrompt" || first.Attrs["attempt"] != 1.0 {
		t.Errorf("first line attrs %+v", first.Attrs)
	}
	if _, ok := first.Attrs["msg"]; ok {
		t.Errorf("msg kept among the attrs")
	}
	if lines[1].Msg != "not json: panic" || lines[1].Level != "" {
		t.Errorf("a non-JSON line should be kept whole in Msg, got %+v", lines[1])
	}
	if lines[2].Attrs != nil {
		t.Errorf("a line without attrs should have none, got %+v", lines[2].Attrs)
	}
}
