// Package targets describes the bot under test: how to run it, how to
// hand it the database, how to talk to it and what of it the harness can
// see (docs/targets.md). A target file is strict YAML, loaded like the
// scenario catalog (internal/strictyaml): every problem is reported as
// file:line: field: message, unknown keys refused.
//
// p1001's own bot is a target like any other (p1001.yaml): the harness has
// one code path, through the target.
package targets

import (
	"os"
	"regexp"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/history"
)

// Defaults of the optional fields.
const (
	DefaultPort         = 8080
	DefaultURLEnv       = "DATABASE_URL"
	DefaultMethod       = "POST"
	DefaultContentType  = "application/json"
	DefaultHealthStatus = 200
	DefaultLogFormat    = LogNone
	DefaultMigrations   = MigrationsSelf
	DefaultURLStyle     = StyleLibpq
)

// Database URL styles.
const (
	// StylePrisma is the URL as Prisma/Supabase users write it: on the
	// pooler path pgbouncer=true, and connection_limit and connect_timeout
	// (what the scenario's url_params change).
	StylePrisma = "prisma"
	// StyleLibpq is a plain libpq URL: sslmode=disable only.
	StyleLibpq = "libpq"
)

// How the bot's schema comes to be.
const (
	MigrationsSelf = "self" // the bot migrates on its own
	MigrationsSQL  = "sql"  // the harness applies database.schema first
)

// Log formats.
const (
	// LogNone: the harness reads nothing of the bot's output.
	LogNone = "none"
	// LogJSON is p1001's slog JSON (package botlog): its documented lines
	// are read as they are.
	LogJSON = "json"
	// LogText is lines of text, each starting with a timestamp; the
	// patterns of logs.lines say which are retries and fallbacks.
	LogText = "text"
)

// Target is one target file, defaults applied.
type Target struct {
	// Name equals the file's base name.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`

	Image    Image    `yaml:"image"`
	Database Database `yaml:"database"`
	Health   Health   `yaml:"health"`
	Messages Messages `yaml:"messages"`
	// ReplyFields, Commands, Logs and Metrics are optional: what the
	// target does not map, the harness does not see.
	ReplyFields ReplyFields `yaml:"reply_fields"`
	Commands    Commands    `yaml:"commands"`
	Logs        Logs        `yaml:"logs"`
	Metrics     Metrics     `yaml:"metrics"`
	// Policy, when set, is the retry policy fixed in the bot's code: the
	// scenario's bot.retry and bot.breaker do not reach such a bot, so
	// the checks that read retries (attempts, backoff, attempt timeout,
	// the X/Y of the retry lines) hold it to this one. Without it they
	// hold the bot to the scenario's policy, which p1001's bot takes from
	// its environment.
	Policy *Policy `yaml:"policy"`

	// File is where the target was loaded from.
	File string `yaml:"-"`
	// API is the HTTP API as botapi speaks it, built by the loader.
	API botapi.API `yaml:"-"`
	// lines are logs.lines, compiled.
	lines []linePattern
}

// Policy is a bot's own retry policy, in the scenario format's words
// (bot.retry, bot.breaker); fields left out are p1001's defaults
// (resilience.DefaultPolicy), so a target spells out every one that
// differs.
type Policy struct {
	Retry   scenarios.Retry   `yaml:"retry"`
	Breaker scenarios.Breaker `yaml:"breaker"`
}

// Resolved is the policy the bot runs with.
func (p Policy) Resolved() resilience.Policy {
	return scenarios.Scenario{Bot: scenarios.Bot{Retry: p.Retry, Breaker: p.Breaker}}.Policy()
}

// Image says what container to run.
type Image struct {
	Name string `yaml:"name"`
	// NameEnv, when set and the variable is too, overrides Name (make
	// chaos builds p1001's bot under P1001_BOT_IMAGE).
	NameEnv string `yaml:"name_env"`
	// Command replaces the image's command.
	Command []string `yaml:"command"`
	// Port is the HTTP port inside the container.
	Port int `yaml:"port"`
	// Env is added to the container's environment.
	Env map[string]string `yaml:"env"`
	// TokenEnv, when set, gets a random API token per container, which
	// the harness sends as "Authorization: Bearer <token>".
	TokenEnv string `yaml:"token_env"`
	// Volume, when set, is a directory kept on a named volume across the
	// bot's restarts and kills (p1001's spool).
	Volume string `yaml:"volume"`
}

// Database says how the bot is given Postgres, and how the harness reads
// back what the bot wrote.
type Database struct {
	URLEnv   string `yaml:"url_env"`
	URLStyle string `yaml:"url_style"`
	// Migrations is self or sql; Schema, with sql, is the SQL file the
	// harness applies before the bot starts (relative to the target file;
	// applied once per stack, so it must tolerate the tables existing).
	Migrations string `yaml:"migrations"`
	Schema     string `yaml:"schema"`
	// SeedPrompt stores a chat's custom prompt ($1 chat, $2 prompt), for
	// the scenarios whose chats start with one.
	SeedPrompt string `yaml:"seed_prompt"`
	// PromptQuery returns a chat's custom prompt ($1 chat; no row: none),
	// to read acknowledged writes back.
	PromptQuery string `yaml:"prompt_query"`
	// MessageLog, when set, is the bot's table of messages and replies.
	MessageLog *MessageLog `yaml:"message_log"`
}

