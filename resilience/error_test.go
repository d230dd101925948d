package resilience

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestErrorText holds Error() to Prisma's own messages (the Prisma 6
// engine's templates, prisma-engines libs/user-facing-errors/src/common.rs
// and query_engine/mod.rs), written out here by hand from those files.
func TestErrorText(t *testing.T) {
	cause := fmt.Errorf("dial postgres://app:%s@db:5432/x: refused", testPassword)
	pooler := Target{Host: "toxiproxy", Port: 6543, User: "p1001", Database: "app", PoolTimeout: 10 * time.Second, ConnectionLimit: 10}
	cases := []struct {
		name string
		err  *Error
		want string
	}{
		{"P1001", &Error{Classification: Classification{Code: CodeUnreachable}, Target: pooler},
			"P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`."},
		// The reason and the attempts are attributes of their own, never glued on.
		{"P1001 with reason and attempts", &Error{Classification: Classification{Code: CodeUnreachable, Reason: "connection refused"}, Target: pooler, Attempts: 3, Err: cause},
			"P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`."},
		{"P1001 unknown target", &Error{Classification: Classification{Code: CodeUnreachable}},
			"P1001: Can't reach database server at `<unknown>`:`<unknown>` Please make sure your database server is running at `<unknown>`:`<unknown>`."},
		{"P1000", &Error{Classification: Classification{Code: CodeAuthFailed, Reason: "authentication failed"}, Target: pooler, Err: cause},
			"P1000: Authentication failed against database server at `toxiproxy`, the provided database credentials for `p1001` are not valid. " +
				"Please make sure to provide valid database credentials for the database server at `toxiproxy`."},
		{"P1002", &Error{Classification: Classification{Code: CodeTimeout, Reason: "server reached but the handshake timed out"}, Target: pooler},
			"P1002: The database server at `toxiproxy`:`6543` was reached but timed out. Please try again. " +
				"Please make sure your database server is running at `toxiproxy`:`6543`. Context: server reached but the handshake timed out"},
		{"P1003", &Error{Classification: Classification{Code: CodeDBMissing, Reason: "database does not exist"}, Target: pooler},
			"P1003: Database `app` does not exist on the database server at `toxiproxy:6543`."},
		{"P1008 seconds", &Error{Classification: Classification{Code: CodeOpTimeout, Reason: "budget 5s spent"}, Elapsed: 5 * time.Second},
			"P1008: Operations timed out after `5s`. Context: budget 5s spent"},
		{"P1008 fraction", &Error{Classification: Classification{Code: CodeOpTimeout, Reason: "x"}, Elapsed: 2003400 * time.Microsecond},
			"P1008: Operations timed out after `2.003s`. Context: x"},
		{"P1008 milliseconds", &Error{Classification: Classification{Code: CodeOpTimeout, Reason: "statement canceled (statement_timeout)"}, Elapsed: 250 * time.Millisecond},
			"P1008: Operations timed out after `250ms`. Context: statement canceled (statement_timeout)"},
		{"P1011", &Error{Classification: Classification{Code: CodeTLS, Reason: "server refused TLS, which sslmode requires"}, Target: pooler},
			"P1011: Error opening a TLS connection: server refused TLS, which sslmode requires"},
		{"P1017", &Error{Classification: Classification{Code: CodeConnClosed, Reason: "connection closed"}, Target: pooler, Attempts: 3},
			"P1017: Server has closed the connection."},
		{"P2024", &Error{Classification: Classification{Code: CodePoolTimeout}, Target: pooler},
			"P2024: Timed out fetching a new connection from the connection pool. More info: http://pris.ly/d/connection-pool " +
				"(Current connection pool timeout: 10, connection limit: 10)"},
		{"P2024 real values", &Error{Classification: Classification{Code: CodePoolTimeout},
			Target: Target{Host: "db", Port: 5432, PoolTimeout: 1500 * time.Millisecond, ConnectionLimit: 3}},
			"P2024: Timed out fetching a new connection from the connection pool. More info: http://pris.ly/d/connection-pool " +
				"(Current connection pool timeout: 1.5, connection limit: 3)"},
		{"P2037", &Error{Classification: Classification{Code: CodeTooManyConns, Reason: "too many clients"}, Target: pooler},
			"P2037: Too many database connections opened: too many clients"},
		{"P2034", &Error{Classification: Classification{Code: CodeConflict, Reason: "deadlock detected"}},
			"P2034: Transaction failed due to a write conflict or a deadlock. Please retry your transaction"},
		{"no code", &Error{Classification: Classification{Reason: "integrity constraint violation"}, Op: "insertMessage", Err: cause},
			"database error in insertMessage: integrity constraint violation: dial postgres://app:xxxxx@db:5432/x: refused"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s: Error() = %q\n          want %q", tc.name, got, tc.want)
		}
		if strings.Contains(tc.err.Error(), testPassword) {
			t.Errorf("Error() leaks the password: %q", tc.err.Error())
		}
	}
	wrapped := fmt.Errorf("handler: %w", &Error{Classification: Classification{Code: CodeUnreachable}, Err: io.EOF})
	var e *Error
	if !errors.As(wrapped, &e) || e.Code != CodeUnreachable || !errors.Is(wrapped, io.EOF) {
		t.Error("errors.As / Unwrap do not work through wrapping")
	}
}

