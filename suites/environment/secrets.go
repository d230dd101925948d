package environment

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
)

// newToken makes a bot's API token and remembers it for Secrets.
func (e *Env) newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random API token: %w", err)
	}
	t := "p1001-" + hex.EncodeToString(b)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens = append(e.tokens, t)
	return t, nil
}

// Secrets are what no log, report or error may show: the stack's password
// and every API token given to a bot so far.
func (e *Env) Secrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(append([]string{e.cfg.Password}, e.tokens...), e.cfg.Existing.secrets()...)
}

// TokenPattern matches every API token newToken makes, whichever process's
// stack gave it: a report built by one process checks the files of all for
// tokens it never saw (the suite's ReportAfterSuite).
var TokenPattern = regexp.MustCompile(`\bp1001-[0-9a-f]{48}\b`)
