package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/targets"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args      string
		want      Options
		wantFault string // label of the fault
		wantErr   string
	}{
		{args: "", wantFault: "down"},
		{args: "-fault black-hole", wantFault: "black_hole"},
		{args: "-fault blackhole", wantFault: "black_hole"}, // the former spelling
		{args: "-fault reset", wantFault: "reset_peer"},
		{args: "-fault latency -latency 2500ms", wantFault: "latency 2.5s"},
		{args: "-i -keep -show-secrets", want: Options{Interactive: true, Keep: true, ShowSecrets: true}, wantFault: "down"},
		{args: "-fault partition", wantErr: `FAULT=partition: fault "partition": want one of black_hole, client_limit, latency, outage, password_rotation, reset_peer`},
		{args: "-i -fault reset", wantErr: "FAULT=reset applies to the narrated run"},
		{args: "-latency 0s", wantErr: "-latency 0s"},
		{args: "-latency 1500us", wantErr: "whole number of milliseconds"},
		{args: "-show-secrets", wantErr: "SHOW_SECRETS=1 (-show-secrets) only applies with KEEP=1"},
		{args: "-param connect_timeout=1", wantErr: "flag provided but not defined: -param"},
		{args: "-fault missing-pgbouncer", want: Options{MissingPgBouncer: true}},
		{args: "-fault missing_pgbouncer -latency 1s", want: Options{MissingPgBouncer: true}},
		{args: "-i extra", wantErr: `unexpected argument(s) ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := ParseOptions(strings.Fields(tt.args), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseOptions(%q) = %+v, %v; want an error with %q", tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Fault.Type != "" && label(got.Fault) != tt.wantFault || got.Fault.Type == "" && tt.wantFault != "" ||
				got.Interactive != tt.want.Interactive || got.Keep != tt.want.Keep || got.ShowSecrets != tt.want.ShowSecrets ||
				got.MissingPgBouncer != tt.want.MissingPgBouncer {
				t.Fatalf("ParseOptions(%q) = %+v (fault %s), want %+v (fault %s)", tt.args, got, label(got.Fault), tt.want, tt.wantFault)
			}
		})
	}
}

// TestFaultApplyAndUndo: each FAULT= kind plays the fault table's fault
// on the pooler proxy, under a p1001- toxic name.
func TestFaultApplyAndUndo(t *testing.T) {
	tests := []struct {
		kind      string
		wantApply string
		wantUndo  string
		wantLabel string
	}{
		{"outage", "disable", "enable", "down"},
		{"black-hole", "add p1001-black_hole timeout downstream 1.0 timeout=0", "remove p1001-black_hole", "black_hole"},
		{"reset", "add p1001-reset_peer reset_peer upstream 1.0 timeout=0", "remove p1001-reset_peer", "reset_peer"},
		{"latency", "add p1001-latency latency downstream 1.0 jitter=0,latency=3000", "remove p1001-latency", "latency 3s"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			f, err := faultOf(tt.kind, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p := &fakeProxy{}
			if err := f.Apply(context.Background(), fakeTarget{p}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Calls(), ","); got != tt.wantApply {
				t.Errorf("Apply: %s, want %s", got, tt.wantApply)
			}
			if !p.broken() {
				t.Error("the proxy is not broken after Apply")
			}
			p.calls = nil
			if err := f.Undo(context.Background(), fakeTarget{p}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Calls(), ","); got != tt.wantUndo {
				t.Errorf("Undo: %s, want %s", got, tt.wantUndo)
			}
			if p.broken() {
				t.Error("the proxy is still broken after Undo")
			}
			if label(f) != tt.wantLabel {
				t.Errorf("label = %q, want %q", label(f), tt.wantLabel)
			}
		})
	}
}

func TestFaultApplyFailures(t *testing.T) {
	p := &fakeProxy{failAdd: errors.New("toxiproxy said no")}
	f, _ := faultOf("black_hole", 0)
	err := f.Apply(context.Background(), fakeTarget{p})
	if err == nil || !strings.Contains(err.Error(), "toxiproxy said no") {
		t.Errorf("Apply = %v, want the toxic's error", err)
	}
	if p.disabled {
		t.Error("the proxy was left disabled")
	}
	if _, err := faultOf("flood", 0); err == nil || !strings.Contains(err.Error(), `"flood"`) {
		t.Errorf("an unknown fault: %v", err)
	}
}

func TestExpectationsNameACodeForEveryFault(t *testing.T) {
	for _, k := range scenarios.NamedKinds() {
		f, _ := faultOf(k, time.Second)
		e := expectations(f)
		if len(e.ReplyCodes) == 0 {
			t.Errorf("%s: no reply code expected, so any reply would pass", k)
		}
		for _, c := range append(e.ReplyCodes, e.LogCodes...) {
			if len(c) != 5 || c[0] != 'P' {
				t.Errorf("%s: %q is not a Prisma code", k, c)
			}
		}
	}
}

func TestNarratorScrubsSecrets(t *testing.T) {
	const pw = "pw-0123456789abcdef01/@#"
	var out strings.Builder
	clock := time.Date(2026, 11, 26, 9, 32, 39, 0, time.UTC)
	n := NewNarrator(&out, func() time.Time { return clock })
	n.AddSecret(pw)
	n.Say("raw %s", pw)
	n.Say("url postgresql://p1001:pw-0123456789abcdef01%%2F%%40%%23@toxiproxy:6543/p1001")
	n.Say("query password=%s&x=1", pw)
	n.Say("first\nsecond")
	n.Secret("shown %s", pw)
	got := out.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 6:\n%s", len(lines), got)
	}
	for _, l := range lines[:5] {
		if strings.Contains(l, "0123456789abcdef01") {
			t.Errorf("the password leaked: %s", l)
		}
	}
	if !strings.HasPrefix(lines[0], "09:32:39.000    +0.0s     raw xxxxx") {
		t.Errorf("line 1 = %q", lines[0])
	}
	if !strings.Contains(lines[1], "postgresql://p1001:xxxxx@toxiproxy:6543/p1001") {
		t.Errorf("line 2 = %q", lines[1])
	}
	if !strings.HasPrefix(lines[4], strings.Repeat(" ", len("09:32:39.000    +0.0s"))+"     second") {
		t.Errorf("a continuation line is not indented under the stamp: %q", lines[4])
	}
	if !strings.Contains(lines[5], "shown "+pw) {
		t.Errorf("Secret must print what it is given: %q", lines[5])
	}
}

func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.EscapedPath() == "/v1/chats/a%2Fb/messages":
			body, _ := io.ReadAll(r.Body)
			if string(body) != `{"text":"hi"}` {
				http.Error(w, `{"error":"bad body `+string(body)+`"}`, http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"reply":"[A pirate.] You said: hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`)
		case r.URL.Path == "/v1/chats/long/messages":
			http.Error(w, `{"error":"text is longer than 4096 characters","field":"text"}`, http.StatusBadRequest)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := botapi.New(targets.P1001().API, srv.URL+"/", "", nil)
	ctx := context.Background()

	r, err := send(ctx, c, "a/b", "hi")
	if err != nil {
		t.Fatal(err)
	}
	if r.PromptSource != "cached" || !r.Degraded || r.Attempts != 3 || r.Code != "P1001" || r.Latency <= 0 {
		t.Errorf("Send = %+v", r)
	}
	if _, err := send(ctx, c, "long", "hi"); err == nil || !strings.Contains(err.Error(), "status 400") || !strings.Contains(err.Error(), "longer than 4096") {
		t.Errorf("Send to a refusing bot: %v, want the status and the bot's error", err)
	}
}

func TestReplyFormat(t *testing.T) {
	tests := []struct {
		r    Reply
		want string
	}{
		{Reply{Reply: botapi.Reply{Text: "[A pirate.] You said: hi", PromptSource: "custom", Attempts: 1}, Latency: 12340 * time.Microsecond},
			"[custom | ok | attempts 1 | 12.3ms] [A pirate.] You said: hi"},
		{Reply{Reply: botapi.Reply{Text: "x", PromptSource: "cached", Degraded: true, Code: "P1001"}, Latency: 420 * time.Microsecond},
			"[cached | DEGRADED P1001 | attempts 0 | 400µs] x"},
		{Reply{Reply: botapi.Reply{Text: "x", PromptSource: "default", Degraded: true, Code: "P2024", Attempts: 3}, Latency: 5002345 * time.Microsecond},
			"[default | DEGRADED P2024 | attempts 3 | 5.002s] x"},
	}
	for _, tt := range tests {
		if got := tt.r.Format(); got != tt.want {
			t.Errorf("Format() = %q, want %q", got, tt.want)
		}
	}
}
