package targets

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// minimal is the smallest valid target: every other field defaulted.
const minimal = `name: t
description: a bot
image:
  name: some/bot:1
health:
  path: /health
messages:
  path: /chats/{chat}
  body: '{"text": "{text}"}'
  reply: raw
`

func TestDefaults(t *testing.T) {
	tg, err := Parse("t.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"image.port", tg.Image.Port, DefaultPort},
		{"database.url_env", tg.Database.URLEnv, DefaultURLEnv},
		{"database.url_style", tg.Database.URLStyle, StyleLibpq},
		{"database.migrations", tg.Database.Migrations, MigrationsSelf},
		{"health.status", tg.Health.Status, 200},
		{"messages.method", tg.Messages.Method, "POST"},
		{"messages.content_type", tg.Messages.ContentType, "application/json"},
		{"logs.format", tg.Logs.Format, LogNone},
		{"API.Reply.Text (raw)", tg.API.Reply.Text == nil, true},
		{"API.Health", tg.API.Health, "/health"},
		{"evidence", len(tg.Evidence()), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

// TestFields sets every field once and checks where it lands.
func TestFields(t *testing.T) {
	dir := t.TempDir()
	data := `name: all
description: every field
image:
  name: some/bot:1
  name_env: SOME_BOT_IMAGE
  command: [run, --fixed]
  port: 9000
  env: {A: "1", B: two}
  token_env: TOKEN
  volume: /data
database:
  url_env: DB
  url_style: prisma
  migrations: sql
  schema: schema.sql
  seed_prompt: INSERT INTO p VALUES ($1, $2)
  prompt_query: SELECT prompt FROM p WHERE chat = $1
  message_log: {table: log, chat: chat, direction: dir, body: body, in: i, out: o}
health:
  path: /health
  status: 204
  readyz: /readyz
messages:
  method: PUT
  path: /c/{chat}
  body: 'text={text}'
  content_type: text/plain
  reply: message.text
reply_fields:
  prompt_source: m.source
  degraded: m.degraded
  attempts: m.attempts
  code: m.code
  prompt_age_ms: m.age
  meta: m.meta
  command: m.command
commands:
  set_prompt: '!set {prompt}'
  prompt: '!get'
  reset: '!reset'
  ack: {field: degraded}
logs:
  format: text
  timestamp: "2006-01-02 15:04:05"
  lines:
    retry_scheduled: 'try (?P<attempt>\d)/(?P<max>\d) in (?P<delay>\w+)'
    attempt_failed: 'fail (?P<attempt>\d)/(?P<max>\d)'
    gave_up: 'gave (?P<attempt>\d)/(?P<max>\d)'
    succeeded: 'ok (?P<attempt>\d)/(?P<max>\d)'
    fallback: 'fallback'
metrics:
  path: /metrics
`
	path := filepath.Join(dir, "all.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOME_BOT_IMAGE", "")
	if got := tg.ImageName(); got != "some/bot:1" {
		t.Errorf("ImageName() = %q without the variable", got)
	}
	t.Setenv("SOME_BOT_IMAGE", "other/bot:2")
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"ImageName with name_env set", tg.ImageName(), "other/bot:2"},
		{"image.command", strings.Join(tg.Image.Command, " "), "run --fixed"},
		{"image.port", tg.Image.Port, 9000},
		{"image.env", tg.Image.Env["A"] + tg.Image.Env["B"], "1two"},
		{"image.token_env", tg.Image.TokenEnv, "TOKEN"},
		{"image.volume", tg.Image.Volume, "/data"},
		{"database.url_env", tg.Database.URLEnv, "DB"},
		{"database.url_style", tg.Database.URLStyle, StylePrisma},
		{"SchemaPath", tg.SchemaPath(), filepath.Join(dir, "schema.sql")},
		{"message_log.out", tg.Database.MessageLog.Out, "o"},
		{"API.Method", tg.API.Method, "PUT"},
		{"API.HealthStatus", tg.API.HealthStatus, 204},
		{"API.Readyz", tg.API.Readyz, "/readyz"},
		{"API.Metrics", tg.API.Metrics, "/metrics"},
		{"API.Reply.Text", tg.API.Reply.Text.String(), "message.text"},
		{"API.Reply.PromptAgeMS", tg.API.Reply.PromptAgeMS.String(), "m.age"},
		{"API.Reply.Meta", tg.API.Reply.Meta.String(), "m.meta"},
		{"API.Commands.SetPromptText", tg.API.Commands.SetPromptText("p"), "!set p"},
		{"API.Commands.AckField", tg.API.Commands.AckField, "degraded"},
		{"API.MessageBody (not JSON: as is)", string(tg.API.MessageBody(`a"b`)), `text=a"b`},
		{"compiled lines", len(tg.lines), 5},
		{"evidence (all but bot_log: its logs are text)", len(tg.Evidence()), len(history.AllEvidence) - 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string // lines of the error, each a substring
	}{
		{"unknown key, with its line", minimal + "colour: red\n",
			[]string{"t.yaml:11: colour: unknown field"}},
		{"unknown nested key", strings.Replace(minimal, "  name: some/bot:1\n", "  name: some/bot:1\n  tag: x\n", 1),
			[]string{"t.yaml:5: image.tag: unknown field"}},
		{"duplicate key", minimal + "name: u\n", []string{"t.yaml:11: name: duplicate key (first at line 1)"}},
		{"a policy the bot could not run", minimal + "policy:\n  retry:\n    max_attempts: 0\n",
			[]string{"t.yaml:12: policy: resilience: policy MaxAttempts must be >= 1, got 0"}},
		{"unknown policy key", minimal + "policy:\n  retry:\n    retries: 3\n",
			[]string{"t.yaml:13: policy.retry.retries: unknown field"}},
		{"name must be the file's", strings.Replace(minimal, "name: t\n", "name: other\n", 1),
			[]string{`t.yaml:1: name: "other" must equal the file's base name "t"`}},
		{"missing required fields", "name: t\n", []string{
			"t.yaml:1: description: is required", "image.name: is required", "health.path: is required",
			"messages.path: is required", "messages.body: is required", "messages.reply: is required"}},
		{"path without {chat}", strings.Replace(minimal, "/chats/{chat}", "/chats", 1),
			[]string{`t.yaml:8: messages.path: "/chats": want {chat} once`}},
		{"body without {text}", strings.Replace(minimal, `'{"text": "{text}"}'`, `'{"text": "x"}'`, 1),
			[]string{"t.yaml:9: messages.body: ", "want {text} once"}},
		{"JSON body not JSON around {text}", strings.Replace(minimal, `'{"text": "{text}"}'`, `'{"text": {text}}'`, 1),
			[]string{"t.yaml:9: messages.body: ", "is not JSON once {text} is put in"}},
		{"bad reply JSON path", strings.Replace(minimal, "reply: raw", "reply: message..text", 1),
			[]string{`t.yaml:10: messages.reply: JSON path "message..text": want object keys`}},
		{"bad reply field path", minimal + "reply_fields: {degraded: 'a b'}\n",
			[]string{"t.yaml:11: reply_fields", "need a JSON reply", `reply_fields.degraded: JSON path "a b"`}},
		{"bad URL style", minimal + "database: {url_style: jdbc}\n",
			[]string{`t.yaml:11: database.url_style: "jdbc": want one of prisma, libpq`}},
		{"sql migrations without schema", minimal + "database: {migrations: sql}\n",
			[]string{"t.yaml:11: database.schema: is required with migrations: sql"}},
		{"schema with self", minimal + "database: {schema: s.sql}\n",
			[]string{"t.yaml:11: database.schema: only with migrations: sql"}},
		{"prompt query without $1", minimal + "database: {prompt_query: SELECT 1}\n",
			[]string{"t.yaml:11: database.prompt_query: the query takes the chat id as $1"}},
		{"message log name not plain", minimal + "database: {message_log: {table: 'x; drop', chat: c, direction: d, body: b, in: i, out: o}}\n",
			[]string{`database.message_log.table: "x; drop": want a lower-case SQL name`}},
		{"bad status", strings.Replace(minimal, "  path: /health\n", "  path: /health\n  status: 999\n", 1),
			[]string{"t.yaml:7: health.status: 999 is not an HTTP status"}},
		{"status not an integer", strings.Replace(minimal, "  path: /health\n", "  path: /health\n  status: ok\n", 1),
			[]string{`t.yaml:7: health.status: expected an integer, got "ok"`}},
		{"command without {prompt}", minimal + "commands: {set_prompt: /set, prompt: /p, reset: /r, ack: {text: ok}}\n",
			[]string{`commands.set_prompt: "/set": want {prompt} once`}},
		{"bad ack regexp", minimal + "commands: {set_prompt: '/set {prompt}', prompt: /p, reset: /r, ack: {text: '('}}\n",
			[]string{"commands.ack.text: error parsing regexp"}},
		{"ack by an unmapped field", minimal + "commands: {set_prompt: '/set {prompt}', prompt: /p, reset: /r, ack: {field: degraded}}\n",
			[]string{"commands.ack.field: degraded is not mapped in reply_fields"}},
		{"no ack", minimal + "commands: {set_prompt: '/set {prompt}', prompt: /p, reset: /r}\n",
			[]string{"commands.ack: is required"}},
		{"text logs without a stamp or patterns", minimal + "logs: {format: text}\n",
			[]string{"logs.lines: format: text needs at least one pattern", "logs.timestamp: is required"}},
		{"bad stamp layout", minimal + "logs: {format: text, timestamp: 'YYYY-MM-DD', lines: {fallback: x}}\n",
			[]string{`logs.timestamp: "YYYY-MM-DD": want a Go time layout`}},
		{"retry pattern without its groups", minimal + "logs: {format: text, timestamp: '2006-01-02T15:04:05', lines: {gave_up: 'gave up'}}\n",
			[]string{"logs.lines.gave_up: needs the named group (?P<attempt>...)", "(?P<max>...)"}},
		{"bad pattern", minimal + "logs: {format: text, timestamp: '2006-01-02T15:04:05', lines: {fallback: '['}}\n",
			[]string{"logs.lines.fallback: error parsing regexp"}},
		{"patterns with json logs", minimal + "logs: {format: json, lines: {fallback: x}}\n",
			[]string{"logs: timestamp and lines are for format: text"}},
		{"empty file", "", []string{"t.yaml: empty file: expected a target"}},
		{"not a mapping", "- a\n", []string{"t.yaml:1: expected a target mapping, got a list"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not an *Error", err)
			}
		})
	}
}

// TestFiles loads the shipped targets and checks what each shows.
func TestFiles(t *testing.T) {
	for _, tt := range []struct {
		file string
		sees []history.Evidence
	}{
		{"p1001.yaml", history.AllEvidence},
		{"naive.yaml", []history.Evidence{history.SeesPrompts, history.SeesCommands}},
		{"naive-fixed.yaml", []history.Evidence{history.SeesRetryLog, history.SeesFallbackLog, history.SeesPrompts, history.SeesCommands}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			tg, err := Load(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := tg.Evidence(); !slices.Equal(got, tt.sees) {
				t.Errorf("Evidence() = %v, want %v", got, tt.sees)
			}
			if info := tg.Info(); info.Name != strings.TrimSuffix(tt.file, Ext) {
				t.Errorf("Info().Name = %q", info.Name)
			}
		})
	}
	// The built-in p1001 target is the file.
	file, err := Load("p1001.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := P1001()
	if b.Name != P1001Name || b.Image.Name != file.Image.Name || !maps.Equal(b.Image.Env, file.Image.Env) || b.API.Path != file.API.Path {
		t.Errorf("P1001() = %+v, differs from p1001.yaml", b)
	}
}

func TestParseLogs(t *testing.T) {
	tg, err := Load("naive-fixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Its policy is bot.py's: the checks hold its retries to it.
	p := tg.Info().Policy
	if p == nil || p.MaxAttempts != 3 || p.BaseDelay != 100*time.Millisecond || p.MaxDelay != 200*time.Millisecond ||
		p.Jitter || p.Budget != 0 || p.Breaker.Enabled {
		t.Errorf("naive-fixed's policy = %+v, want bot.py --fixed's", p)
	}
	if (P1001().Info().Policy) != nil {
		t.Error("p1001's bot takes the scenario's policy: its target must not fix one")
	}
	out := tg.ParseLogs([]byte(`2026-11-29T21:30:00.123Z WARNING [Prisma Retry] Attempt 1/3 failed: connection refused, retrying in 100ms
2026-11-29T21:30:00.300Z WARNING [Prisma Retry] Giving up after 3/3 attempts: connection refused
2026-11-29T21:30:00.301Z WARNING [getCustomPrompt] Database unreachable, using the default prompt
2026-11-29T21:30:01.000Z INFO [Prisma Retry] Succeeded on attempt 2/3

a traceback line without a stamp
`))
	want := []struct {
		kind    botlog.Kind
		x, y    int
		delayMS int
		stamped bool
	}{
		{botlog.RetryScheduled, 1, 3, 100, true},
		{botlog.GaveUp, 3, 3, 0, true},
		{botlog.LookupFellBack, 0, 0, 0, true},
		{botlog.SucceededAfterRetries, 2, 3, 0, true},
		{botlog.Unknown, 0, 0, 0, false},
	}
	if len(out) != len(want) {
		t.Fatalf("ParseLogs: %d lines, want %d: %v", len(out), len(want), out)
	}
	for i, w := range want {
		l := out[i]
		if got := botlog.KindOf(l); got != w.kind {
			t.Errorf("line %d: kind %v, want %v (%q)", i, got, w.kind, l.Msg)
		}
		if r, ok := botlog.RetryOf(l); ok && (r.Attempt != w.x || r.MaxAttempts != w.y || r.Delay.Milliseconds() != int64(w.delayMS)) {
			t.Errorf("line %d: retry %+v, want %d/%d after %d ms", i, r, w.x, w.y, w.delayMS)
		}
		if l.Time.IsZero() == w.stamped {
			t.Errorf("line %d: time %v, stamped %v", i, l.Time, w.stamped)
		}
	}
	if raw := out[0].Attr("raw"); !strings.Contains(raw, "connection refused") {
		t.Errorf("the line's own text is not kept: %q", raw)
	}
	if got := (Target{Logs: Logs{Format: LogNone}}).ParseLogs([]byte("x\n")); got != nil {
		t.Errorf("format none: %v, want nothing", got)
	}
}
