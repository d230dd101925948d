package environment

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestClientGone: a client that left between SHOW CLIENTS and its
// KILL_CLIENT is no failure of the client_limit fault; any other error is.
func TestClientGone(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"PgBouncer 1.24's words", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "08P01", Message: "client not found"}), true},
		{"older words", &pgconn.PgError{Code: "08P01", Message: "no such client"}, true},
		{"another admin error", &pgconn.PgError{Code: "08P01", Message: "unknown command"}, false},
		{"not a server error", errors.New("client not found"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientGone(tt.err); got != tt.want {
				t.Errorf("clientGone(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
