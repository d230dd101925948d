package responder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// The retry rules are openai-go's, which the bot used before go-openai (which
// has none): a connection error, 408, 409, 429 or 5xx is retried (unless the
// server says x-should-retry: false), after the server's Retry-After-Ms or
// Retry-After, or else 0.5 s doubling per retry up to 8 s, less up to a
// quarter of jitter. A server that asks for more than maxRetryAfter gets no
// retry: its answer stands. All of it within the caller's context (the
// reply's OPENAI_TIMEOUT).
const (
	firstBackoff  = 500 * time.Millisecond
	maxBackoff    = 8 * time.Second
	maxRetryAfter = 2 * time.Minute
)

// retrier is the HTTP client go-openai sends through: up to maxRetries more
// attempts of a request that failed in a way a retry may mend.
type retrier struct {
	client     *http.Client
	maxRetries int
}

func (r *retrier) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		res, err := r.client.Do(req)
		if ctx.Err() != nil {
			if res != nil {
				res.Body.Close()
			}
			return nil, ctx.Err()
		}
		if attempt >= r.maxRetries || !retryable(res, err) {
			return res, err
		}
		delay, ok := retryDelay(res, attempt)
		// The body was sent (and closed) by the attempt: a retry needs a
		// fresh copy, which go-openai's in-memory bodies provide.
		if !ok || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return res, err
		}
		next := req.Clone(ctx)
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return res, err
			}
			next.Body = body
		}
		if res != nil {
			// Drained so the connection can be reused.
			io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("waiting %v to retry: %w", delay, err)
		}
		req = next
	}
}

// retryable: no response (a connection error), or a status a retry may mend.
func retryable(res *http.Response, err error) bool {
	if err != nil || res == nil {
		return true
	}
	switch res.Header.Get("x-should-retry") {
	case "true":
		return true
	case "false":
		return false
	}
	return res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusConflict ||
		res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= http.StatusInternalServerError
}

// retryDelay is the wait before retry number attempt+1, and false when the
// server asks for longer than maxRetryAfter.
func retryDelay(res *http.Response, attempt int) (time.Duration, bool) {
	if d, ok, tooLong := retryAfter(res); ok {
		return d, !tooLong
	}
	d := maxBackoff
	if b := float64(firstBackoff) * math.Pow(2, float64(attempt)); b < float64(maxBackoff) {
		d = time.Duration(b)
	}
	return d - time.Duration(rand.Int64N(int64(d/4))), true
}

// retryAfter reads Retry-After-Ms (milliseconds), else Retry-After (seconds
// or an HTTP date). ok is false when neither is usable.
func retryAfter(res *http.Response) (d time.Duration, ok, tooLong bool) {
	if res == nil {
		return 0, false, false
	}
	for _, h := range []struct {
		name string
		unit time.Duration
	}{{"Retry-After-Ms", time.Millisecond}, {"Retry-After", time.Second}} {
		v := res.Header.Get(h.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && math.IsInf(n, 1):
			return 0, true, true // a number past float64 is a wait too long
		case err == nil:
			if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
				continue
			}
			if n*float64(h.unit) > float64(maxRetryAfter) {
				return 0, true, true
			}
			return time.Duration(n * float64(h.unit)), true, false
		case h.unit == time.Second:
			if t, err := http.ParseTime(v); err == nil {
				d := max(time.Until(t), 0)
				return d, true, d > maxRetryAfter
			}
		}
	}
	return 0, false, false
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
