package resilience

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrCircuitOpen is the cause of the P1001 returned while the breaker is open.
var ErrCircuitOpen = circuitbreaker.ErrOpen

// Target is the database server and pool the calls go to, as Prisma's
// error messages and their meta name them. It never holds a password.
type Target struct {
	Host     string // "" when unknown
	Port     int    // 0 when unknown
	User     string // P1000 names it
	Database string // P1003 names it
	// PoolTimeout (Prisma's pool_timeout, 0 = no limit) and ConnectionLimit
	// (the pool's size) are what P2024 reports.
	PoolTimeout     time.Duration
	ConnectionLimit int
}

// Meta is where a failed call was going, named as the meta of Prisma's
// P1001 names it: replies and /readyz carry it, so that a client reads the
// server from fields instead of parsing a message.
type Meta struct {
	DatabaseHost string `json:"database_host"`
	DatabasePort int    `json:"database_port"`
}

// Meta is t's host and port; nil when the host is unknown.
func (t Target) Meta() *Meta {
	if t.Host == "" {
		return nil
	}
	return &Meta{DatabaseHost: t.Host, DatabasePort: t.Port}
}

// Error is what every failed call through the Executor returns (errors.As-able).
//
// The embedded Classification is the Executor's verdict on the call (Code,
// Reason, Connection, NotSent, ...), the one it fed the breaker with: callers
// read it from here instead of classifying the cause again. Retryable is the
// verdict on the last attempt (a later call may succeed), not an invitation
// to retry: the Executor already spent the policy's attempts.
type Error struct {
	Classification
	Op       string // e.g. "getCustomPrompt"
	Target   Target // the server and pool, never credentials
	Attempts int
	Err      error // cause
	// Elapsed is the wall time of the whole call (P1008's time).
	Elapsed time.Duration
}

// Error is the code and Prisma's own message for it: the Prisma 6 query
// engine's templates (prisma-engines, libs/user-facing-errors/src/common.rs
// and query_engine/mod.rs), word for word, their paragraphs joined by one
// space so that the text stays on one log line. The cause (Reason) and the
// attempts are not glued on: callers log them as attributes of their own.
// Only the slots Prisma's templates have for it (P1002's and P1008's
// context, P1011's message) carry the Reason. An error without a code is
// "database error in <op>: <reason>: <cause>", the cause redacted, so a
// password cannot leak through it.
func (e *Error) Error() string {
	if msg := e.prismaMessage(); msg != "" {
		return string(e.Code) + ": " + msg
	}
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(string(e.Code))
	} else {
		b.WriteString("database error")
		if e.Op != "" {
			b.WriteString(" in " + e.Op)
		}
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if e.Code == "" && e.Err != nil {
		b.WriteString(": " + RedactText(e.Err.Error()))
	}
	return b.String()
}

// prismaMessage is Prisma's message for e.Code, "" for a code without a
// template. Unknown values show as <unknown>, as Prisma's own engine
// writes an unknown port.
func (e *Error) prismaMessage() string {
	t := e.Target
	host, port, user, db := orUnknown(t.Host), "<unknown>", orUnknown(t.User), orUnknown(t.Database)
	if t.Port > 0 {
		port = strconv.Itoa(t.Port)
	}
	at := "`" + host + "`:`" + port + "`"
	switch e.Code {
	case CodeAuthFailed:
		return "Authentication failed against database server at `" + host + "`, the provided database credentials for `" + user + "` are not valid. " +
			"Please make sure to provide valid database credentials for the database server at `" + host + "`."
	case CodeUnreachable:
		return "Can't reach database server at " + at + " " +
			"Please make sure your database server is running at " + at + "."
	case CodeTimeout:
		return "The database server at " + at + " was reached but timed out. " +
			"Please try again. " +
			"Please make sure your database server is running at " + at + ". " +
			"Context: " + e.Reason
	case CodeDBMissing:
		return "Database `" + db + "` does not exist on the database server at `" + host + ":" + port + "`."
	case CodeOpTimeout:
		return "Operations timed out after `" + prismaTime(e.Elapsed) + "`. Context: " + e.Reason
	case CodeTLS:
		return "Error opening a TLS connection: " + e.Reason
	case CodeConnClosed:
		return "Server has closed the connection."
	case CodePoolTimeout:
		return "Timed out fetching a new connection from the connection pool. More info: http://pris.ly/d/connection-pool " +
			"(Current connection pool timeout: " + strconv.FormatFloat(t.PoolTimeout.Seconds(), 'f', -1, 64) +
			", connection limit: " + strconv.Itoa(t.ConnectionLimit) + ")"
	case CodeTooManyConns:
		return "Too many database connections opened: " + e.Reason
	case CodeConflict:
		return "Transaction failed due to a write conflict or a deadlock. Please retry your transaction"
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// prismaTime is P1008's time as Prisma gives it: milliseconds below a
// second, else seconds.
func prismaTime(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "s"
}

func (e *Error) Unwrap() error { return e.Err }

const redacted = "xxxxx"

// kvPassword matches a keyword/value password (libpq allows spaces around
// '=' and single-quoted values with backslash escapes; an unterminated quote
// runs to the end). It also catches sslpassword= and URL query parameters.
var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.?)*'?|[^\s&]*)`)

// RedactDSN masks the password in a URL or keyword/value DSN; password ->
// "xxxxx". It never panics. For malformed input it masks generously: in a
// URL-looking string everything between the first ':' after "://" and the
// last '@' goes, since that span holds the password for any parser.
func RedactDSN(dsn string) string {
	s := dsn
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[:i+3] + maskUserinfo(s[i+3:])
	} else if !strings.Contains(s, "=") {
		// Neither URL nor keyword/value: treat "user:pass@host" like a URL.
		s = maskUserinfo(s)
	}
	return kvPassword.ReplaceAllString(s, "${1}"+redacted)
}

// maskUserinfo masks from the first ':' up to the last '@' of rest.
func maskUserinfo(rest string) string {
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return rest
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return rest
	}
	return rest[:colon+1] + redacted + rest[at:]
}

// urlInText finds URL-ish tokens with userinfo inside free text.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s'"` + "`" + `]*@`)

// RedactText masks DSN passwords found anywhere in free text such as an
// error message. Observers use it before printing an error.
func RedactText(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.Index(m, "://")
		return m[:i+3] + maskUserinfo(m[i+3:])
	})
	return kvPassword.ReplaceAllString(s, "${1}"+redacted)
}

// TargetFromDSN returns the host, port, user and database of the first
// host in dsn, for WithTarget; the zero Target if dsn cannot be parsed (the
// parse error is dropped because it may quote the DSN). The pool's settings
// are the caller's to add.
func TargetFromDSN(dsn string) Target {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return Target{}
	}
	return Target{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Database: cfg.Database}
}
