package environment

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

// envPublishIP overrides the host address the stack's ports are published
// on (see publishAddr).
const envPublishIP = "P1001_PUBLISH_IP"

// publishAddr is the host address every published port is bound to:
// P1001_PUBLISH_IP when set; else loopback whenever the harness reaches
// the mapped ports on loopback (a local daemon: testcontainers' host is
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 or localhost), so that nobody
// else on the network reaches Postgres, the Toxiproxy API (which has no
// authentication) or the bot; else, with a remote daemon reached on
// another address, the zero Addr: every interface of the daemon's host,
// Docker's default, since that is the only binding the harness can reach
// without knowing the daemon host's own addresses.
func publishAddr(ctx context.Context) (netip.Addr, error) {
	if v := os.Getenv(envPublishIP); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%s=%q: want an IP address such as 127.0.0.1: %w", envPublishIP, v, err)
		}
		return a, nil
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("docker provider: %w", err)
	}
	defer p.Close()
	host, err := p.DaemonHost(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("docker host: %w", err)
	}
	return loopbackOf(host), nil
}

// loopbackOf is the loopback address host names, or the zero Addr.
func loopbackOf(host string) netip.Addr {
	if host == "localhost" {
		return netip.MustParseAddr("127.0.0.1")
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return a
	}
	return netip.Addr{}
}

// PublishAddr is the host address the stack's ports are bound to; the zero
// Addr means every interface (a remote daemon, see publishAddr).
func (e *Env) PublishAddr() netip.Addr { return e.publishIP }

// publish exposes ports (as "5432/tcp"), each published on a random host
// port bound to e.publishIP only. testcontainers keeps bindings a host
// config modifier sets for an exposed port and fills in the random port.
func (e *Env) publish(ports ...string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		bindings := network.PortMap{}
		for _, p := range ports {
			port, err := network.ParsePort(p)
			if err != nil {
				return fmt.Errorf("publish %q: %w", p, err)
			}
			bindings[port] = []network.PortBinding{{HostIP: e.publishIP}}
		}
		if err := testcontainers.WithExposedPorts(ports...)(req); err != nil {
			return err
		}
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			for port, b := range bindings {
				hc.PortBindings[port] = b
			}
		})(req)
	}
}
