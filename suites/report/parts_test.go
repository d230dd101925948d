package report

import (
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		in      string
		secrets []string // must be gone
		keep    string   // must stay ("" = in unchanged)
	}{
		{in: "dial postgresql://p1001:hunter2@toxiproxy:6543/p1001?pgbouncer=true", secrets: []string{"hunter2"}},
		{in: "host=postgres user=p1001 password='hun ter2' dbname=p1001", secrets: []string{"hun ter2", "ter2"}},
		{in: "postgres://u@h/db?password=hunter2&sslmode=disable", secrets: []string{"hunter2"}, keep: "sslmode=disable"},
		{in: `{"api_key": "abc123def"}`, secrets: []string{"abc123def"}},
		{in: "OPENAI_API_KEY=sk-abcdefghijklmnop1234 rest", secrets: []string{"abcdefghijklmnop1234"}, keep: " rest"},
		{in: "Authorization: Bearer eyJhbGciOi.J9.xyz", secrets: []string{"eyJhbGciOi"}},
		{in: "POST /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/sendMessage", secrets: []string{"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"}, keep: "/sendMessage"},
		{in: "X-Telegram-Bot-Api-Secret-Token: tok-9f8e7d", secrets: []string{"tok-9f8e7d"}},
		{in: "token=t0k3n)", secrets: []string{"t0k3n"}, keep: ")"},
		// The bot's API token, the ways it could be quoted.
		{in: "API_TOKEN=p1001-6f0e1d2c3b4a59687766 HTTP_ADDR=:8080", secrets: []string{"p1001-6f0e1d2c3b4a59687766"}, keep: " HTTP_ADDR=:8080"},
		{in: `{"Env":{"API_TOKEN":"p1001-6f0e1d2c3b4a59687766"}}`, secrets: []string{"p1001-6f0e1d2c3b4a59687766"}},
		{in: `curl -H 'Authorization: Bearer p1001-6f0e1d2c3b4a59687766' http://127.0.0.1:8080/v1/chats/me/messages`, secrets: []string{"p1001-6f0e1d2c3b4a59687766"}, keep: "/v1/chats/me/messages"},
		{in: "GET /v1/chats/c1/messages?access_token=p1001-6f0e1d2c3b4a59687766&x=1", secrets: []string{"p1001-6f0e1d2c3b4a59687766"}, keep: "&x=1"},
		{in: "api-token: p1001-6f0e1d2c3b4a59687766", secrets: []string{"p1001-6f0e1d2c3b4a59687766"}},
		// Prose about secrets is left alone.
		{in: "the webhook checks the secret token header; the token bucket refills"},
		{in: "Every acknowledged /setprompt is in Postgres afterwards."},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := redact(tt.in)
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("redact(%q) = %q, still holds %q", tt.in, got, s)
				}
			}
			if len(tt.secrets) == 0 && got != tt.in {
				t.Errorf("redact(%q) = %q, want it unchanged", tt.in, got)
			}
			if tt.keep != "" && !strings.Contains(got, tt.keep) {
				t.Errorf("redact(%q) = %q, lost %q", tt.in, got, tt.keep)
			}
			if again := redact(got); again != got {
				t.Errorf("redact is not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func TestCheckRedacted(t *testing.T) {
	clean := "a\npostgresql://p1001:xxxxx@toxiproxy:6543/p1001?pgbouncer=true&amp;x=1\napi_key=xxxxx</td>\n"
	if err := checkRedacted("index.html", []byte(clean)); err != nil {
		t.Errorf("checkRedacted on redacted text: %v", err)
	}
	err := checkRedacted("report.md", []byte("ok\nok\nfailed: password=hunter2\n"))
	if err == nil {
		t.Fatal("checkRedacted let a password through")
	}
	if !strings.Contains(err.Error(), "report.md line 3") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q should name report.md line 3 and not the secret", err)
	}
}

func TestCheckNoSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := "pw-0a1b2c/@#"
	files := map[string]string{
		"clean.md":           "nothing here",
		"sub/escaped.jsonl":  "postgres://p1001:pw-0a1b2c%2F%40%23@host/db",
		"sub/raw.xml":        "password " + pw,
		"sub/partial.html":   "pw-0a1b2c but not the rest",
		"sub/redacted.jsonl": "postgres://p1001:xxxxx@host/db",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const token = "p1001-6f0e1d2c3b4a59687766"
	files["sub/token.md"] = "curl -H 'Authorization: Bearer " + token + "'"
	if err := os.WriteFile(filepath.Join(dir, "sub/token.md"), []byte(files["sub/token.md"]), 0o644); err != nil {
		t.Fatal(err)
	}
	err := CheckNoSecrets(dir, pw, token)
	if err == nil {
		t.Fatal("CheckNoSecrets found nothing")
	}
	if strings.Contains(err.Error(), token) {
		t.Error("the error quotes the token")
	}
	for _, name := range []string{"escaped.jsonl", "raw.xml", "token.md"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	for _, name := range []string{"clean.md", "partial.html", "redacted.jsonl"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("error %q names %s, which holds no secret", err, name)
		}
	}
	if strings.Contains(err.Error(), pw) {
		t.Error("the error quotes the secret")
	}
	if err := CheckNoSecrets(dir, ""); err != nil {
		t.Errorf("no secrets to look for: %v", err)
	}
}

