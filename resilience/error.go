package resilience

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrCircuitOpen is the cause of the P1001 returned while the breaker is open.
var ErrCircuitOpen = circuitbreaker.ErrOpen

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
	Addr     string // host:port, never credentials
	Attempts int
	Err      error // cause
	// Elapsed is the wall time of the whole call (used by P1008's wording).
	Elapsed time.Duration
}

// Error uses Prisma's wording for the code, then the short reason. It never
// includes the cause's text for coded errors, and redacts it otherwise, so a
// password cannot leak through it.
func (e *Error) Error() string {
	var b strings.Builder
	at := ""
	if e.Addr != "" {
		at = " at " + e.Addr
	}
	switch e.Code {
	case CodeAuthFailed:
		b.WriteString("P1000: Authentication failed against database server" + at)
	case CodeUnreachable:
		b.WriteString("P1001: Can't reach database server" + at)
	case CodeTimeout:
		b.WriteString("P1002: The database server" + at + " was reached but timed out")
	case CodeDBMissing:
		b.WriteString("P1003: Database does not exist at the database server" + at)
	case CodeTLS:
		b.WriteString("P1011: Error opening a TLS connection to the database server" + at)
	case CodeOpTimeout:
		b.WriteString("P1008: Operations timed out after " + e.Elapsed.Round(time.Millisecond).String())
	case CodeConnClosed:
		b.WriteString("P1017: Server has closed the connection")
	case CodePoolTimeout:
		b.WriteString("P2024: Timed out fetching a new connection from the connection pool")
	case CodeTooManyConns:
		b.WriteString("P2037: Too many database connections opened")
	case CodeConflict:
		b.WriteString("P2034: Transaction failed due to a write conflict or a deadlock")
	default:
		b.WriteString("database error")
		if e.Op != "" {
			b.WriteString(" in " + e.Op)
		}
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		if e.Err != nil {
			b.WriteString(": " + RedactText(e.Err.Error()))
		}
		return b.String()
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if e.Attempts > 1 {
		b.WriteString(" (" + strconv.Itoa(e.Attempts) + " attempts)")
	}
	return b.String()
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

// AddrFromDSN returns "host:port" of the first host in dsn, without
// credentials, for WithAddr. It returns "" if dsn cannot be parsed; the
// parse error is dropped because it may quote the DSN.
func AddrFromDSN(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return cfg.Host // unix socket directory
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}
