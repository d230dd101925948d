// Package config reads the bot's settings from the environment, in one
// place, and reports every bad or missing variable at once, by name.
// docs/bot.md documents each variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/bot/telegram"
	"github.com/p1001/p1001/resilience"
)

// Config is everything the bot reads from its environment.
type Config struct {
	HTTPAddr  string
	LogFormat string // "text" or "json"
	LogLevel  slog.Level

	// APIToken (API_TOKEN), when set, is required on every /v1/ request as
	// "Authorization: Bearer <token>". APIAuth (API_AUTH) is "token", or
	// "none": the operator's explicit choice to serve the message API
	// beyond loopback without one (see CheckExposure).
	APIToken string
	APIAuth  string
	// MetricsAddr (METRICS_ADDR), when set, moves /metrics off HTTP_ADDR
	// onto a listener of its own.
	MetricsAddr string

	// DB is DATABASE_URL, translated. MigrateDB is MIGRATE_DATABASE_URL, or
	// DB when that is unset.
	DB             *dburl.Config
	MigrateDB      *dburl.Config
	MigrateOnStart bool
	Retry          resilience.Policy

	DefaultPrompt      string
	PromptMaxStaleness time.Duration
	PromptCacheSize    int
	// ReplyDeadline is how long a reply waits for the prompt lookup (0:
	// until it ends); MaxPromptLookups caps the lookups running at once.
	ReplyDeadline    time.Duration
	MaxPromptLookups int
	// PoolMinConns is the pool connections kept open once the database
	// has answered (POOL_MIN_CONNS, default the pool's size; app.warmPool).
	PoolMinConns    int
	MaxMessageChars int
	MaxPromptChars  int
	MaxBodyBytes    int64

	OutboxCapacity      int
	OutboxBatchSize     int
	OutboxRetryMaxDelay time.Duration
	ShutdownTimeout     time.Duration
	// SpoolPath is the outbox's durable spool; "" (SPOOL_PATH=off) keeps
	// the message log in memory only.
	SpoolPath     string
	SpoolMaxBytes int64
	SpoolFsync    msglog.Fsync

	Responder string // "template" or "openai"
	OpenAI    responder.OpenAIConfig

	// Telegram is nil unless TELEGRAM_BOT_TOKEN is set.
	Telegram *telegram.Config
}

// Defaults.
const (
	DefaultHTTPAddr           = ":8080"
	DefaultPromptMaxStaleness = 10 * time.Minute
	DefaultOpenAIBaseURL      = "https://api.openai.com/v1"
	DefaultOpenAIModel        = "gpt-4o-mini"
	// DefaultSpoolPath is in the bot image's volume (hack/images/bot).
	DefaultSpoolPath = "/var/lib/p1001/spool.db"
)

// The other defaults belong to the packages whose options they fill
// (chat, msglog, httpapi, telegram, responder): Load reads their
// constants, so that a zero option and an unset variable mean the same.

// API_AUTH values.
const (
	AuthToken = "token"
	AuthNone  = "none"
)

