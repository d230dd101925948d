package environment

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	return append([]string{e.cfg.Password}, e.tokens...)
}
