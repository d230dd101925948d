package scenarios

import (
	"regexp"
	"time"

	"github.com/p1001/p1001/resilience"
)

// The scenario format's vocabulary: limits, name patterns and the values a
// field may take. Fault types and their attributes are in faults.go,
// defaults in defaults.go, the checks that use these in validate.go.

// Limits that keep a scenario something the suite can run.
const (
	maxChats       = 1000
	maxRate        = 1000.0 // messages per second
	maxConcurrency = 1000
	maxTraffic     = 10 * time.Minute
	maxAttempts    = 100
	minFlap        = 10 * time.Millisecond
	maxAttr        = 1_000_000_000
	maxCommandMix  = 0.5
)

var (
	namePattern      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	faultNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	labelPattern     = regexp.MustCompile(`^([a-z]+):([a-z0-9_-]+)$`) // fault:bot-restart
	envKeyPattern    = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	codePattern      = regexp.MustCompile(`^P[0-9]{4}$`)
)

var (
	proxies      = []string{ProxyPooler, ProxyDirect}
	streams      = []string{StreamUpstream, StreamDownstream}
	sources      = []string{SourceCustom, SourceCached, SourceDefault}
	commandNames = []string{"help", "prompt", "reset", "setprompt"}
	effects      = []string{EffectDegraded, EffectSlower, EffectRetried, EffectUnanswered, EffectNone}
	labelKeys    = []string{"fault", "path"}
	knownCodes   = []resilience.Code{resilience.CodeAuthFailed, resilience.CodeUnreachable, resilience.CodeTimeout,
		resilience.CodeOpTimeout, resilience.CodeConnClosed, resilience.CodePoolTimeout, resilience.CodeTooManyConns, resilience.CodeConflict}
)

// envOwned are variables that typed fields set or the environment owns.
var envOwned = map[string]string{
	"DATABASE_URL":         "the environment builds it from bot.database and bot.url_params",
	"MIGRATE_DATABASE_URL": "the environment owns the database URLs",
	"PROMPT_MAX_STALENESS": "use bot.prompt_max_staleness",
	"SPOOL_PATH":           "the environment mounts the spool's volume and sets its path",
}
