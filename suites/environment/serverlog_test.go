package environment

import (
	"strings"
	"testing"
	"time"
)

func TestServerLines(t *testing.T) {
	logs := []byte(`2026-11-29 16:09:01.100 UTC [100] LOG:  connection received: host=172.23.0.4 port=41234
2026-11-29 16:09:01.200 UTC [101] LOG:  connection received: host=172.23.0.1 port=41235
2026-11-29 16:09:02.300 UTC [102] LOG:  connection received: host=172.23.0.4 port=41236
2026-11-29 16:09:02.350 UTC [102] FATAL:  password authentication failed for user "p1001"
2026-11-29 16:09:03.000 UTC [103] LOG:  connection received: host=172.23.0.40 port=1
`)
	since := time.Date(2026, 11, 29, 16, 9, 1, 150e6, time.UTC)
	mark := "connection received: host=172.23.0.4 "
	got, err := serverLines(logs, mark, since)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 29, 16, 9, 2, 300e6, time.UTC)
	if len(got) != 1 || !got[0].At.Equal(want) || !strings.HasSuffix(got[0].Text, "port=41236") {
		t.Fatalf("serverLines = %v, want one line at %v: only that host (not .40), only since", got, want)
	}
	if _, err := serverLines([]byte("bad connection received: host=172.23.0.4 x\n"), mark, since); err == nil {
		t.Error("a line without a timestamp must be an error, not skipped")
	}
}
