// Package chat is the bot's message handler: it resolves the chat's prompt
// (custom, then cached, then default), runs the commands, asks the responder
// and logs the conversation through the outbox.
//
// Every reply says which prompt it used (PromptSource), whether the database
// failed it (Degraded, with the Prisma code) and how many attempts the
// database call took. When the prompt lookup fails after retries, the handler
// logs the runbook's lines:
//
//	[getCustomPrompt] Database connection error after retries, using fallback prompt
//	[MessageHandler] Database connection error, replying in degraded mode
//
// A reply waits for the prompt lookup at most Options.ReplyDeadline. Past
// it, the reply uses the fallback chain at once, degraded with P1008 and
// the attempts made so far, and the handler logs
//
//	[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues
//
// while the lookup runs on to its own end (attempts, budget, log lines) to
// refresh the cache and drive the breaker. One lookup per chat runs at a
// time (later messages of the chat join it), at most Options.MaxLookups
// in all. Writes (/setprompt, /reset) have no deadline: their answer is
// the truth.
package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/resilience"
)

// PromptSource says which prompt a reply used.
type PromptSource string

const (
	SourceCustom  PromptSource = "custom"  // read from the database just now
	SourceCached  PromptSource = "cached"  // last-known-good custom prompt, within PROMPT_MAX_STALENESS
	SourceDefault PromptSource = "default" // DEFAULT_PROMPT
)

// Store is the database side the handler needs. Each call goes through
// the retry layer and returns its resilience.Result (the attempts it
// took), as resilience.Executor.Do does; a failed call returns a
// *resilience.Error, whose verdict the handler reads.
type Store interface {
	GetPrompt(ctx context.Context, chatID string) (StoredPrompt, resilience.Result, error)
	SetPrompt(ctx context.Context, chatID, prompt string) (resilience.Result, error)
	ResetPrompt(ctx context.Context, chatID string) (resilience.Result, error)
}

// StoredPrompt is a chat's custom prompt as the database has it.
type StoredPrompt struct {
	Text  string
	Found bool // false: the chat has no custom prompt
}

// LogSink takes message-log records (the outbox).
type LogSink interface {
	Enqueue(recs ...msglog.Record) bool
}

// Observer is told about every reply (metrics).
type Observer interface {
	ObserveReply(r Reply, elapsed time.Duration)
}

// Message is one inbound chat message.
type Message struct {
	ChatID string
	Text   string
}

// Reply is the handler's answer.
type Reply struct {
	Text         string
	PromptSource PromptSource
	// Degraded is true when the database call behind this reply failed.
	// For /setprompt and /reset, !Degraded means the write was committed.
	Degraded bool
	// Attempts is how many attempts the reply's database call took.
	Attempts int
	// Code is the Prisma code (P1001, ...) when Degraded; "DB_ERROR" for a
	// database error that is not about availability.
	Code string
	// Meta is the database server the failed call was going to, as
	// Prisma's meta names it; nil when not Degraded or not known.
	Meta *resilience.Meta
	// Command is the command answered ("/help", ...), "" for a message.
	Command string
	// PromptAge is how long ago the cached prompt was read or saved, when
	// PromptSource is SourceCached (0 otherwise): never above MaxStaleness.
	PromptAge time.Duration
}

// Options configures a Handler. Zero values take the defaults.
type Options struct {
	DefaultPrompt   string        // default "You are a helpful assistant."
	MaxStaleness    time.Duration // cached prompt age limit; 0 disables the cache
	CacheSize       int           // chats kept in the cache; default DefaultCacheSize
	MaxMessageRunes int           // default DefaultMaxMessageRunes
	MaxPromptRunes  int           // default DefaultMaxPromptRunes
	// ReplyDeadline is how long a reply waits for the prompt lookup before
	// it answers from the fallback chain; 0 waits for the lookup's end.
	ReplyDeadline time.Duration
	// MaxLookups caps the prompt lookups running at once (all chats);
	// default DefaultMaxLookups.
	MaxLookups int
	Logger     *slog.Logger
	Observer   Observer
	// Now and NewKey exist for tests.
	Now    func() time.Time
	NewKey func() string
}

