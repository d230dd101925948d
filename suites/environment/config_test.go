package environment

import (
	"maps"
	"testing"
)

// Each Ginkgo process's stack carries its process in its labels and names,
// and every stack the project label, which make clean looks for.
func TestLabelsAndNames(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		wantLabels map[string]string
		wantPrefix string
	}{
		{"outside Ginkgo (make p1001, make bench)", Config{RunID: "r1"},
			map[string]string{Label: "p1001", RunLabel: "r1"}, "p1001-r1"},
		{"process 1", Config{RunID: "r1", Process: 1},
			map[string]string{Label: "p1001", RunLabel: "r1", ProcessLabel: "1"}, "p1001-r1-p1"},
		{"process 3", Config{RunID: "r1", Process: 3},
			map[string]string{Label: "p1001", RunLabel: "r1", ProcessLabel: "3"}, "p1001-r1-p3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.labels(); !maps.Equal(got, tt.wantLabels) {
				t.Errorf("labels() = %v, want %v", got, tt.wantLabels)
			}
			if got := tt.cfg.namePrefix(); got != tt.wantPrefix {
				t.Errorf("namePrefix() = %q, want %q", got, tt.wantPrefix)
			}
		})
	}
}
