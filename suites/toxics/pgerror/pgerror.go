// Package pgerror is a Toxiproxy toxic that speaks a little of the Postgres
// protocol: it answers a new connection's startup with an ErrorResponse of
// a given severity, SQLSTATE and message, then closes, as a pooler refusing
// a client does (Supavisor's "FATAL: (EMAXCONN) max client connections
// reached, limit: 200"). suites/cmd/toxiproxy registers it in p1001's
// Toxiproxy image under Type.
//
// It acts on the downstream stream (server to client), because a toxic
// can only write in its own direction: on the upstream stream it sees the
// client's StartupMessage but could only pass it to the server or close.
// Downstream it waits for the server's answer to the startup and puts the
// refusal in its place, so the client reads exactly what a refusing pooler
// sends. What it sees first tells it where the connection is:
//
//   - a lone 'N', the server declining an SSLRequest (sslmode=prefer): passed
//     on; libpq sends its startup on the same connection (pgx on a new one);
//   - 'R' (an authentication request) or 'v' (NegotiateProtocolVersion): the
//     answer to the StartupMessage, which it replaces with the ErrorResponse;
//   - anything else: the connection was already in session when the toxic
//     was added (or the server accepted TLS, 'S', in which no plain
//     ErrorResponse can be written). It is closed without an answer, as a
//     pooler that restarts drops its clients: the client cannot tell whether
//     its statement ran, and its reconnects meet the refusal.
package pgerror

import (
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Type is the toxic's name in Toxiproxy's API.
const Type = "pgerror"

// Defaults for the fields left empty: what Supavisor sends for every
// refusal (its Supavisor.Error.postgres_error).
const (
	DefaultSeverity = "FATAL"
	DefaultCode     = "XX000"
)

// Toxic is the pgerror toxic; its fields are the toxic's attributes.
type Toxic struct {
	Severity string `json:"severity"` // default FATAL
	Code     string `json:"code"`     // SQLSTATE, default XX000
	Message  string `json:"message"`
	// Delay holds the refusal back, in ms: Supavisor throttles clients that
	// retry in a loop by answering some refusals late.
	Delay int64 `json:"delay"`
}

var _ toxics.Toxic = (*Toxic)(nil)

// What the first bytes the server sends say about the connection.
const (
	sslDeclined = iota // a lone 'N': go on to the startup answer
	startup            // the answer to the StartupMessage: refuse
	inSession          // anything else: close without an answer
)

func firstSeen(data []byte) int {
	switch {
	case len(data) == 1 && data[0] == 'N':
		return sslDeclined
	case len(data) > 0 && (data[0] == 'R' || data[0] == 'v'):
		return startup
	}
	return inSession
}

// Pipe runs the toxic on one connection's downstream stream.
func (t *Toxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			switch firstSeen(c.Data) {
			case sslDeclined:
				stub.Output <- c
				continue
			case startup:
				if !t.wait(stub) {
					// Interrupted while holding the refusal back (the
					// toxic removed, or another added behind it): the
					// server's answer goes on after all.
					stub.Output <- c
					return
				}
				// An ErrorResponse that cannot be encoded (a message over
				// 1 GB) leaves only the close.
				if msg, err := t.errorResponse(); err == nil {
					stub.Output <- &stream.StreamChunk{Data: msg, Timestamp: time.Now()}
				}
			}
			stub.Close()
			drain(stub)
			return
		}
	}
}

// wait sleeps Delay; false when the toxic is interrupted first.
func (t *Toxic) wait(stub *toxics.ToxicStub) bool {
	if t.Delay <= 0 {
		return true
	}
	timer := time.NewTimer(time.Duration(t.Delay) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stub.Interrupt:
		return false
	}
}

// drain discards what the server still sends until its side closes, so
// that the toxics before this one never block on a closed connection.
func drain(stub *toxics.ToxicStub) {
	for range stub.Input {
	}
}

// errorResponse is the ErrorResponse message, with only the fields
// Supavisor sends: severity, code, message.
func (t *Toxic) errorResponse() ([]byte, error) {
	e := pgproto3.ErrorResponse{Severity: t.Severity, Code: t.Code, Message: t.Message}
	if e.Severity == "" {
		e.Severity = DefaultSeverity
	}
	if e.Code == "" {
		e.Code = DefaultCode
	}
	return e.Encode(nil)
}