// Defaults of Options, which bot/config reads too.
const (
	DefaultPrompt          = "You are a helpful assistant." // DEFAULT_PROMPT
	DefaultCacheSize       = 10000                          // PROMPT_CACHE_SIZE
	DefaultMaxMessageRunes = 4096                           // MAX_MESSAGE_CHARS; Telegram's limit
	DefaultMaxPromptRunes  = 2000                           // MAX_PROMPT_CHARS
	DefaultReplyDeadline   = time.Second                    // REPLY_DEADLINE
	DefaultMaxLookups      = 64                             // MAX_PROMPT_LOOKUPS
)

// Handler handles messages. It is safe for concurrent use.
type Handler struct {
	store     Store
	responder responder.Responder
	sink      LogSink
	opts      Options
	log       *slog.Logger
	cache     *promptCache
	flights   *flights
}

// New returns a Handler.
func New(store Store, resp responder.Responder, sink LogSink, opts Options) (*Handler, error) {
	if store == nil || resp == nil || sink == nil {
		return nil, errors.New("chat: store, responder and log sink are required")
	}
	if strings.TrimSpace(opts.DefaultPrompt) == "" {
		opts.DefaultPrompt = DefaultPrompt
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MaxMessageRunes <= 0 {
		opts.MaxMessageRunes = DefaultMaxMessageRunes
	}
	if opts.MaxPromptRunes <= 0 {
		opts.MaxPromptRunes = DefaultMaxPromptRunes
	}
	if opts.MaxLookups <= 0 {
		opts.MaxLookups = DefaultMaxLookups
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewKey == nil {
		opts.NewKey = rand.Text
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		store: store, responder: resp, sink: sink, opts: opts, log: log,
		cache:   newPromptCache(opts.CacheSize, opts.MaxStaleness, opts.Now),
		flights: newFlights(opts.MaxLookups),
	}, nil
}

// LookupsInFlight is the number of prompt lookups running now (a metric).
func (h *Handler) LookupsInFlight() int { return h.flights.inFlight() }

// Wait returns once every prompt lookup started so far has ended; each is
// bounded by the retry policy's budget.
func (h *Handler) Wait() { h.flights.wg.Wait() }

// InputError is bad input from the user or transport; transports answer 400.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// MaxChatIDLen bounds chat IDs, in bytes.
const MaxChatIDLen = 128

// Validate checks a message before any work is done.
func (h *Handler) Validate(msg Message) error {
	switch {
	case msg.ChatID == "":
		return &InputError{"chat id", "must not be empty"}
	case len(msg.ChatID) > MaxChatIDLen:
		return &InputError{"chat id", fmt.Sprintf("must be at most %d bytes", MaxChatIDLen)}
	case !utf8.ValidString(msg.ChatID) || strings.IndexFunc(msg.ChatID, unicode.IsControl) >= 0:
		return &InputError{"chat id", "must be printable UTF-8"}
	case !utf8.ValidString(msg.Text):
		return &InputError{"text", "must be valid UTF-8"}
	case strings.ContainsRune(msg.Text, 0):
		return &InputError{"text", "must not contain NUL characters"}
	case strings.TrimSpace(msg.Text) == "":
		return &InputError{"text", "must not be empty"}
	case utf8.RuneCountInString(msg.Text) > h.opts.MaxMessageRunes:
		return &InputError{"text", fmt.Sprintf("must be at most %d characters", h.opts.MaxMessageRunes)}
	}
	return nil
}

// Handle answers one message. It returns an error only for invalid input
// (*InputError) or when ctx ends; database failures give a degraded reply.
func (h *Handler) Handle(ctx context.Context, msg Message) (Reply, error) {
	if err := h.Validate(msg); err != nil {
		return Reply{}, err
	}
	start := h.opts.Now()
	cmd, arg := parseCommand(msg.Text)
	var (
		reply Reply
		err   error
	)
	switch {
	case cmd == "/setprompt" && arg != "":
		reply, err = h.setPrompt(ctx, msg.ChatID, arg)
	case cmd == "/reset":
		reply, err = h.resetPrompt(ctx, msg.ChatID)
	default:
		reply, err = h.withPrompt(ctx, msg, cmd, arg)
	}
	if err != nil {
		return Reply{}, err
	}
	reply.Command = cmd
	if reply.Degraded {
		line := "[MessageHandler] Database connection error, replying in degraded mode"
		if reply.Code == codeDBError {
			line = "[MessageHandler] Database error, replying in degraded mode"
		}
		h.log.Warn(line, "chat", msg.ChatID, "code", reply.Code, "source", string(reply.PromptSource), "attempts", reply.Attempts)
	}
	h.record(msg, reply, start)
	if h.opts.Observer != nil {
		h.opts.Observer.ObserveReply(reply, h.opts.Now().Sub(start))
	}
	return reply, nil
}

// resolved is the prompt in effect for a chat, as far as this request knows.
type resolved struct {
	prompt   string
	source   PromptSource
	attempts int
	code     string // "" when the lookup succeeded
	meta     *resilience.Meta
	age      time.Duration
}

// resolvePrompt reads the custom prompt through the retry layer and falls
// back to the cache, then to the default. It joins the chat's running
// lookup, if any, and waits for it at most Options.ReplyDeadline.
func (h *Handler) resolvePrompt(ctx context.Context, chatID string) (resolved, error) {
	var expired <-chan time.Time
	if d := h.opts.ReplyDeadline; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	f, err := h.flights.join(ctx, chatID, expired, func(f *flight) { h.lookup(ctx, chatID, f) })
	switch {
	case errors.Is(err, errNoSlot):
		return h.pastDeadline(chatID, 0, "every one of the "+strconv.Itoa(h.opts.MaxLookups)+" lookup slots is busy"), nil
	case err != nil:
		return resolved{}, fmt.Errorf("chat: prompt lookup: %w", err)
	}
	select {
	case <-f.done:
	case <-expired:
		select {
		case <-f.done: // both at once: the lookup's answer is the better one
		default:
			return h.pastDeadline(chatID, f.progress.Attempts(), "lookup still running"), nil
		}
	case <-ctx.Done():
		return resolved{}, fmt.Errorf("chat: prompt lookup: %w", ctx.Err())
	}
	if f.err == nil {
		if f.stored.Found {
			return resolved{prompt: f.stored.Text, source: SourceCustom, attempts: f.res.Attempts}, nil
		}
		return resolved{prompt: h.opts.DefaultPrompt, source: SourceDefault, attempts: f.res.Attempts}, nil
	}
	r := h.fallback(chatID)
	r.attempts = f.res.Attempts
	v := verdict(f.err)
	r.code, r.meta = v.code, v.meta
	return r, nil
}

// lookup runs one prompt lookup to its end, detached from the request
// that started it (the replies may stop waiting; the lookup does not), and
// logs its failure once for every reply that shares it.
func (h *Handler) lookup(ctx context.Context, chatID string, f *flight) {
	ctx = resilience.WithProgress(context.WithoutCancel(ctx), &f.progress)
	f.stored, f.res, f.err = h.store.GetPrompt(ctx, chatID)
	if f.err == nil {
		h.flights.settle(f, func() { h.cache.put(chatID, f.stored.Text, f.stored.Found) })
		return
	}
	v := verdict(f.err)
	line := "[getCustomPrompt] Database connection error after retries, using fallback prompt"
	if v.code == codeDBError {
		line = "[getCustomPrompt] Database error, using fallback prompt"
	}
	h.log.Error(line, "chat", chatID, "code", v.code, "source", string(h.fallback(chatID).source), "attempts", f.res.Attempts,
		"reason", v.reason, "error", f.err.Error())
}

// pastDeadline is the reply that stopped waiting for the lookup: the
// fallback chain, P1008 ("timed out"), and the attempts started so far,
// a lower bound of the lookup's own.
func (h *Handler) pastDeadline(chatID string, attempts int, why string) resolved {
	r := h.fallback(chatID)
	r.attempts = attempts
	r.code = string(resilience.CodeOpTimeout)
	h.log.Warn("[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues",
		"chat", chatID, "code", r.code, "source", string(r.source), "attempts", attempts,
		"deadline", h.opts.ReplyDeadline.String(), "reason", why)
	return r
}

// fallback is the cached custom prompt if fresh, else the default.
func (h *Handler) fallback(chatID string) resolved {
	if prompt, custom, age, ok := h.cache.get(chatID); ok && custom {
		return resolved{prompt: prompt, source: SourceCached, age: age}
	}
	return resolved{prompt: h.opts.DefaultPrompt, source: SourceDefault}
}

// withPrompt answers everything that reads the prompt: messages, /prompt,
// /help, usage errors and unknown commands. Resolving the prompt for all of
// them keeps prompt_source, degraded and attempts meaningful on every reply.
func (h *Handler) withPrompt(ctx context.Context, msg Message, cmd, arg string) (Reply, error) {
	r, err := h.resolvePrompt(ctx, msg.ChatID)
	if err != nil {
		return Reply{}, err
	}
	reply := Reply{PromptSource: r.source, Attempts: r.attempts, Degraded: r.code != "", Code: r.code, Meta: r.meta, PromptAge: r.age}
	switch cmd {
	case "":
		text, err := h.responder.Respond(ctx, responder.Request{ChatID: msg.ChatID, Prompt: r.prompt, Text: msg.Text})
		if err != nil {
			return Reply{}, fmt.Errorf("chat: responder: %w", err)
		}
		reply.Text = text
	case "/prompt":
		reply.Text = h.describePrompt(r)
	case "/help", "/start":
		reply.Text = helpText
	case "/setprompt":
		reply.Text = "Usage: /setprompt <text>: the prompt (persona) I should use in this chat."
	default:
		reply.Text = fmt.Sprintf("Unknown command %s. Try /help.", cmd)
	}
	return reply, nil
}

const helpText = `Commands:
/setprompt <text> - set this chat's prompt (persona)
/prompt - show the prompt in effect
/reset - go back to the default prompt
/help - this help
Anything else is answered using the chat's prompt.`

func (h *Handler) describePrompt(r resolved) string {
	switch {
	case r.source == SourceCustom:
		return "Custom prompt: " + r.prompt
	case r.source == SourceCached:
		return fmt.Sprintf("I can't reach the database right now (%s). Last known custom prompt (from %s ago): %s",
			r.code, r.age.Round(time.Second), r.prompt)
	case r.code != "":
		return fmt.Sprintf("I can't reach the database right now (%s), so I'm using the default prompt: %s", r.code, r.prompt)
	default:
		return "No custom prompt set; using the default: " + r.prompt
	}
}

func (h *Handler) setPrompt(ctx context.Context, chatID, prompt string) (Reply, error) {
	if n := utf8.RuneCountInString(prompt); n > h.opts.MaxPromptRunes {
		r, err := h.resolvePrompt(ctx, chatID)
		if err != nil {
			return Reply{}, err
		}
		return Reply{
			Text:         fmt.Sprintf("That prompt is %d characters; the limit is %d. Nothing was saved.", n, h.opts.MaxPromptRunes),
			PromptSource: r.source, Attempts: r.attempts, Degraded: r.code != "", Code: r.code, Meta: r.meta, PromptAge: r.age,
		}, nil
	}
	res, err := h.store.SetPrompt(ctx, chatID, prompt)
	if err == nil {
		h.flights.detach(chatID, func() { h.cache.put(chatID, prompt, true) })
		return Reply{Text: "Saved. I'll answer as: " + responder.Persona(prompt), PromptSource: SourceCustom, Attempts: res.Attempts}, nil
	}
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("chat: set prompt: %w", ctx.Err())
	}
	return h.writeFailed(chatID, "setCustomPrompt", "prompt not saved", res.Attempts, err,
		"Your prompt was NOT saved", "I could not confirm that your prompt was saved"), nil
}

func (h *Handler) resetPrompt(ctx context.Context, chatID string) (Reply, error) {
	res, err := h.store.ResetPrompt(ctx, chatID)
	if err == nil {
		h.flights.detach(chatID, func() { h.cache.put(chatID, "", false) })
		return Reply{Text: "Reset. I'll answer with the default prompt: " + responder.Persona(h.opts.DefaultPrompt),
			PromptSource: SourceDefault, Attempts: res.Attempts}, nil
	}
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("chat: reset prompt: %w", ctx.Err())
	}
	return h.writeFailed(chatID, "resetCustomPrompt", "prompt not reset", res.Attempts, err,
		"Your prompt was NOT reset", "I could not confirm that your prompt was reset"), nil
}