func TestEveryFaultKindHasASeverity(t *testing.T) {
	sev := severities()
	for _, k := range scenarios.FaultKinds() {
		if v, ok := sev[k]; !ok || v < 1 || v > 3 {
			t.Errorf("fault kind %q: severity %d (present %v), want 1..3", k, v, ok)
		}
	}
	if len(sev) != len(scenarios.FaultKinds()) {
		t.Errorf("%d severities for %d fault kinds", len(sev), len(scenarios.FaultKinds()))
	}
}

func TestSeverityOf(t *testing.T) {
	sev := severities()
	tests := []struct {
		name   string
		s      scenarios.Scenario
		want   int
		kinds  []string
		errSub string
	}{
		{name: "baseline", s: scenarios.Scenario{Name: "a", Labels: []string{"fault:none"}}, want: 1, kinds: []string{"none"}},
		{name: "label-only kind weighs", s: scenarios.Scenario{Name: "b", Labels: []string{"fault:pool_exhaustion", "fault:latency", "path:pooler"},
			Faults: []scenarios.Fault{{Type: scenarios.TypeLatency}}}, want: 2, kinds: []string{"latency", "pool_exhaustion"}},
		{name: "largest wins", s: scenarios.Scenario{Name: "c", Faults: []scenarios.Fault{{Type: scenarios.TypeLatency}, {Type: scenarios.TypeOutage, Flap: scenarios.Duration(time.Second)}}},
			want: 3, kinds: []string{"flapping", "latency", "outage"}},
		{name: "unknown kind", s: scenarios.Scenario{Name: "d", Labels: []string{"fault:meteor"}}, errSub: `scenario d: fault kind "meteor" has no severity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kinds, err := severityOf(sev, tt.s)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("err = %v, want %q", err, tt.errSub)
				}
				return
			}
			if err != nil || got != tt.want || !reflect.DeepEqual(kinds, tt.kinds) {
				t.Errorf("severityOf = %d %q %v, want %d %q", got, kinds, err, tt.want, tt.kinds)
			}
		})
	}
}

// catalogOutcomes is the real catalog (../../scenarios) as scored
// outcomes, all kept.
func catalogOutcomes(t *testing.T) ([]outcome, []scenarios.Scenario) {
	t.Helper()
	cat, err := scenarios.LoadDir("../../scenarios")
	if err != nil {
		t.Fatal(err)
	}
	var out []outcome
	for _, s := range cat {
		w, _, err := severityOf(severities(), s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, outcome{severity: w, kept: true})
	}
	return out, cat
}

// TestScore shows what the score makes of healthy and broken runs of the
// real catalog: a broken promise is never a rounding error.
func TestScore(t *testing.T) {
	if score(nil) != nil {
		t.Error("score of nothing is not nil")
	}
	healthy, cat := catalogOutcomes(t)
	failing := func(names ...string) []outcome {
		out := slices.Clone(healthy)
		for i, s := range cat {
			if slices.Contains(names, s.Name) {
				out[i].kept = false
			}
		}
		return out
	}
	// Every scenario failed: each costs its severity's share, 15, 25 or 40 %.
	keptShare := map[int]float64{1: 0.85, 2: 0.75, 3: 0.6}
	nothingKept := 100.0
	for _, o := range healthy {
		nothingKept *= keptShare[o.severity]
	}
	tests := []struct {
		name     string
		outcomes []outcome
		want     float64
	}{
		{"healthy: all kept", healthy, 100},
		{"one severity-1 scenario failed (slicer)", failing("slicer"), 85},
		{"one severity-2 scenario failed (pgbouncer-pause)", failing("pgbouncer-pause"), 75},
		{"one severity-3 scenario failed (outage-pooler)", failing("outage-pooler"), 60},
		// A bot that never serves its cache breaks prompt-sources wherever
		// cached replies are the promised fallback.
		{"never uses its cache (outage-pooler, outage-direct, black-hole-budget)", failing("outage-pooler", "outage-direct", "black-hole-budget"), 21.6},
		{"a failed spec outside the scenarios (smoke)", append(slices.Clone(healthy), outcome{severity: maxSeverity}), 60},
		{"nothing kept", failing(catalogNames(cat)...), nothingKept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := score(tt.outcomes)
			if got == nil || math.Abs(*got-tt.want) > 1e-9 {
				t.Errorf("score = %v, want %v", got, tt.want)
			}
			if got != nil && tt.want < 100 && *got >= 90 {
				t.Errorf("a run with a failure scores %.1f, not clearly below a healthy run", *got)
			}
		})
	}
}

func catalogNames(cat []scenarios.Scenario) []string {
	var out []string
	for _, s := range cat {
		out = append(out, s.Name)
	}
	return out
}

func logAt(base time.Time, at time.Duration, msg string) botlog.Line {
	return botlog.Line{Time: base.Add(at), Level: "WARN", Msg: msg}
}

func TestSeriesFromLogs(t *testing.T) {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := scenarios.Scenario{Name: "x", Traffic: scenarios.Traffic{Duration: scenarios.Duration(4 * time.Second)}}
	h := history.History{
		Base: base,
		Ops:  []history.Op{{Invoke: 100 * time.Millisecond, Complete: 105 * time.Millisecond, Outcome: history.OK, Reply: botapi.Reply{PromptSource: "custom"}}},
		Logs: []botlog.Line{
			logAt(base, -time.Second, "[Bot] serving"),
			// At DEBUG the bot writes two lines for a retried attempt: one retry.
			logAt(base, 1000*time.Millisecond, "[Prisma Retry] Attempt 1/3 failed"),
			logAt(base, 1000*time.Millisecond, "[Prisma Retry] Attempt 1/3 failed, retrying in 80ms..."),
			logAt(base, 1050*time.Millisecond, "[Prisma Retry] Attempt 2/3 failed"),
			logAt(base, 1050*time.Millisecond, "[Prisma Retry] Attempt 2/3 failed, retrying in 120ms..."),
			logAt(base, 1100*time.Millisecond, "[Prisma Retry] Attempt 3/3 failed"), // the last attempt: no retry follows
			logAt(base, 1100*time.Millisecond, "[Prisma Retry] Circuit breaker open"),
			logAt(base, 1200*time.Millisecond, "[Prisma Retry] Circuit breaker open, failing fast"), // a rejection, not a change
			logAt(base, 2100*time.Millisecond, "[Prisma Retry] Circuit breaker half-open"),
			logAt(base, 2300*time.Millisecond, "[Prisma Retry] Circuit breaker closed"),
			logAt(base, 3000*time.Millisecond, "[Prisma Retry] Attempt 1/3 failed, retrying in 10ms..."),
			logAt(base, 3500*time.Millisecond, "[Prisma Retry] Attempt 1/3 failed"), // budget spent: not retried
		},
	}
	sr := seriesOf(s, h)
	if sr.end != 4500*time.Millisecond {
		t.Errorf("end = %v, want the traffic duration + 500ms", sr.end)
	}
	wantSpans := []BreakerSpan{
		{botlog.BreakerClosed, 0, 1100}, {botlog.BreakerOpen, 1100, 2100}, {botlog.BreakerHalfOpen, 2100, 2300}, {botlog.BreakerClosed, 2300, 4500},
	}
	if !reflect.DeepEqual(sr.breaker, wantSpans) {
		t.Errorf("breaker = %+v, want %+v", sr.breaker, wantSpans)
	}
	wantRetries := []time.Duration{time.Second, 1050 * time.Millisecond, 3 * time.Second}
	if !reflect.DeepEqual(sr.retries, wantRetries) {
		t.Errorf("retries = %v, want %v", sr.retries, wantRetries)
	}
	starts, rates := retryRates(sr.retries, sr.end)
	if len(starts) != 19 || starts[4] != time.Second || rates[4] != 8 || rates[12] != 4 || rates[0] != 0 {
		t.Errorf("retry bins: %d starts, bin 4 (%v) %v/s, bin 12 %v/s; want 19 bins, 8/s at 1s, 4/s at 3s", len(starts), starts[4], rates[4], rates[12])
	}

	// A breaker that is disabled has no band; a change logged before
	// offset 0 sets the state at 0.
	off := false
	s.Bot.Breaker.Enabled = &off
	if sr := seriesOf(s, h); sr.breaker != nil {
		t.Errorf("disabled breaker has spans %+v", sr.breaker)
	}
	s.Bot.Breaker.Enabled = nil
	h.Logs = []botlog.Line{logAt(base, -200*time.Millisecond, "[Prisma Retry] Circuit breaker open")}
	if sr := seriesOf(s, h); !reflect.DeepEqual(sr.breaker, []BreakerSpan{{botlog.BreakerOpen, 0, 4500}}) {
		t.Errorf("breaker open before offset 0 = %+v, want open over the whole run", sr.breaker)
	}
}

func TestRunInfo(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadRunInfo(dir); ok || err != nil {
		t.Fatalf("no run.json: ok %v err %v", ok, err)
	}
	info := NewRunInfo("r1", time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("X", 3600)))
	info.Images = []Image{NewImage("bot", "p1001/bot:dev")}
	if info.Policy != PolicyOf(resilience.DefaultPolicy()) || info.Cores < 1 || info.GoVersion == "" {
		t.Errorf("NewRunInfo = %+v", info)
	}
	wrote, err := WriteRunInfo(dir, info)
	if err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	other := info
	other.RunID = "r2"
	if wrote, err := WriteRunInfo(dir, other); err != nil || wrote {
		t.Fatalf("second write: wrote %v err %v, want kept", wrote, err)
	}
	got, ok, err := ReadRunInfo(dir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !reflect.DeepEqual(got, info) || got.Started.Location() != time.UTC {
		t.Errorf("read back %+v, want %+v in UTC", got, info)
	}
}

func TestNewImage(t *testing.T) {
	tests := []struct{ ref, version string }{
		{"p1001/postgres:15", "15"},
		{"p1001/toxiproxy:2.12.0", "2.12.0"},
		{"registry:5000/p1001/bot", ""},
		{"registry:5000/p1001/bot:dev", "dev"},
		{"postgres:16@sha256:abcd", "16"},
		{"postgres", ""},
	}
	for _, tt := range tests {
		if got := NewImage("r", tt.ref); got.Version != tt.version || got.Name != tt.ref {
			t.Errorf("NewImage(%q) = %+v, want version %q", tt.ref, got, tt.version)
		}
	}
}

func TestFmtMS(t *testing.T) {
	tests := []struct {
		ms   float64
		want string
	}{{0.84, "0.8ms"}, {9.96, "10.0ms"}, {42.4, "42ms"}, {999.4, "999ms"}, {1249, "1.25s"}, {3502.2, "3.50s"}}
	for _, tt := range tests {
		if got := fmtMS(tt.ms); got != tt.want {
			t.Errorf("fmtMS(%v) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

func TestWriteEvidence(t *testing.T) {
	const pw = "p@ss/w0rd+live"
	runDir := t.TempDir()
	log := "start\n" +
		"dial postgresql://bot:" + url.QueryEscape(pw) + "@toxiproxy:6543/p1001 failed\n" +
		"password=" + pw + " host=postgres\n" +
		"the live one as is: " + pw + "\n" +
		`{"msg":"send","token":"12345678:abcdefghijklmnopqrstuvwxyz0123456789"}` + "\n"
	paths, err := WriteEvidence(runDir, "the bot binary keeps a custom prompt", map[string][]byte{"bot.log": []byte(log), "postgres.log": []byte("ready\n")}, pw)
	if err != nil {
		t.Fatal(err)
	}
	dir := EvidenceDir("the bot binary keeps a custom prompt")
	if want := []string{dir + "/bot.log", dir + "/postgres.log"}; !slices.Equal(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
	got, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(paths[0])))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), "abcdefghijklmnopqrstuvwxyz0123456789"} {
		if strings.Contains(string(got), secret) {
			t.Errorf("bot.log keeps %q:\n%s", secret, got)
		}
	}
	if !strings.HasPrefix(string(got), "start\ndial postgresql://bot:xxxxx@toxiproxy:6543/p1001 failed\n") {
		t.Errorf("bot.log lost its content:\n%s", got)
	}
	if err := CheckNoSecrets(runDir, pw); err != nil {
		t.Error(err)
	}
	files, err := evidenceFiles(runDir, "the bot binary keeps a custom prompt")
	if err != nil || !slices.Equal(files, paths) {
		t.Errorf("evidenceFiles = %q, %v; want %q", files, err, paths)
	}
	for _, bad := range []string{"", "../x", "a/b", `a\b`, ".."} {
		if _, err := WriteEvidence(runDir, "s", map[string][]byte{bad: nil}); err == nil || !strings.Contains(err.Error(), "plain name") {
			t.Errorf("file name %q: err = %v, want a plain-name error", bad, err)
		}
	}
}

func TestEvidenceDir(t *testing.T) {
	a := EvidenceDir("scenario keeps the bot's promises outage-pooler")
	if !regexp.MustCompile(`^failures/scenario-keeps-the-bot-s-promises-outage-pooler-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("EvidenceDir = %q", a)
	}
	if b := EvidenceDir("scenario keeps the bots promises outage-pooler"); a == b {
		t.Error("two names that differ only in punctuation share a directory")
	}
	long := EvidenceDir(strings.Repeat("ab ", 100) + "BeforeSuite (/x.go:3)")
	if len(long) > len(FailuresDir)+1+80+9 || strings.Contains(long, "..") {
		t.Errorf("EvidenceDir of a long name = %q", long)
	}
}
