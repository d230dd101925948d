package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/p1001/p1001/bot/config"
)

// serveMetrics serves /metrics alone on METRICS_ADDR, when set, so that a
// scraper can reach it on a network the message API is not published on.
// stop closes it.
func serveMetrics(cfg config.Config, metrics http.Handler, log *slog.Logger) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("[Bot] metrics listener stopped", "addr", cfg.MetricsAddr, "error", err.Error())
		}
	}()
	log.Info("[Bot] serving /metrics on its own listener", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// warnUnauthenticated says, at every start, that the operator chose to
// serve the message API without a token (API_AUTH=none).
func warnUnauthenticated(cfg config.Config, log *slog.Logger) {
	if cfg.APIAuth == config.AuthNone {
		log.Warn("[Bot] the message API has no authentication (API_AUTH=none): anyone who reaches it can talk as any chat")
	}
}