// writeFailed tells the user plainly that a write did not happen, or that it
// may not have: a write that failed after it was sent is not known either way.
func (h *Handler) writeFailed(chatID, op, outcome string, attempts int, err error, notDone, unsure string) Reply {
	v := verdict(err)
	code := v.code
	h.log.Error("["+op+"] Database error after retries, "+outcome,
		"chat", chatID, "code", code, "attempts", attempts, "reason", v.reason, "error", err.Error())
	lead := unsure
	if v.notSent {
		lead = notDone
	}
	r := h.fallback(chatID)
	return Reply{
		Text: fmt.Sprintf("%s: the database is unavailable right now (%s). Please try again later. Until then I'm using the %s prompt.",
			lead, code, r.source),
		PromptSource: r.source, Attempts: attempts, Degraded: true, Code: code, Meta: v.meta, PromptAge: r.age,
	}
}

// record logs the exchange through the outbox; a full outbox counts it.
func (h *Handler) record(msg Message, reply Reply, at time.Time) {
	h.sink.Enqueue(
		msglog.Record{Key: h.opts.NewKey(), ChatID: msg.ChatID, Direction: msglog.Inbound, Text: msg.Text,
			Command: reply.Command, At: at},
		msglog.Record{Key: h.opts.NewKey(), ChatID: msg.ChatID, Direction: msglog.Outbound, Text: reply.Text,
			PromptSource: string(reply.PromptSource), Degraded: reply.Degraded, Command: reply.Command, At: h.opts.Now()},
	)
}