// MessageLog names the message-log table and its columns.
type MessageLog struct {
	Table     string `yaml:"table"`
	Chat      string `yaml:"chat"`
	Direction string `yaml:"direction"`
	Body      string `yaml:"body"`
	// In and Out are the direction column's values for a message and a
	// reply.
	In  string `yaml:"in"`
	Out string `yaml:"out"`
}

// Health says how the harness knows the bot is ready.
type Health struct {
	// Path answers Status once the bot is ready (and is what the
	// container's start waits for).
	Path   string `yaml:"path"`
	Status int    `yaml:"status"`
	// Readyz, when set, is p1001's readiness document: ready is its
	// database up and migrated (botapi.Readiness).
	Readyz string `yaml:"readyz"`
}

// Messages says how to send a message and where its reply is.
type Messages struct {
	Method      string `yaml:"method"`
	Path        string `yaml:"path"`
	Body        string `yaml:"body"`
	ContentType string `yaml:"content_type"`
	// Reply is the reply text's JSON path, or "raw": the whole body.
	Reply string `yaml:"reply"`
}

// Raw is Messages.Reply for a body that is the reply text itself.
const Raw = "raw"

// ReplyFields are JSON paths of what the reply states beside its text.
type ReplyFields struct {
	PromptSource string `yaml:"prompt_source"`
	Degraded     string `yaml:"degraded"`
	Attempts     string `yaml:"attempts"`
	Code         string `yaml:"code"`
	PromptAgeMS  string `yaml:"prompt_age_ms"`
	Meta         string `yaml:"meta"`
	Command      string `yaml:"command"`
}

// Commands are the chat commands, as message texts.
type Commands struct {
	SetPrompt string `yaml:"set_prompt"`
	Prompt    string `yaml:"prompt"`
	Reset     string `yaml:"reset"`
	Ack       Ack    `yaml:"ack"`
}

// Ack says how a set_prompt's reply says the prompt was saved: its text
// matches Text, or its reply field Field (degraded) is false.
type Ack struct {
	Text  string `yaml:"text"`
	Field string `yaml:"field"`
}

// Logs say how to read the bot's output (stdout and stderr together).
type Logs struct {
	Format string `yaml:"format"`
	// Timestamp is the Go time layout each text line starts with,
	// followed by a space.
	Timestamp string `yaml:"timestamp"`
	// Lines are regexps for the lines the checks read; in the retry ones
	// the named groups attempt and max capture X/Y, delay the announced
	// wait ("100ms").
	Lines LogLines `yaml:"lines"`
}

// LogLines are the patterns of logs.lines.
type LogLines struct {
	// RetryScheduled: an attempt failed and another follows after delay.
	RetryScheduled string `yaml:"retry_scheduled"`
	// AttemptFailed: an attempt failed (said whether or not one follows).
	AttemptFailed string `yaml:"attempt_failed"`
	GaveUp        string `yaml:"gave_up"`
	Succeeded     string `yaml:"succeeded"`
	// Fallback: the prompt lookup failed and the default prompt is used.
	Fallback string `yaml:"fallback"`
}

// Metrics says where p1001's outbox metrics are.
type Metrics struct {
	Path string `yaml:"path"`
}

// ImageName is the image to run: Image.Name, or $NameEnv when set.
func (t Target) ImageName() string {
	if t.Image.NameEnv != "" {
		if v := os.Getenv(t.Image.NameEnv); v != "" {
			return v
		}
	}
	return t.Image.Name
}

// Evidence is what the harness can see of this target beyond its replies'
// text, status and timing, in history.AllEvidence's order.
func (t Target) Evidence() []history.Evidence {
	f := t.ReplyFields
	has := map[history.Evidence]bool{
		history.SeesPromptSource: f.PromptSource != "",
		history.SeesDegraded:     f.Degraded != "",
		history.SeesAttempts:     f.Attempts != "",
		history.SeesCode:         f.Code != "",
		history.SeesPromptAge:    f.PromptAgeMS != "",
		history.SeesRetryLog: t.Logs.Format == LogJSON || t.Logs.Lines.RetryScheduled != "" ||
			t.Logs.Lines.AttemptFailed != "" || t.Logs.Lines.GaveUp != "" || t.Logs.Lines.Succeeded != "",
		history.SeesFallbackLog: t.Logs.Format == LogJSON || t.Logs.Lines.Fallback != "",
		history.SeesBotLog:      t.Logs.Format == LogJSON,
		history.SeesPrompts:     t.Database.PromptQuery != "",
		history.SeesMessageLog:  t.Database.MessageLog != nil,
		history.SeesMetrics:     t.Metrics.Path != "",
		history.SeesCommands:    t.Commands.SetPrompt != "",
	}
	var out []history.Evidence
	for _, e := range history.AllEvidence {
		if has[e] {
			out = append(out, e)
		}
	}
	return out
}

// Info is what a history records of the target.
func (t Target) Info() *history.TargetInfo {
	info := &history.TargetInfo{Name: t.Name, Observes: t.Evidence()}
	if t.Policy != nil {
		p := t.Policy.Resolved()
		info.Policy = &p
	}
	return info
}

// linePattern is one compiled logs.lines pattern.
type linePattern struct {
	kind string
	re   *regexp.Regexp
}
