package resilience

// Error is what every failed call through the Executor returns (errors.As-able).
type Error struct {
	Code     Code
	Op       string // e.g. "getCustomPrompt"
	Addr     string // host:port, never credentials
	Attempts int
	Reason   string
	Err      error // cause
}

func (e *Error) Error() string {
	// TODO(issue 3): Prisma wording per code.
	return string(e.Code) + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// RedactDSN masks the password in a URL or keyword/value DSN.
func RedactDSN(dsn string) string {
	// TODO(issue 3)
	return "xxxxx"
}
