package environment

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// CheckDocker fails with one clear sentence when no Docker Engine answers:
// the chaos suites need real containers and never skip without them.
func CheckDocker(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("docker is not reachable (the chaos suites need a running Docker Engine): %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("docker is not reachable (the chaos suites need a running Docker Engine): %w", err)
	}
	return nil
}

// configureTestcontainers sets what testcontainers reads from the process
// environment once, before its first Docker call, unless the user has.
//   - Ryuk is off: it would have to be pulled, and Close cleans up instead.
//   - With a local Docker socket the daemon shares this machine's loopback,
//     so mapped ports are reached on 127.0.0.1. Left alone, testcontainers
//     would use the default gateway whenever it runs inside a container,
//     which is wrong for a daemon in the same network namespace, and sends
//     test traffic off the machine.
func configureTestcontainers() error {
	defaults := map[string]string{"TESTCONTAINERS_RYUK_DISABLED": "true"}
	if host := os.Getenv("DOCKER_HOST"); host == "" || strings.HasPrefix(host, "unix://") {
		defaults["TESTCONTAINERS_HOST_OVERRIDE"] = "127.0.0.1"
	}
	for k, v := range defaults {
		if _, set := os.LookupEnv(k); set {
			continue
		}
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return nil
}
