package scenarios

import (
	"reflect"
	"testing"
	"time"
)

// TestNormalizeFillsInWhatParseFillsIn: a scenario built in code with the
// fields a file sets, normalized, is the scenario Parse makes of the file.
func TestNormalizeFillsInWhatParseFillsIn(t *testing.T) {
	const file = `
name: normalize
description: An outage and a latency toxic on the pooler, and a kill, with every default left out.
labels: [fault:outage, fault:latency, fault:kill, path:pooler]
traffic:
  chats: 3
  rate: 10
  duration: 20s
faults:
  - {at: 1s, for: 2s, type: outage, proxy: pooler}
  - {at: 4s, for: 1s, type: latency, proxy: pooler, attributes: {latency: 500}}
  - {at: 6s, type: kill}
expect:
  effect: degraded
`
	parsed, err := Parse("normalize", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	built := Normalize(Scenario{
		Name:        "normalize",
		Description: "An outage and a latency toxic on the pooler, and a kill, with every default left out.",
		Labels:      []string{"fault:outage", "fault:latency", "fault:kill", "path:pooler"},
		Traffic:     Traffic{Chats: 3, Rate: 10, Duration: Duration(20 * time.Second)},
		Faults: []Fault{
			{At: Duration(time.Second), For: Duration(2 * time.Second), Type: TypeOutage, Proxy: "pooler"},
			{At: Duration(4 * time.Second), For: Duration(time.Second), Type: TypeLatency, Proxy: "pooler", Attributes: map[string]int64{"latency": 500}},
			{At: Duration(6 * time.Second), Type: TypeKill},
		},
		Expect: Expect{Effect: EffectDegraded},
	})
	built.File = parsed.File
	if !reflect.DeepEqual(built, parsed) {
		t.Errorf("Normalize:\n got %+v\nwant %+v (Parse)", built, parsed)
	}
	if again := Normalize(built); !reflect.DeepEqual(again, built) {
		t.Errorf("Normalize is not idempotent:\n got %+v\nwant %+v", again, built)
	}
}
