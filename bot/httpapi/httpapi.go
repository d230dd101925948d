// Package httpapi is the bot's HTTP transport and ops endpoints:
//
//	POST /v1/chats/{id}/messages  {"text": "..."} -> MessageResponse
//	GET  /healthz                 the process is alive
//	GET  /readyz                  ready, with the database state (200 even when it is down)
//	GET  /metrics                 Prometheus
//	POST /telegram/webhook        when Telegram is configured
//
// Bad input gets a 4xx with a JSON ErrorResponse naming the problem. With
// Options.APIToken set, every /v1/ request needs "Authorization: Bearer
// <token>" (auth.go); the ops endpoints stay open and the webhook checks
// its own secret.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/resilience"
)

// MessageRequest is the body of POST /v1/chats/{id}/messages.
type MessageRequest struct {
	Text string `json:"text"`
}

// MessageResponse is its answer.
type MessageResponse struct {
	Reply        string `json:"reply"`
	PromptSource string `json:"prompt_source"` // custom | cached | default
	Degraded     bool   `json:"degraded"`
	// Attempts is how many attempts the reply's database call took (the
	// prompt lookup, or the write for /setprompt and /reset).
	Attempts int `json:"attempts"`
	// Code is the Prisma code (P1001, ...) when degraded.
	Code string `json:"code,omitempty"`
	// Meta names the database server the failed call was going to, as
	// Prisma's meta does (database_host, database_port); degraded only.
	Meta *resilience.Meta `json:"meta,omitempty"`
	// Command is set for command replies ("/setprompt", ...).
	Command string `json:"command,omitempty"`
	// PromptAgeMS is the cached prompt's age in whole milliseconds
	// (truncated), only when prompt_source is "cached" (0 is a real age).
	PromptAgeMS *int64 `json:"prompt_age_ms,omitempty"`
}

// ErrorResponse is the body of every 4xx/5xx.
type ErrorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Chat handles messages (chat.Handler).
type Chat interface {
	Handle(ctx context.Context, msg chat.Message) (chat.Reply, error)
}

// Options configures the server's handler.
type Options struct {
	// MaxBodyBytes bounds request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Ready reports /readyz's body; nil reports ready with an unknown database.
	Ready func() health.Snapshot
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// Telegram serves /telegram/webhook; nil leaves it out.
	Telegram http.Handler
	// Instrument wraps each route (metrics); nil leaves them bare.
	Instrument func(route string, h http.Handler) http.Handler
	// APIToken, when set, is required on every /v1/ request.
	APIToken string
	// Unauthorized is told the reason of each request refused for its
	// token (metrics); nil ignores them.
	Unauthorized func(reason string)
	Logger       *slog.Logger
}

// DefaultMaxBodyBytes is Options.MaxBodyBytes when unset (MAX_BODY_BYTES).
const DefaultMaxBodyBytes = 64 << 10

// New returns the bot's HTTP handler.
func New(c Chat, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Instrument == nil {
		opts.Instrument = func(_ string, h http.Handler) http.Handler { return h }
	}
	if opts.Ready == nil {
		opts.Ready = func() health.Snapshot {
			return health.Snapshot{Status: "ready", DB: health.DB{State: health.StateUnknown}}
		}
	}
	if opts.Unauthorized == nil {
		opts.Unauthorized = func(string) {}
	}
	s := &server{chat: c, opts: opts}
	mux := http.NewServeMux()
	route := func(pattern, method string, h http.HandlerFunc) {
		mux.Handle(pattern, opts.Instrument(pattern, onlyMethod(method, h)))
	}
	// The token is checked before the method and before the body is read.
	auth := requireToken(opts.APIToken, opts.Unauthorized, opts.Logger)
	apiRoute := func(pattern, method string, h http.HandlerFunc) {
		mux.Handle(pattern, opts.Instrument(pattern, auth(onlyMethod(method, h))))
	}
	apiRoute("/v1/chats/{id}/messages", http.MethodPost, s.postMessage)
	// Unknown /v1/ paths are the API's too: a caller without the token
	// learns nothing about which exist.
	mux.Handle("/v1/", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, "")
	})))
	route("/healthz", http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	route("/readyz", http.MethodGet, s.readyz)
	if opts.Metrics != nil {
		mux.Handle("/metrics", onlyMethod(http.MethodGet, opts.Metrics.ServeHTTP))
	}
	if opts.Telegram != nil {
		route("/telegram/webhook", http.MethodPost, opts.Telegram.ServeHTTP)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, "")
	})
	return mux
}

type server struct {
	chat Chat
	opts Options
}

// onlyMethod answers other methods with a JSON 405 (the mux's own is text).
func onlyMethod(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+method, "")
			return
		}
		h(w, r)
	}
}

func (s *server) postMessage(w http.ResponseWriter, r *http.Request) {
	var req MessageRequest
	if status, msg, field := DecodeJSON(w, r, s.opts.MaxBodyBytes, &req); status != 0 {
		writeError(w, status, msg, field)
		return
	}
	reply, err := s.chat.Handle(r.Context(), chat.Message{ChatID: r.PathValue("id"), Text: req.Text})
	var in *chat.InputError
	switch {
	case errors.As(err, &in):
		field := in.Field
		if field == "chat id" {
			field = "id"
		}
		writeError(w, http.StatusBadRequest, in.Error(), field)
		return
	case err != nil && r.Context().Err() != nil:
		// The client left; nobody reads this.
		s.opts.Logger.Debug("[HTTP] client gone before the reply", "chat", r.PathValue("id"), "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "request canceled", "")
		return
	case err != nil:
		s.opts.Logger.Error("[HTTP] message failed", "chat", r.PathValue("id"), "error", err.Error())
		writeError(w, http.StatusInternalServerError, "internal error", "")
		return
	}
	resp := MessageResponse{
		Reply: reply.Text, PromptSource: string(reply.PromptSource), Degraded: reply.Degraded,
		Attempts: reply.Attempts, Code: reply.Code, Meta: reply.Meta, Command: reply.Command,
	}
	if reply.PromptSource == chat.SourceCached {
		ms := reply.PromptAge.Milliseconds()
		resp.PromptAgeMS = &ms
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	snap := s.opts.Ready()
	status := http.StatusOK
	if snap.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, snap)
}

// DecodeJSON reads exactly one JSON object into dst with unknown fields
// refused. It returns 0 on success, else the status, message and field for
// the error response. Transports share it.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) (status int, msg, field string) {
	// The body must be JSON whatever the header says: `curl -d` labels JSON
	// as a form, and refusing that would only confuse. A multipart upload is
	// clearly something else.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		return http.StatusUnsupportedMediaType, "send a JSON object, not " + mt, ""
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return 0, "", ""
		} else if err == nil {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit), ""
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "empty body; expected a JSON object", ""
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "malformed JSON: " + err.Error(), ""
	case errors.As(err, &typ):
		return http.StatusBadRequest, fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type), typ.Field
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return http.StatusBadRequest, fmt.Sprintf("unknown field %q", name), name
	default:
		return http.StatusBadRequest, "invalid JSON body: " + err.Error(), ""
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, ErrorResponse{Error: msg, Field: field})
}

// WriteJSON and WriteError are shared with the Telegram transport.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError writes an ErrorResponse.
func WriteError(w http.ResponseWriter, status int, msg, field string) {
	writeError(w, status, msg, field)
}