func TestRedactDSN(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://app:hunter22@db:5432/app?sslmode=disable", "postgres://app:xxxxx@db:5432/app?sslmode=disable"},
		{"postgresql://app:p%40ss%2Fw@h1:5432,h2:5433/app", "postgresql://app:xxxxx@h1:5432,h2:5433/app"},
		{"postgres://app@db/app", "postgres://app@db/app"},
		{"postgres://db/app?user=app&password=hunter22&sslmode=require", "postgres://db/app?user=app&password=xxxxx&sslmode=require"},
		{"postgres://app:hunter22@db/app?sslpassword=keypass", "postgres://app:xxxxx@db/app?sslpassword=xxxxx"},
		{"host=db user=app password=hunter22 dbname=app", "host=db user=app password=xxxxx dbname=app"},
		{"host=db password = 'hun ter\\'22' dbname=app", "host=db password = xxxxx dbname=app"},
		{"host=db password='unterminated dbname=app", "host=db password=xxxxx"},
		{"host=db PASSWORD=hunter22", "host=db PASSWORD=xxxxx"},
		// Malformed URLs: mask generously.
		{"postgres://app:pa/ss@wo@rd@db/app", "postgres://app:xxxxx@db/app"},
		{"postgres://app:pa ss@db/app", "postgres://app:xxxxx@db/app"},
		{"app:hunter22@db:5432", "app:xxxxx@db:5432"},
		{"", ""},
		{"not a dsn", "not a dsn"},
	}
	for _, tc := range cases {
		if got := RedactDSN(tc.in); got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactText(t *testing.T) {
	in := "cannot parse `postgres://app:hunter22@db/app`: failed; also host=db password=hunter22 and mysql://u:hunter22@x"
	got := RedactText(in)
	if strings.Contains(got, "hunter22") {
		t.Errorf("RedactText left the password: %q", got)
	}
	if !strings.Contains(got, "postgres://app:xxxxx@db/app") {
		t.Errorf("RedactText mangled the URL: %q", got)
	}
}

func TestTargetFromDSN(t *testing.T) {
	cases := []struct {
		in   string
		want Target
	}{
		{"postgres://app:hunter22@toxiproxy:6543/p1001", Target{Host: "toxiproxy", Port: 6543, User: "app", Database: "p1001"}},
		{"postgres://app:hunter22@db/app", Target{Host: "db", Port: 5432, User: "app", Database: "app"}},
		{"host=db port=6432 user=app password=hunter22 dbname=x", Target{Host: "db", Port: 6432, User: "app", Database: "x"}},
		{"postgres://app:hunter22@[::1]:5433/app", Target{Host: "::1", Port: 5433, User: "app", Database: "app"}},
		{"postgres://app:hunter22@db:notaport/app", Target{}},
	}
	for _, tc := range cases {
		if got := TargetFromDSN(tc.in); got != tc.want {
			t.Errorf("TargetFromDSN(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestTargetMeta: Meta is the host and port, nil when the host is unknown,
// so replies leave it out.
func TestTargetMeta(t *testing.T) {
	cases := []struct {
		t        Target
		wantMeta *Meta
	}{
		{Target{Host: "toxiproxy", Port: 6543, User: "u", PoolTimeout: time.Second}, &Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}},
		{Target{Host: "::1", Port: 5432}, &Meta{DatabaseHost: "::1", DatabasePort: 5432}},
		{Target{}, nil},
	}
	for _, tc := range cases {
		got := tc.t.Meta()
		if (got == nil) != (tc.wantMeta == nil) || got != nil && *got != *tc.wantMeta {
			t.Errorf("%+v.Meta() = %+v, want %+v", tc.t, got, tc.wantMeta)
		}
	}
}

// passwordLeaks reports whether out shows pw, ignoring what the mask itself
// could spell and passwords that also occur elsewhere in the input.
func passwordLeaks(in, out, pw string) bool {
	if pw == "" || strings.Count(in, pw) != 1 || strings.Contains(redacted, pw) {
		return false
	}
	return strings.Contains(strings.ReplaceAll(out, redacted, "\x00"), pw)
}

func FuzzRedactDSN(f *testing.F) {
	f.Add("postgres://u:p@h/db", "hunter22")
	f.Add("host=h password='a b' dbname=x", "a b'c\\")
	f.Add("postgres://u:p@h:5432/db?password=x&sslpassword=y", "p@ss/w:rd?#")
	f.Add("\x00://@:", "'")
	f.Fuzz(func(t *testing.T, dsn, pw string) {
		_ = RedactDSN(dsn) // arbitrary input: must not panic
		_ = RedactText(dsn)
		if strings.ContainsRune(pw, 0) {
			return
		}
		type form struct{ in, secret string } // secret: how pw is spelled in in
		esc := url.QueryEscape(pw)
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw)
		forms := []form{
			{"postgres://app:" + esc + "@db:5432/app?sslmode=disable", esc},
			{"postgres://app:" + pw + "@db:5432/app", pw},
			{"postgres://db:5432/app?user=app&password=" + esc, esc},
			{"host=db user=app password='" + quoted + "' dbname=app", quoted},
		}
		if !strings.ContainsAny(pw, " \t\r\n\v\f&'") {
			forms = append(forms, form{"host=db password=" + pw + " dbname=app", pw})
		}
		for _, fm := range forms {
			in, secret := fm.in, fm.secret
			if out := RedactDSN(in); passwordLeaks(in, out, secret) {
				t.Fatalf("RedactDSN(%q) = %q shows the password %q", in, out, secret)
			}
			// In free text a URL ends at whitespace or a quote, so only
			// passwords without them are defined there.
			if !strings.ContainsAny(secret, " \t\r\n\v\f'\"`") || strings.HasPrefix(in, "host=") {
				text := "failed to connect: " + in + ": refused"
				if out := RedactText(text); passwordLeaks(text, out, secret) {
					t.Fatalf("RedactText(%q) = %q shows the password %q", text, out, secret)
				}
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add("08P01", "no more connections allowed (max_client_conn)", "hunter22", uint8(0))
	f.Add("", "Unable to check out process from the pool due to timeout", "hunter22", uint8(1))
	f.Add("40001", "could not serialize", "x", uint8(2))
	f.Add("28P01", "password authentication failed", "pw", uint8(3))
	f.Add("23505", "duplicate key", "hunter22", uint8(1))
	f.Fuzz(func(t *testing.T, code, msg, pw string, shape uint8) {
		build := func(pw string) (Classification, string) {
			m := msg + " postgres://app:" + pw + "@db/app password=" + pw
			var err error
			switch shape % 4 {
			case 0:
				err = &pgconn.PgError{Severity: "FATAL", Code: code, Message: m}
			case 1:
				err = errors.New(m)
			case 2:
				err = fmt.Errorf("op: %w", &pgconn.PgError{Code: code, Message: m, Detail: m})
			case 3:
				err = errors.Join(io.ErrUnexpectedEOF, errors.New(m))
			}
			c := Classify(err) // must not panic
			return c, (&Error{Classification: c, Err: err, Op: "op", Target: Target{Host: "db", Port: 5432}}).Error()
		}
		c, text := build(pw)
		if c.Retryable && c.Code == "" {
			t.Fatalf("retryable without a code: %+v", c)
		}
		if c.Canceled && c.Code == CodeUnreachable {
			t.Fatalf("cancel reported as P1001")
		}
		// The oracle: the same error without the password. Whatever pw
		// spells there (or in a fixed reason) is not the password leaking.
		if pw == "" || strings.ContainsAny(pw, " \t\r\n\v\f&'\"`\x00\x01") {
			return // such passwords cannot be delimited in free text
		}
		_, clean := build("\x01")
		inherent := clean + " " + strings.Join(reasonVocabulary(), " ")
		if strings.Contains(inherent, pw) || strings.Contains(redacted, pw) {
			return
		}
		if strings.Contains(strings.ReplaceAll(text, redacted, "\x00"), pw) {
			t.Fatalf("Error() = %q shows the password %q", text, pw)
		}
		if strings.Contains(c.Reason, pw) {
			t.Fatalf("reason %q contains the password %q", c.Reason, pw)
		}
	})
}

// reasonVocabulary is every fixed reason text, so the fuzzer does not flag a
// "password" that is just a word the reasons use.
func reasonVocabulary() []string {
	var out []string
	for _, pm := range PoolerMessages {
		out = append(out, pm.Class.Reason)
	}
	return append(out, "authentication failed invalid authorization database does not exist serialization failure deadlock detected",
		"prepared statement conflict behind a transaction pooler: use pgbouncer=true (in pgx: default_query_exec_mode=exec or simple_protocol)",
		"server shutting down (admin command) server crashed server cannot accept connections now (starting up or shutting down)",
		"too many connections statement canceled (statement_timeout) integrity constraint violation syntax error or access rule violation",
		"data exception connection exception server rejected the connection database error server closed the connection connection closed",
		"not a database availability error operation timed out network timeout connection unusable before the statement was sent")
}
