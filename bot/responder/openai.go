package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAIConfig configures the OpenAI-compatible responder.
type OpenAIConfig struct {
	BaseURL string // e.g. https://api.openai.com/v1 or a local server's /v1
	APIKey  string // may be empty for local servers
	Model   string
	// Timeout bounds one reply, retries included.
	Timeout time.Duration
	// MaxRetries is the client's own retries on 408/409/429/5xx and
	// connection errors (retry.go).
	MaxRetries int
	// Fallback is the reply when the model cannot be reached.
	Fallback string
	// HTTPClient is optional (tests, proxies).
	HTTPClient *http.Client
}

// DefaultFallback is the polite reply when the model is unreachable.
const DefaultFallback = "Sorry, I can't reach my language model right now. Please try again in a moment."

// DefaultTimeout is OpenAIConfig.Timeout when unset (OPENAI_TIMEOUT).
const DefaultTimeout = 20 * time.Second

// OpenAI is a chat-completions client with a polite fallback.
type OpenAI struct {
	client   *openai.Client
	model    string
	timeout  time.Duration
	fallback string
	log      *slog.Logger
	// onFallback, if set, is told about each fallback (metrics).
	onFallback func(error)
}

// NewOpenAI builds the responder. It makes no request.
func NewOpenAI(cfg OpenAIConfig, log *slog.Logger, onFallback func(error)) (*OpenAI, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("responder: OpenAI base URL is empty")
	}
	if cfg.Model == "" {
		return nil, errors.New("responder: OpenAI model is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Fallback == "" {
		cfg.Fallback = DefaultFallback
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	// The key is sent as a bearer token only when set (local servers need
	// none); go-openai does the retries' requests through retrier.
	c := openai.DefaultConfig(cfg.APIKey)
	c.BaseURL = cfg.BaseURL
	c.HTTPClient = &retrier{client: hc, maxRetries: max(cfg.MaxRetries, 0)}
	return &OpenAI{
		client:     openai.NewClientWithConfig(c),
		model:      cfg.Model,
		timeout:    cfg.Timeout,
		fallback:   cfg.Fallback,
		log:        log,
		onFallback: onFallback,
	}, nil
}

// Respond asks the model; when that fails for any reason but the caller
// giving up, it logs why and returns the fallback reply.
func (o *OpenAI) Respond(ctx context.Context, req Request) (string, error) {
	text, err := o.complete(ctx, req)
	if err == nil {
		return text, nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("responder: %w", ctx.Err())
	}
	o.log.Warn("[Responder] language model unreachable, replying with the fallback",
		"chat", req.ChatID, "model", o.model, "error", err.Error())
	if o.onFallback != nil {
		o.onFallback(err)
	}
	return o.fallback, nil
}

func (o *OpenAI) complete(ctx context.Context, req Request) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, err := o.client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: o.model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: req.Prompt},
			{Role: openai.ChatMessageRoleUser, Content: req.Text},
		},
	})
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 {
		return "", errors.New("the model returned no choices")
	}
	text := strings.TrimSpace(resp.Choices[0].Message.Content)
	if text == "" {
		return "", errors.New("the model returned an empty reply")
	}
	return text, nil
}