// parseCommand splits "/cmd@BotName args" into "/cmd" and "args". Text not
// starting with "/" is a plain message.
func parseCommand(text string) (cmd, arg string) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	cmd, arg, _ = strings.Cut(text, " ")
	if i := strings.IndexAny(cmd, "\n\t"); i >= 0 { // "/setprompt\nmulti-line prompt"
		cmd, arg = cmd[:i], cmd[i+1:]+" "+arg
	}
	cmd, _, _ = strings.Cut(cmd, "@") // Telegram groups: /help@MyBot
	return strings.ToLower(cmd), strings.TrimSpace(arg)
}

// codeDBError marks a database failure that is not about availability.
const codeDBError = "DB_ERROR"

// failure is the retry layer's verdict on a failed database call.
type failure struct {
	// code is the Prisma code, or "DB_ERROR" when the failure is not about
	// availability (a bug, a missing table).
	code string
	// reason is the short cause (refused, reset, ...), logged beside
	// Prisma's message rather than glued onto it; "" when unknown.
	reason string
	// notSent: the statement provably never reached the server (the
	// breaker failed the call fast, the schema was not in place yet, or
	// the connect failed).
	notSent bool
	// meta is the server the call was going to, for the reply.
	meta *resilience.Meta
}

// verdict reads the failure from err's *resilience.Error.
func verdict(err error) failure {
	var re *resilience.Error
	if !errors.As(err, &re) {
		return failure{code: codeDBError}
	}
	f := failure{code: string(re.Code), reason: re.Reason, notSent: re.NotSent, meta: re.Target.Meta()}
	if f.code == "" {
		f.code = codeDBError
	}
	return f
}
