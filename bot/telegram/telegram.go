// Package telegram is the Telegram Bot API webhook transport.
//
// Telegram POSTs each update to /telegram/webhook with the secret given to
// setWebhook in the X-Telegram-Bot-Api-Secret-Token header. The handler
// checks it (401 otherwise), answers the message through the chat handler
// and sends the reply with sendMessage, using github.com/go-telegram/bot
// against a configurable Bot API base URL. The library is built with
// WithSkipGetMe, so nothing calls the Bot API at start.
//
// A reply that cannot be sent is logged and counted, and the update is
// still acknowledged with 200: Telegram would otherwise redeliver it and the
// message would be handled (and logged) twice.
package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/httpapi"
)

// SecretHeader carries the webhook secret.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Defaults of Config, which bot/config reads too.
const (
	DefaultAPIBaseURL   = "https://api.telegram.org" // Telegram's Bot API (TELEGRAM_API_BASE_URL)
	DefaultTimeout      = 10 * time.Second           // TELEGRAM_TIMEOUT
	DefaultMaxBodyBytes = 1 << 20
)

// Config configures the webhook.
type Config struct {
	Token string
	// Secret is the webhook secret token (1-256 of A-Z a-z 0-9 _ -).
	Secret string
	// APIBaseURL is the Bot API server; DefaultAPIBaseURL when empty.
	APIBaseURL string
	// Timeout bounds each sendMessage; default DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes bounds an update; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	HTTPClient   *http.Client
}

var secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Validate checks the configuration; errors name the variable.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Token) == "" {
		errs = append(errs, errors.New("TELEGRAM_BOT_TOKEN is empty"))
	}
	if !secretPattern.MatchString(c.Secret) {
		errs = append(errs, errors.New("TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule); it is required with TELEGRAM_BOT_TOKEN"))
	}
	if c.APIBaseURL != "" && !strings.HasPrefix(c.APIBaseURL, "http://") && !strings.HasPrefix(c.APIBaseURL, "https://") {
		errs = append(errs, fmt.Errorf("TELEGRAM_API_BASE_URL %q must start with http:// or https://", c.APIBaseURL))
	}
	return errors.Join(errs...)
}

// Chat handles messages (chat.Handler).
type Chat interface {
	Handle(ctx context.Context, msg chat.Message) (chat.Reply, error)
}

// Webhook is the http.Handler for /telegram/webhook.
type Webhook struct {
	cfg     Config
	api     *tgbot.Bot
	chat    Chat
	log     *slog.Logger
	outcome func(string)
}

// Update outcomes, as counted.
const (
	OutcomeReplied      = "replied"
	OutcomeIgnored      = "ignored"
	OutcomeSendFailed   = "send_failed"
	OutcomeUnauthorized = "unauthorized"
	OutcomeBadRequest   = "bad_request"
	OutcomeFailed       = "failed"
)

// New builds the webhook. It makes no request to the Bot API. outcome, if
// set, is told the outcome of every update (metrics).
func New(cfg Config, c Chat, log *slog.Logger, outcome func(string)) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	cfg.APIBaseURL = strings.TrimRight(cfg.APIBaseURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if outcome == nil {
		outcome = func(string) {}
	}
	w := &Webhook{cfg: cfg, chat: c, log: log, outcome: outcome}
	api, err := tgbot.New(cfg.Token,
		tgbot.WithSkipGetMe(),
		tgbot.WithServerURL(cfg.APIBaseURL),
		tgbot.WithHTTPClient(cfg.Timeout, cfg.HTTPClient),
		tgbot.WithErrorsHandler(func(err error) {
			log.Warn("[Telegram] client error", "error", w.redact(err.Error()))
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %s", w.redact(err.Error()))
	}
	w.api = api
	return w, nil
}

// redact removes the bot token, which the Bot API puts in every URL path.
func (w *Webhook) redact(s string) string {
	return strings.ReplaceAll(s, w.cfg.Token, "<token>")
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	got := r.Header.Get(SecretHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(w.cfg.Secret)) != 1 {
		w.outcome(OutcomeUnauthorized)
		w.log.Warn("[Telegram] webhook call with a missing or wrong secret token", "remote", r.RemoteAddr, "header_present", got != "")
		httpapi.WriteError(rw, http.StatusUnauthorized, "missing or wrong "+SecretHeader, "")
		return
	}
	var upd models.Update
	if status, msg := decodeUpdate(rw, r, w.cfg.MaxBodyBytes, &upd); status != 0 {
		w.outcome(OutcomeBadRequest)
		httpapi.WriteError(rw, status, msg, "")
		return
	}
	m := upd.Message
	if m == nil || strings.TrimSpace(m.Text) == "" {
		// Edits, stickers, joins...: acknowledged so Telegram does not resend, and counted.
		w.outcome(OutcomeIgnored)
		w.log.Debug("[Telegram] update without message text ignored", "update_id", upd.ID)
		httpapi.WriteJSON(rw, http.StatusOK, map[string]any{"ok": true, "ignored": "no message text"})
		return
	}
	chatID := "tg:" + strconv.FormatInt(m.Chat.ID, 10)
	reply, err := w.chat.Handle(r.Context(), chat.Message{ChatID: chatID, Text: m.Text})
	var in *chat.InputError
	switch {
	case errors.As(err, &in):
		// Telegram's own limits make this rare; tell the user rather than drop it.
		reply = chat.Reply{Text: "Sorry, I can't handle that message: " + in.Msg + "."}
	case err != nil:
		w.outcome(OutcomeFailed)
		w.log.Error("[Telegram] message failed", "chat", chatID, "update_id", upd.ID, "error", err.Error())
		httpapi.WriteError(rw, http.StatusServiceUnavailable, "message not handled", "")
		return
	}
	// Send even if Telegram hung up on the webhook call: the user still waits.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), w.cfg.Timeout)
	defer cancel()
	if _, err := w.api.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: m.Chat.ID, Text: reply.Text}); err != nil {
		w.outcome(OutcomeSendFailed)
		w.log.Error("[Telegram] sendMessage failed, reply lost", "chat", chatID, "update_id", upd.ID, "error", w.redact(err.Error()))
		httpapi.WriteJSON(rw, http.StatusOK, map[string]any{"ok": true, "sent": false})
		return
	}
	w.outcome(OutcomeReplied)
	httpapi.WriteJSON(rw, http.StatusOK, map[string]any{
		"ok": true, "sent": true, "prompt_source": reply.PromptSource, "degraded": reply.Degraded, "attempts": reply.Attempts,
	})
}

// decodeUpdate reads one update. Unknown fields are fine: the Bot API adds
// them over time.
func decodeUpdate(rw http.ResponseWriter, r *http.Request, limit int64, upd *models.Update) (int, string) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit)
	case err != nil:
		return http.StatusBadRequest, "cannot read body"
	case len(strings.TrimSpace(string(body))) == 0:
		return http.StatusBadRequest, "empty body; expected a Telegram Update"
	}
	if err := json.Unmarshal(body, upd); err != nil {
		return http.StatusBadRequest, "malformed Telegram Update: " + err.Error()
	}
	return 0, ""
}
