package botapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// API is how the harness speaks to one bot over HTTP: where to send a
// message and in what form, where the reply's text and fields are, how it
// says it is ready. A target file (package targets) is turned into one;
// every bot, p1001's own included, is spoken to through it.
type API struct {
	// Method, Path and Body send one message: Path holds {chat} (path
	// escaped), Body holds {text} (JSON-escaped, without quotes, when
	// ContentType is JSON; as is otherwise).
	Method      string
	Path        string
	Body        string
	ContentType string
	// Reply says where each part of the reply is.
	Reply ReplyPaths
	// Health is a path answering HealthStatus once the bot is ready.
	Health       string
	HealthStatus int
	// Readyz, when set, is a p1001-style readiness document (Readiness):
	// the bot is ready once it says its database is up and migrated.
	Readyz string
	// Metrics, when set, is a Prometheus text endpoint.
	Metrics string
	// Commands are the chat commands, as message texts; "" when the bot
	// has none of that kind.
	Commands Commands
}

// Commands are message texts that act on a chat's custom prompt.
type Commands struct {
	// SetPrompt holds {prompt}.
	SetPrompt string
	Prompt    string
	Reset     string
	// AckText, when set, matches the reply text of a saved prompt;
	// AckField, when set, names a reply field (only "degraded" so far)
	// whose false value says the prompt was saved. Neither: every 200 is
	// an acknowledgement.
	AckText  *regexp.Regexp
	AckField string
}

// AckFieldDegraded is the one reply field an acknowledgement can read.
const AckFieldDegraded = "degraded"

// Acked reports whether r acknowledges a /setprompt as saved.
func (c Commands) Acked(r Reply) bool {
	if c.AckField == AckFieldDegraded && r.Degraded {
		return false
	}
	return c.AckText == nil || c.AckText.MatchString(r.Text)
}

// SetPromptText is the message that sets prompt.
func (c Commands) SetPromptText(prompt string) string {
	return strings.ReplaceAll(c.SetPrompt, PlaceholderPrompt, prompt)
}

// Template placeholders.
const (
	PlaceholderChat   = "{chat}"
	PlaceholderText   = "{text}"
	PlaceholderPrompt = "{prompt}"
)

// ReplyPaths locate the reply's parts in its JSON body. Text nil means
// the whole body is the reply's text; the other fields nil are not mapped
// (the bot does not state them).
type ReplyPaths struct {
	Text         JSONPath
	PromptSource JSONPath
	Degraded     JSONPath
	Attempts     JSONPath
	Code         JSONPath
	PromptAgeMS  JSONPath
	Meta         JSONPath
	Command      JSONPath
}

// JSONPath is a dotted path of object keys, "message.text".
type JSONPath []string

var jsonKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseJSONPath reads a dotted path of object keys.
func ParseJSONPath(s string) (JSONPath, error) {
	if s == "" {
		return nil, errors.New("empty JSON path")
	}
	keys := strings.Split(s, ".")
	for _, k := range keys {
		if !jsonKey.MatchString(k) {
			return nil, fmt.Errorf("JSON path %q: want object keys of letters, digits, _ and - joined by dots, such as message.text", s)
		}
	}
	return keys, nil
}

func (p JSONPath) String() string { return strings.Join(p, ".") }

// lookup finds p in v (a decoded JSON value); ok is false when a key is
// missing or a step is not an object.
func (p JSONPath) lookup(v any) (any, bool) {
	for _, k := range p {
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, false
		}
		if v, isObj = m[k]; !isObj {
			return nil, false
		}
	}
	return v, true
}

// IsJSON reports whether the content type is JSON's.
func IsJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// MessagePath is the request path of a message to chat.
func (a API) MessagePath(chat string) string {
	return strings.ReplaceAll(a.Path, PlaceholderChat, url.PathEscape(chat))
}

// MessageBody is the request body of text.
func (a API) MessageBody(text string) []byte {
	sub := text
	if IsJSON(a.ContentType) {
		q, _ := json.Marshal(text) // a string always marshals
		sub = string(q[1 : len(q)-1])
	}
	return []byte(strings.ReplaceAll(a.Body, PlaceholderText, sub))
}

// ParseReply reads a 200 answer's body into a Reply, by the paths.
func (a API) ParseReply(data []byte) (Reply, error) {
	var r Reply
	if a.Reply.Text == nil && a.Reply.fieldless() {
		r.Text = string(data)
		return r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return r, fmt.Errorf("reply is not JSON: %.200q", data)
	}
	if a.Reply.Text == nil {
		r.Text = string(data)
	}
	var errs []error
	field := func(p JSONPath, into any) {
		if p == nil {
			return
		}
		x, ok := p.lookup(v)
		if !ok || x == nil {
			return // not stated on this reply
		}
		b, _ := json.Marshal(x) // decoded JSON always marshals
		if err := json.Unmarshal(b, into); err != nil {
			errs = append(errs, fmt.Errorf("reply field %s: %s is not %T", p, b, into))
		}
	}
	field(a.Reply.Text, &r.Text)
	field(a.Reply.PromptSource, &r.PromptSource)
	field(a.Reply.Degraded, &r.Degraded)
	field(a.Reply.Attempts, &r.Attempts)
	field(a.Reply.Code, &r.Code)
	field(a.Reply.Command, &r.Command)
	if a.Reply.PromptAgeMS != nil {
		var age *int64
		field(a.Reply.PromptAgeMS, &age)
		r.PromptAgeMS = age
	}
	if a.Reply.Meta != nil {
		var m *Meta
		field(a.Reply.Meta, &m)
		r.Meta = m
	}
	if err := errors.Join(errs...); err != nil {
		return Reply{}, fmt.Errorf("reply %.200q: %w", data, err)
	}
	return r, nil
}

// fieldless: no field but the text is mapped.
func (p ReplyPaths) fieldless() bool {
	return p.PromptSource == nil && p.Degraded == nil && p.Attempts == nil && p.Code == nil &&
		p.PromptAgeMS == nil && p.Meta == nil && p.Command == nil
}
