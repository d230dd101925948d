package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/p1001/p1001/bot/msglog"

	"github.com/p1001/p1001/resilience"
)

const runbookURL = "postgresql://user:pw@host:6543/db?pgbouncer=true&connection_limit=10&connect_timeout=30"

func env(m map[string]string) (func(string) (string, bool), []string) {
	var environ []string
	for k, v := range m {
		environ = append(environ, k+"="+v)
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }, environ
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": runbookURL}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"HTTPAddr", c.HTTPAddr, ":8080"},
		{"LogFormat", c.LogFormat, "text"},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"MigrateOnStart", c.MigrateOnStart, true},
		// The same URL, in a copy of its own: capping one's connect timeout
		// must not cap the other's (app.Build caps them differently).
		{"MigrateDB is a copy of DB", c.MigrateDB != c.DB && c.MigrateDB.Pool != c.DB.Pool && c.MigrateDB.Pool.ConnConfig != c.DB.Pool.ConnConfig, true},
		{"MigrateDB has DB's URL", c.MigrateDB.Redacted, c.DB.Redacted},
		{"pgbouncer exec mode", c.DB.Pool.ConnConfig.DefaultQueryExecMode, pgx.QueryExecModeExec},
		{"DefaultPrompt", c.DefaultPrompt, "You are a helpful assistant."},
		{"PromptMaxStaleness", c.PromptMaxStaleness, 10 * time.Minute},
		{"OutboxCapacity", c.OutboxCapacity, 1000},
		{"SpoolPath", c.SpoolPath, "/var/lib/p1001/spool.db"},
		{"SpoolMaxBytes", c.SpoolMaxBytes, int64(64 << 20)},
		{"SpoolFsync", c.SpoolFsync, msglog.FsyncBackground},
		{"Responder", c.Responder, "template"},
		{"Retry", c.Retry, resilience.DefaultPolicy()},
		{"Telegram off", c.Telegram == nil, true},
		{"OpenAI model", c.OpenAI.Model, DefaultOpenAIModel},
	}
	for _, ck := range checks {
		if ck.got != ck.exp {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.exp)
		}
	}
}

func TestEverySetting(t *testing.T) {
	c, err := Load(env(map[string]string{
		"DATABASE_URL":            runbookURL,
		"MIGRATE_DATABASE_URL":    "postgresql://admin:pw2@db:5432/db",
		"HTTP_ADDR":               "127.0.0.1:9090",
		"LOG_FORMAT":              "JSON",
		"LOG_LEVEL":               "debug",
		"MIGRATE_ON_START":        "false",
		"DEFAULT_PROMPT":          "You are terse.",
		"PROMPT_MAX_STALENESS":    "30s",
		"PROMPT_CACHE_SIZE":       "5",
		"REPLY_DEADLINE":          "750ms",
		"MAX_PROMPT_LOOKUPS":      "9",
		"POOL_MIN_CONNS":          "3",
		"MAX_MESSAGE_CHARS":       "100",
		"MAX_PROMPT_CHARS":        "50",
		"MAX_BODY_BYTES":          "4096",
		"OUTBOX_CAPACITY":         "7",
		"OUTBOX_BATCH_SIZE":       "3",
		"OUTBOX_RETRY_MAX_DELAY":  "250ms",
		"SHUTDOWN_TIMEOUT":        "3s",
		"SPOOL_PATH":              "/data/bot/spool.db",
		"SPOOL_MAX_BYTES":         "1048576",
		"SPOOL_FSYNC":             "reply",
		"RESPONDER":               "openai",
		"OPENAI_BASE_URL":         "http://127.0.0.1:11434/v1",
		"OPENAI_API_KEY":          "sk-x",
		"OPENAI_MODEL":            "tiny",
		"OPENAI_TIMEOUT":          "5s",
		"OPENAI_MAX_RETRIES":      "0",
		"OPENAI_FALLBACK_REPLY":   "Later.",
		"TELEGRAM_BOT_TOKEN":      "1:abc",
		"TELEGRAM_WEBHOOK_SECRET": "sec_ret",
		"TELEGRAM_API_BASE_URL":   "http://127.0.0.1:8081",
		"TELEGRAM_TIMEOUT":        "4s",
		"DB_RETRY_MAX_ATTEMPTS":   "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"HTTPAddr", c.HTTPAddr, "127.0.0.1:9090"},
		{"LogFormat", c.LogFormat, "json"},
		{"LogLevel", c.LogLevel, slog.LevelDebug},
		{"MigrateOnStart", c.MigrateOnStart, false},
		{"MigrateDB", c.MigrateDB.Addr, "db:5432"},
		{"DB", c.DB.Addr, "host:6543"},
		{"DefaultPrompt", c.DefaultPrompt, "You are terse."},
		{"PromptMaxStaleness", c.PromptMaxStaleness, 30 * time.Second},
		{"PromptCacheSize", c.PromptCacheSize, 5},
		{"ReplyDeadline", c.ReplyDeadline, 750 * time.Millisecond},
		{"MaxPromptLookups", c.MaxPromptLookups, 9},
		{"PoolMinConns", c.PoolMinConns, 3},
		{"MaxMessageChars", c.MaxMessageChars, 100},
		{"MaxPromptChars", c.MaxPromptChars, 50},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(4096)},
		{"OutboxCapacity", c.OutboxCapacity, 7},
		{"OutboxBatchSize", c.OutboxBatchSize, 3},
		{"OutboxRetryMaxDelay", c.OutboxRetryMaxDelay, 250 * time.Millisecond},
		{"ShutdownTimeout", c.ShutdownTimeout, 3 * time.Second},
		{"SpoolPath", c.SpoolPath, "/data/bot/spool.db"},
		{"SpoolMaxBytes", c.SpoolMaxBytes, int64(1 << 20)},
		{"SpoolFsync", c.SpoolFsync, msglog.FsyncReply},
		{"Responder", c.Responder, "openai"},
		{"OpenAI.BaseURL", c.OpenAI.BaseURL, "http://127.0.0.1:11434/v1"},
		{"OpenAI.APIKey", c.OpenAI.APIKey, "sk-x"},
		{"OpenAI.Model", c.OpenAI.Model, "tiny"},
		{"OpenAI.Timeout", c.OpenAI.Timeout, 5 * time.Second},
		{"OpenAI.MaxRetries", c.OpenAI.MaxRetries, 0},
		{"OpenAI.Fallback", c.OpenAI.Fallback, "Later."},
		{"Telegram.Token", c.Telegram.Token, "1:abc"},
		{"Telegram.Secret", c.Telegram.Secret, "sec_ret"},
		{"Telegram.APIBaseURL", c.Telegram.APIBaseURL, "http://127.0.0.1:8081"},
		{"Telegram.Timeout", c.Telegram.Timeout, 4 * time.Second},
		{"Retry.MaxAttempts", c.Retry.MaxAttempts, 5},
	}
	for _, ck := range checks {
		if ck.got != ck.exp {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.exp)
		}
	}
}