// Load reads the configuration through lookup (os.LookupEnv). environ
// (os.Environ) is checked for misspelt DB_RETRY_*/DB_BREAKER_* names.
func Load(lookup func(string) (string, bool), environ []string) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		HTTPAddr:            r.str("HTTP_ADDR", DefaultHTTPAddr),
		LogFormat:           r.oneOf("LOG_FORMAT", "text", "text", "json"),
		LogLevel:            r.level("LOG_LEVEL"),
		MigrateOnStart:      r.boolean("MIGRATE_ON_START", true),
		DefaultPrompt:       r.str("DEFAULT_PROMPT", chat.DefaultPrompt),
		PromptMaxStaleness:  r.duration("PROMPT_MAX_STALENESS", DefaultPromptMaxStaleness, 0),
		PromptCacheSize:     r.integer("PROMPT_CACHE_SIZE", chat.DefaultCacheSize, 1, 10_000_000),
		ReplyDeadline:       r.duration("REPLY_DEADLINE", chat.DefaultReplyDeadline, 0),
		MaxPromptLookups:    r.integer("MAX_PROMPT_LOOKUPS", chat.DefaultMaxLookups, 1, 1_000_000),
		MaxMessageChars:     r.integer("MAX_MESSAGE_CHARS", chat.DefaultMaxMessageRunes, 1, 1<<20),
		MaxPromptChars:      r.integer("MAX_PROMPT_CHARS", chat.DefaultMaxPromptRunes, 1, 1<<20),
		MaxBodyBytes:        int64(r.integer("MAX_BODY_BYTES", httpapi.DefaultMaxBodyBytes, 256, 64<<20)),
		OutboxCapacity:      r.integer("OUTBOX_CAPACITY", msglog.DefaultCapacity, 1, 10_000_000),
		OutboxBatchSize:     r.integer("OUTBOX_BATCH_SIZE", msglog.DefaultBatchSize, 1, 10_000),
		OutboxRetryMaxDelay: r.duration("OUTBOX_RETRY_MAX_DELAY", msglog.DefaultRetryMaxDelay, time.Millisecond),
		ShutdownTimeout:     r.duration("SHUTDOWN_TIMEOUT", 15*time.Second, time.Millisecond),
		SpoolPath:           r.str("SPOOL_PATH", DefaultSpoolPath),
		SpoolMaxBytes:       int64(r.integer("SPOOL_MAX_BYTES", msglog.DefaultSpoolMaxBytes, 64<<10, 1<<40)),
		SpoolFsync:          msglog.Fsync(r.oneOf("SPOOL_FSYNC", string(msglog.FsyncBackground), string(msglog.FsyncBackground), string(msglog.FsyncReply))),
		Responder:           r.oneOf("RESPONDER", "template", "template", "openai"),
		APIAuth:             r.oneOf("API_AUTH", AuthToken, AuthToken, AuthNone),
		APIToken:            r.str("API_TOKEN", ""),
		MetricsAddr:         r.str("METRICS_ADDR", ""),
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.fail(fmt.Errorf("HTTP_ADDR=%q: want host:port or :port", c.HTTPAddr))
	}
	switch {
	case strings.EqualFold(c.SpoolPath, "off"):
		c.SpoolPath = ""
	case strings.HasSuffix(c.SpoolPath, "/"):
		r.fail(fmt.Errorf("SPOOL_PATH=%q names a directory: want a file such as %s, or off", c.SpoolPath, DefaultSpoolPath))
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		r.fail(fmt.Errorf("METRICS_ADDR=%q: want host:port or :port", c.MetricsAddr))
	}
	r.fail(checkAPIToken(c.APIToken, c.APIAuth))
	if strings.TrimSpace(c.DefaultPrompt) == "" {
		r.fail(errors.New("DEFAULT_PROMPT is set but blank"))
	}

	policy, err := resilience.PolicyFromEnv(lookup)
	r.fail(err)
	r.fail(resilience.CheckEnvNames(environ))
	c.Retry = policy

	db, err := dburl.Parse("DATABASE_URL", r.str("DATABASE_URL", ""))
	r.fail(err)
	c.DB = db
	if db != nil {
		// Warm connections: a lookup on an open connection is one round
		// trip, a new one about four (TCP, startup, SCRAM, the query), which
		// under 300 ms of latency is past the 1 s reply deadline.
		size := int(db.Pool.MaxConns)
		c.PoolMinConns = r.integer("POOL_MIN_CONNS", size, 0, size)
	}
	if db != nil {
		// A copy, not the same pointer: app.Build caps each one's connect
		// timeout differently.
		c.MigrateDB = db.Clone()
	}
	if raw, ok := lookup("MIGRATE_DATABASE_URL"); ok && strings.TrimSpace(raw) != "" {
		mdb, err := dburl.Parse("MIGRATE_DATABASE_URL", raw)
		r.fail(err)
		c.MigrateDB = mdb
	}
	if c.MigrateDB != nil && c.MigrateDB.Schema != "" && c.MigrateDB.PgBouncer {
		r.fail(errors.New("DATABASE_URL has schema= and pgbouncer=true: migrations need search_path, which PgBouncer refuses as a startup parameter; set MIGRATE_DATABASE_URL to a direct URL with the same schema="))
	}

	c.OpenAI = responder.OpenAIConfig{
		BaseURL:    r.str("OPENAI_BASE_URL", DefaultOpenAIBaseURL),
		APIKey:     r.str("OPENAI_API_KEY", ""),
		Model:      r.str("OPENAI_MODEL", DefaultOpenAIModel),
		Timeout:    r.duration("OPENAI_TIMEOUT", responder.DefaultTimeout, time.Millisecond),
		MaxRetries: r.integer("OPENAI_MAX_RETRIES", 1, 0, 10),
		Fallback:   r.str("OPENAI_FALLBACK_REPLY", responder.DefaultFallback),
	}
	if c.Responder == "openai" && !strings.HasPrefix(c.OpenAI.BaseURL, "http://") && !strings.HasPrefix(c.OpenAI.BaseURL, "https://") {
		r.fail(fmt.Errorf("OPENAI_BASE_URL=%q must start with http:// or https://", c.OpenAI.BaseURL))
	}

	if token := r.str("TELEGRAM_BOT_TOKEN", ""); token != "" {
		tg := telegram.Config{
			Token:        token,
			Secret:       r.str("TELEGRAM_WEBHOOK_SECRET", ""),
			APIBaseURL:   r.str("TELEGRAM_API_BASE_URL", telegram.DefaultAPIBaseURL),
			Timeout:      r.duration("TELEGRAM_TIMEOUT", telegram.DefaultTimeout, time.Millisecond),
			MaxBodyBytes: telegram.DefaultMaxBodyBytes,
		}
		r.fail(tg.Validate())
		c.Telegram = &tg
	} else {
		for _, name := range []string{"TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL", "TELEGRAM_TIMEOUT"} {
			if v, ok := lookup(name); ok && v != "" {
				r.fail(fmt.Errorf("%s is set but TELEGRAM_BOT_TOKEN is not: the Telegram webhook stays off", name))
			}
		}
	}
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(r.errs...))
	}
	return c, nil
}

