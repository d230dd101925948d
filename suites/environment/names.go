package environment

import (
	"context"
	"fmt"
	"slices"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/p1001/p1001/scenarios"
)

// The names network carries the names a bot reaches Toxiproxy's proxies
// by in a scenario that takes DNS away (scenarios.HostName: db-pooler,
// db-direct), as aliases of the Toxiproxy container. It is a network of its
// own so that the dns fault can take the names away by disconnecting
// Toxiproxy from it: Docker cannot drop one alias of a connected container,
// and disconnecting Toxiproxy from the stack's network would cut the other
// proxies' upstreams and the harness's published ports too. Its name sorts
// after the stack network's, so that Toxiproxy's ports stay published
// through that one (see createNetwork). It is made on first use.

// nameAliases are the names the network gives Toxiproxy.
var nameAliases = []string{scenarios.HostName(ProxyPooler), scenarios.HostName(ProxyDirect)}

// isName reports whether name is one of the proxies' DNS names.
func isName(name string) bool { return slices.Contains(nameAliases, name) }

// ensureNames creates the names network and joins Toxiproxy to it, once.
func (e *Env) ensureNames(ctx context.Context) (string, error) {
	e.mu.Lock()
	id := e.namesID
	e.mu.Unlock()
	if id != "" {
		return id, nil
	}
	name := e.NetworkName + "-names"
	err := e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		res, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: e.cfg.labels()})
		if err != nil {
			return fmt.Errorf("create network %s: %w", name, err)
		}
		id = res.ID
		return nil
	})
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.namesID = id
	e.mu.Unlock()
	return id, e.connectNames(ctx)
}

// connectNames joins Toxiproxy to the names network under the names.
func (e *Env) connectNames(ctx context.Context) error {
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		_, err := cli.NetworkConnect(ctx, e.namesID, client.NetworkConnectOptions{
			Container:      e.Toxiproxy.GetContainerID(),
			EndpointConfig: &network.EndpointSettings{Aliases: slices.Clone(nameAliases)},
		})
		if err != nil {
			return fmt.Errorf("give toxiproxy the names %v: %w", nameAliases, err)
		}
		return nil
	})
}

// dropNames takes the names away: Toxiproxy leaves the names network, so
// Docker's DNS no longer resolves them (and connections made through them
// lose their peer).
func (e *Env) dropNames(ctx context.Context) error {
	if e.namesID == "" {
		return fmt.Errorf("take the names away: no bot reaches the proxies by name (BotOptions.ByName)")
	}
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		_, err := cli.NetworkDisconnect(ctx, e.namesID, client.NetworkDisconnectOptions{Container: e.Toxiproxy.GetContainerID(), Force: true})
		if err != nil {
			return fmt.Errorf("take the names %v away: %w", nameAliases, err)
		}
		return nil
	})
}

// namesAttached reports whether Docker shows Toxiproxy on the names
// network: whether the names resolve.
func (e *Env) namesAttached(ctx context.Context) (bool, error) {
	if e.namesID == "" {
		return false, fmt.Errorf("no names network")
	}
	var attached bool
	err := e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		res, err := cli.NetworkInspect(ctx, e.namesID, client.NetworkInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect the names network: %w", err)
		}
		_, attached = res.Network.Containers[e.Toxiproxy.GetContainerID()]
		return nil
	})
	return attached, err
}

// restoreNames gives the names back when a fault left them away (a run
// that failed between the dns fault's apply and undo).
func (e *Env) restoreNames(ctx context.Context) error {
	if e.namesID == "" {
		return nil
	}
	attached, err := e.namesAttached(ctx)
	if err != nil || attached {
		return err
	}
	return e.connectNames(ctx)
}

func (e *Env) removeNames(ctx context.Context) error {
	if e.namesID == "" {
		return nil
	}
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		if _, err := cli.NetworkRemove(ctx, e.namesID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("remove the names network: %w", err)
		}
		e.namesID = ""
		return nil
	})
}

// ToxiproxyIP is Toxiproxy's address on the stack's network, the one
// Postgres sees its connections come from. Toxiproxy may also be on the
// names network (a dns scenario joined it), where testcontainers'
// ContainerIP, which wants exactly one network, returns "".
func (e *Env) ToxiproxyIP(ctx context.Context) (string, error) {
	info, err := e.Toxiproxy.Inspect(ctx)
	if err != nil {
		return "", fmt.Errorf("inspect toxiproxy: %w", err)
	}
	ep, ok := info.NetworkSettings.Networks[e.NetworkName]
	if !ok || ep == nil || !ep.IPAddress.IsValid() {
		return "", fmt.Errorf("toxiproxy has no address on network %s", e.NetworkName)
	}
	return ep.IPAddress.String(), nil
}