func TestErrorsNameEveryBadVariable(t *testing.T) {
	_, err := Load(env(map[string]string{
		"DATABASE_URL":            "postgresql://user:hunter2@host:6543/db?pgbouncer=true&connection_limt=10",
		"HTTP_ADDR":               "8080",
		"LOG_FORMAT":              "xml",
		"LOG_LEVEL":               "loud",
		"MIGRATE_ON_START":        "maybe",
		"PROMPT_MAX_STALENESS":    "10",
		"OUTBOX_CAPACITY":         "0",
		"SHUTDOWN_TIMEOUT":        "-1s",
		"SPOOL_PATH":              "/var/lib/p1001/",
		"SPOOL_MAX_BYTES":         "100",
		"SPOOL_FSYNC":             "never",
		"RESPONDER":               "gpt",
		"TELEGRAM_WEBHOOK_SECRET": "x",
		"DB_RETRY_MAX_ATTEMPTS":   "three",
		"DB_RETRY_MAX_ATTEMPT":    "3",
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	msg := err.Error()
	for _, name := range []string{`"connection_limt"`, "HTTP_ADDR", "LOG_FORMAT", "LOG_LEVEL", "MIGRATE_ON_START",
		"PROMPT_MAX_STALENESS", "OUTBOX_CAPACITY", "SHUTDOWN_TIMEOUT", "SPOOL_PATH", "SPOOL_MAX_BYTES", "SPOOL_FSYNC", "RESPONDER", "TELEGRAM_WEBHOOK_SECRET",
		"DB_RETRY_MAX_ATTEMPTS", "DB_RETRY_MAX_ATTEMPT"} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the password:\n%s", msg)
	}
}

func TestMissingDatabaseURL(t *testing.T) {
	_, err := Load(env(map[string]string{}))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is not set") {
		t.Errorf("Load = %v, want DATABASE_URL is not set", err)
	}
}

func TestTelegramNeedsItsSecret(t *testing.T) {
	_, err := Load(env(map[string]string{"DATABASE_URL": runbookURL, "TELEGRAM_BOT_TOKEN": "1:abc"}))
	if err == nil || !strings.Contains(err.Error(), "TELEGRAM_WEBHOOK_SECRET") {
		t.Errorf("Load = %v, want an error naming TELEGRAM_WEBHOOK_SECRET", err)
	}
}

func TestSchemaThroughPgBouncerNeedsMigrateURL(t *testing.T) {
	_, err := Load(env(map[string]string{"DATABASE_URL": runbookURL + "&schema=app"}))
	if err == nil || !strings.Contains(err.Error(), "MIGRATE_DATABASE_URL") {
		t.Errorf("Load = %v, want a pointer to MIGRATE_DATABASE_URL", err)
	}
	_, err = Load(env(map[string]string{"DATABASE_URL": runbookURL + "&schema=app", "MIGRATE_DATABASE_URL": "postgresql://u:p@db:5432/db?schema=app"}))
	if err != nil {
		t.Errorf("with a direct MIGRATE_DATABASE_URL: %v", err)
	}
}

// TestDocsCoverEveryVariable keeps docs/bot.md honest.
func TestDocsCoverEveryVariable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bot.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(Names(), resilience.EnvVarNames()...) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/bot.md does not document `%s`", name)
		}
	}
}

func TestSpoolOff(t *testing.T) {
	for _, v := range []string{"off", "OFF"} {
		c, err := Load(env(map[string]string{"DATABASE_URL": runbookURL, "SPOOL_PATH": v}))
		if err != nil || c.SpoolPath != "" {
			t.Errorf("SPOOL_PATH=%s: path %q, err %v; want no spool", v, c.SpoolPath, err)
		}
	}
}
