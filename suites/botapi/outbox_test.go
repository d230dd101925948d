package botapi

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// depths is a bot whose outbox holds depths[i] records at the i-th read
// (the last one from then on); a nil entry reads without the gauge.
type depths []any

func (d *depths) Metrics(context.Context) (map[string]float64, error) {
	v := (*d)[0]
	if len(*d) > 1 {
		*d = (*d)[1:]
	}
	switch v := v.(type) {
	case error:
		return nil, v
	case float64:
		return map[string]float64{MetricOutboxDepth: v, "other": 1}, nil
	}
	return map[string]float64{"other": 1}, nil
}

func TestWaitOutboxEmpty(t *testing.T) {
	tests := []struct {
		name      string
		bot       depths
		wantDepth float64
		wantErr   string
		notEmpty  bool
		timeout   time.Duration
	}{
		{name: "empty at once", bot: depths{0.0}},
		// A wait that ends on an empty outbox gets a long timeout: on a
		// loaded machine 30ms could pass between two reads (it did once).
		{name: "drains", bot: depths{3.0, 1.0, 0.0}, timeout: time.Minute},
		{name: "never drains", bot: depths{2.0}, wantDepth: 2, wantErr: "2 record(s) after 30ms", notEmpty: true, timeout: 30 * time.Millisecond},
		{name: "no gauge", bot: depths{nil}, wantErr: "/metrics has no bot_outbox_depth"},
		{name: "no metrics", bot: depths{errors.New("connection refused")}, wantErr: "read the bot's metrics: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := cmp.Or(tt.timeout, 30*time.Millisecond)
			m, err := WaitOutboxEmpty(context.Background(), &tt.bot, timeout, time.Millisecond)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("WaitOutboxEmpty = %v, want error %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrOutboxNotEmpty) != tt.notEmpty {
				t.Errorf("errors.Is(%v, ErrOutboxNotEmpty) = %v, want %v", err, !tt.notEmpty, tt.notEmpty)
			}
			if tt.wantErr == "" || tt.notEmpty {
				if m[MetricOutboxDepth] != tt.wantDepth || m["other"] != 1 {
					t.Errorf("metrics %v, want depth %v and the rest of what was read", m, tt.wantDepth)
				}
			}
		})
	}
}
