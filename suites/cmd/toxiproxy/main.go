// Command toxiproxy is the Toxiproxy server of p1001's image
// (hack/images/toxiproxy): the stock server of the Toxiproxy module pinned
// in go.mod, run as its cmd/server runs it (same flags, same JSON logs,
// LOG_LEVEL), with p1001's own toxics registered through Toxiproxy's
// extension point, toxics.Register: pgerror (suites/toxics/pgerror).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/p1001/p1001/suites/toxics/pgerror"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "toxiproxy: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("toxiproxy", flag.ContinueOnError)
	host := fs.String("host", "localhost", "Host for toxiproxy's API to listen on")
	port := fs.String("port", "8474", "Port for toxiproxy's API to listen on")
	config := fs.String("config", "", "JSON file containing proxies to create on startup")
	// Accepted as the stock server accepts it; there it has no effect
	// either (toxicity draws from math/rand's self-seeded source).
	fs.Int64("seed", time.Now().UTC().UnixNano(), "Seed for randomizing toxics with (no effect, as in the stock server)")
	runtimeMetrics := fs.Bool("runtime-metrics", false, "enable runtime-related prometheus metrics")
	proxyMetrics := fs.Bool("proxy-metrics", false, "enable toxiproxy-specific prometheus metrics")
	printVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printVersion {
		fmt.Printf("toxiproxy-server version %s (p1001, toxics: %s)\n", toxiproxy.Version, pgerror.Type)
		return nil
	}

	toxics.Register(pgerror.Type, new(pgerror.Toxic))

	logger := newLogger()
	logger.Info().Str("version", toxiproxy.Version).Str("extra_toxics", pgerror.Type).Msg("Starting Toxiproxy")
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	if *proxyMetrics {
		server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	}
	if *runtimeMetrics {
		server.Metrics.RuntimeMetrics = collectors.NewRuntimeMetricCollectors()
	}
	if *config != "" {
		server.PopulateConfig(*config)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- server.Listen(net.JoinHostPort(*host, *port)) }()
	select {
	case err := <-served:
		// The API could not listen (port taken): the stock server logs
		// this and idles; failing lets the container's start fail instead.
		if err == nil {
			err = errors.New("API server stopped")
		}
		return fmt.Errorf("API server: %w", err)
	case <-ctx.Done():
	}
	logger.Info().Msg("Shutdown started")
	if err := server.Shutdown(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newLogger is the stock server's logger: JSON lines on stdout with UTC
// timestamps and short callers, at LOG_LEVEL when set.
func newLogger() zerolog.Logger {
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	zerolog.CallerMarshalFunc = func(_ uintptr, file string, line int) string {
		return filepath.Base(file) + ":" + strconv.Itoa(line)
	}
	logger := zerolog.New(os.Stdout).With().Caller().Timestamp().Logger()
	val, ok := os.LookupEnv("LOG_LEVEL")
	if !ok {
		return logger
	}
	lvl, err := zerolog.ParseLevel(val)
	if err != nil {
		logger.Err(err).Msgf("unknown LOG_LEVEL value: %q", val)
		return logger
	}
	return logger.Level(lvl)
}
