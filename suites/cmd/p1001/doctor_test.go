package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/environment"
)

func TestDemoShowsTheDoctorsVerdict(t *testing.T) {
	failing := &environment.DoctorReport{Schema: environment.DoctorSchema, FailedStep: "tcp", Code: "P1001", Steps: []environment.DoctorStep{
		{Name: "url", Status: "ok", Summary: "toxiproxy:6543"},
		{Name: "tcp", Status: "fail", Summary: "no address accepted a connection on port 6543", Code: "P1001", Reason: "connection refused", Advice: "Is the database server running?"},
		{Name: "tls", Status: "skipped"},
	}}
	healthy := &environment.DoctorReport{Schema: environment.DoctorSchema, Healthy: true, Steps: []environment.DoctorStep{{Name: "url", Status: "ok"}}}
	tests := []struct {
		name        string
		report      *environment.DoctorReport
		err         error
		wantFailure string
		wantLine    string
	}{
		{name: "the doctor names the fault", report: failing, wantLine: "doc |   P1001: connection refused"},
		{name: "the doctor sees nothing wrong", report: healthy, wantFailure: "bot doctor names the fault: healthy"},
		{name: "the doctor does not run", err: errors.New("no image"), wantFailure: "bot doctor ran against the bot's DATABASE_URL: no image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := NewNarrator(&out, nil)
			logs := NewLogWatcher(n)
			proxy := &fakeProxy{}
			d := &Demo{Verdict: &Verdict{N: n}, Bot: &fakeBot{proxy: proxy, logs: logs, b: behaviour{recoverAfter: 2}}, Logs: logs, Target: fakeTarget{proxy},
				Fault: outage, Expect: expectations(outage), Chat: "demo", MaxAttempts: 3,
				LogWait: 50 * time.Millisecond, PollEvery: time.Millisecond, RecoveryBound: time.Minute,
				Doctor: func(context.Context) (*environment.DoctorResult, error) {
					if tt.report == nil {
						return nil, tt.err
					}
					return &environment.DoctorResult{Report: *tt.report}, tt.err
				}}
			for _, s := range d.Steps() {
				if err := s.Run(context.Background()); err != nil {
					t.Fatalf("%s: %v\n%s", s.Title, err, out.String())
				}
			}
			failures := strings.Join(d.failures, "\n")
			if tt.wantFailure == "" && failures != "" || !strings.Contains(failures, tt.wantFailure) {
				t.Errorf("failures %q, want %q\n%s", failures, tt.wantFailure, out.String())
			}
			if !strings.Contains(out.String(), tt.wantLine) {
				t.Errorf("narration lacks %q:\n%s", tt.wantLine, out.String())
			}
		})
	}
}
