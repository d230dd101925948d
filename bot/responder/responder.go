// Package responder turns a prompt and a user's message into a reply.
//
// Template is the default: offline and deterministic, and its reply quotes
// the persona, so a test (or a person) can tell which prompt answered.
// OpenAI talks to any OpenAI-compatible chat-completions endpoint and answers
// with a polite fallback when the model cannot be reached.
package responder

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Request is what a responder answers.
type Request struct {
	ChatID string
	// Prompt is the system prompt (persona) in effect for the chat.
	Prompt string
	Text   string
}

// Responder produces the reply text. Implementations handle their own
// failures: an error means the reply could not be produced at all.
type Responder interface {
	Respond(ctx context.Context, req Request) (string, error)
}

// Template is the offline responder.
type Template struct{}

// Respond returns "[<persona>] You said: <text>".
func (Template) Respond(_ context.Context, req Request) (string, error) {
	return fmt.Sprintf("[%s] You said: %s", Persona(req.Prompt), strings.TrimSpace(req.Text)), nil
}

// maxPersona bounds the persona quoted in template replies, in runes.
const maxPersona = 80

// Persona is the prompt's first sentence (or line), with whitespace
// collapsed, cut to 80 runes.
func Persona(prompt string) string {
	p := strings.Join(strings.FieldsFunc(prompt, unicode.IsSpace), " ")
	if i := strings.IndexAny(p, ".!?"); i >= 0 {
		p = p[:i+1]
	}
	if utf8.RuneCountInString(p) > maxPersona {
		r := []rune(p)
		p = strings.TrimSpace(string(r[:maxPersona-1])) + "…"
	}
	if p == "" {
		return "no persona"
	}
	return p
}
