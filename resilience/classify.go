package resilience

// Code is a Prisma-style error code, kept so the runbook's vocabulary works.
type Code string

const (
	CodeAuthFailed  Code = "P1000" // authentication failed, not retryable
	CodeUnreachable Code = "P1001" // can't reach database server (refused, DNS, dial timeout, reset during connect, breaker open)
	CodeTimeout     Code = "P1002" // reached but timed out
	CodeOpTimeout   Code = "P1008" // operation timed out
	CodeConnClosed  Code = "P1017" // server closed the connection
	CodePoolTimeout Code = "P2024" // timed out acquiring from the pool
	CodeConflict    Code = "P2034" // write conflict / deadlock
)

// Classification is what Classify says about one error.
type Classification struct {
	Retryable  bool
	Code       Code   // "" when the error is not a database-availability error (e.g. 23505)
	Reason     string // short, human, never contains a password
	Connection bool   // connection-class failure (counts towards the breaker)
	NotSent    bool   // provably failed before the statement was sent (safe to retry a write)
}

// Classify tells whether err is worth retrying and which Prisma code it maps to.
func Classify(err error) Classification {
	// TODO(issue 3): real classification.
	if err == nil {
		return Classification{}
	}
	return Classification{Reason: "unclassified"}
}