// reader collects every error instead of stopping at the first.
type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) fail(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// raw returns the trimmed value; unset and blank both mean "use the default".
func (r *reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) str(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.fail(fmt.Errorf("%s=%q: want one of %s", name, v, strings.Join(allowed, ", ")))
	return def
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(fmt.Errorf("%s=%q: want an integer from %d to %d", name, v, lo, hi))
		return def
	}
	return n
}

// duration parses Go syntax ("250ms", "10m"); 0 is allowed only when lo is 0.
func (r *reader) duration(name string, def, lo time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.fail(fmt.Errorf("%s=%q: want a duration of at least %v such as 500ms or 2s", name, v, lo))
		return def
	}
	return d
}

func (r *reader) level(name string) slog.Level {
	v, ok := r.raw(name)
	if !ok {
		return slog.LevelInfo
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(fmt.Errorf("%s=%q: want debug, info, warn or error", name, v))
		return slog.LevelInfo
	}
	return l
}

// Names lists every variable Load reads besides resilience's DB_RETRY_* and
// DB_BREAKER_* (resilience.EnvVarNames); docs/bot.md documents each one.
func Names() []string {
	return []string{
		"HTTP_ADDR", "API_TOKEN", "API_AUTH", "METRICS_ADDR", "LOG_FORMAT", "LOG_LEVEL",
		"DATABASE_URL", "MIGRATE_DATABASE_URL", "MIGRATE_ON_START",
		"DEFAULT_PROMPT", "PROMPT_MAX_STALENESS", "PROMPT_CACHE_SIZE", "REPLY_DEADLINE", "MAX_PROMPT_LOOKUPS", "POOL_MIN_CONNS",
		"MAX_MESSAGE_CHARS", "MAX_PROMPT_CHARS", "MAX_BODY_BYTES",
		"OUTBOX_CAPACITY", "OUTBOX_BATCH_SIZE", "OUTBOX_RETRY_MAX_DELAY", "SHUTDOWN_TIMEOUT",
		"SPOOL_PATH", "SPOOL_MAX_BYTES", "SPOOL_FSYNC",
		"RESPONDER", "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "OPENAI_TIMEOUT", "OPENAI_MAX_RETRIES", "OPENAI_FALLBACK_REPLY",
		"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL", "TELEGRAM_TIMEOUT",
	}
}
