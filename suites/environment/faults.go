package environment

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/p1001/p1001/scenarios"
)

// The fault actions the fault recipes (scenarios.Fault.Apply, Undo) need,
// on the live stack. The Toxiproxy client takes no context; ctx is checked
// before each call and the client's own 30 s timeout bounds it.

// Faults returns e as the Target the fault recipes act on.
func (e *Env) Faults() scenarios.Target { return faultTarget{e} }

// faultTarget is the Env with Proxy returning the recipes' interface.
type faultTarget struct{ *Env }

func (t faultTarget) Proxy(name string) (scenarios.Proxy, error) { return t.Env.Proxy(name) }

// ProxyControl drives one Toxiproxy proxy.
type ProxyControl struct{ p *toxiproxy.Proxy }

// Proxy returns the named proxy ("pooler" or "direct").
func (e *Env) Proxy(name string) (ProxyControl, error) {
	p, ok := e.Proxies[name]
	if !ok {
		return ProxyControl{}, fmt.Errorf("no toxiproxy proxy %q (have %q and %q)", name, ProxyPooler, ProxyDirect)
	}
	return ProxyControl{p: p}, nil
}

// AddToxic adds a toxic; it applies to established connections too.
func (c ProxyControl) AddToxic(ctx context.Context, name, typ, stream string, toxicity float32, attrs map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.p.AddToxic(name, typ, stream, toxicity, toxiproxy.Attributes(attrs)); err != nil {
		return fmt.Errorf("add %s toxic %q to %s: %w", typ, name, c.p.Name, err)
	}
	return nil
}

// RemoveToxic removes a toxic by name.
func (c ProxyControl) RemoveToxic(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.p.RemoveToxic(name); err != nil {
		return fmt.Errorf("remove toxic %q from %s: %w", name, c.p.Name, err)
	}
	return nil
}

// Disable closes the proxy's listener and every connection through it: new
// connections are refused, as when the pooler is down.
func (c ProxyControl) Disable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.p.Disable(); err != nil {
		return fmt.Errorf("disable %s: %w", c.p.Name, err)
	}
	return nil
}

// Enable reopens the proxy.
func (c ProxyControl) Enable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.p.Enable(); err != nil {
		return fmt.Errorf("enable %s: %w", c.p.Name, err)
	}
	return nil
}

// Restart stops the named container ("postgres" or "pgbouncer") and starts
// it again, returning once its wait strategy passes. Mapped host ports may
// change; the host DSNs are refreshed.
func (e *Env) Restart(ctx context.Context, name string) error {
	var c testcontainers.Container
	switch name {
	case AliasPostgres:
		c = e.Postgres
	case AliasPgBouncer:
		c = e.PgBouncer
	default:
		return fmt.Errorf("restart: no container %q (have %q and %q)", name, AliasPostgres, AliasPgBouncer)
	}
	stopTimeout := time.Second
	if err := c.Stop(ctx, &stopTimeout); err != nil {
		return fmt.Errorf("restart %s: stop: %w", name, err)
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("restart %s: start: %w", name, err)
	}
	return e.refreshDSNs(ctx)
}

// Kill sends SIGKILL to the named container (only the bot) and starts it
// again with the same spool volume, returning once it serves again. Its
// host port may change: BotURL has the new one.
func (e *Env) Kill(ctx context.Context, name string) error {
	if name != AliasBot {
		return fmt.Errorf("kill: no container %q (only %q)", name, AliasBot)
	}
	return e.KillBot(ctx)
}

// BotRestart stops the named container (only the bot) with SIGTERM and
// starts it again with the same spool volume (see RestartBot).
func (e *Env) BotRestart(ctx context.Context, name string) error {
	if name != AliasBot {
		return fmt.Errorf("bot-restart: no container %q (only %q)", name, AliasBot)
	}
	return e.RestartBot(ctx)
}

// createVolume makes a named volume, p1001-<run>[-p<process>]-<what>-<random>, with the
// project's labels so that make clean finds a leftover one.
func (e *Env) createVolume(ctx context.Context, what string) (string, error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("volume name: %w", err)
	}
	name := fmt.Sprintf("%s-%s-%x", e.cfg.namePrefix(), what, suffix)
	err := e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		if _, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: e.cfg.labels()}); err != nil {
			return fmt.Errorf("create volume %s: %w", name, err)
		}
		return nil
	})
	return name, err
}

func (e *Env) removeVolume(ctx context.Context, name string) error {
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		if _, err := cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true}); err != nil {
			return fmt.Errorf("remove volume %s: %w", name, err)
		}
		return nil
	})
}

// PausePgBouncer sends PAUSE on pgbouncer's admin console: it waits for the
// server connections to be released and then holds new queries, as a
// pooler under maintenance does.
func (e *Env) PausePgBouncer(ctx context.Context) error { return e.pgbouncerAdmin(ctx, "PAUSE") }

// ReconnectPgBouncer sends RECONNECT on pgbouncer's admin console: each
// server connection is closed once released and replaced by a new one, as a
// pooler does when it rebalances. Session state a client left on the old
// ones (prepared statements) is gone.
func (e *Env) ReconnectPgBouncer(ctx context.Context) error {
	return e.pgbouncerAdmin(ctx, "RECONNECT")
}

// ResumePgBouncer sends RESUME.
func (e *Env) ResumePgBouncer(ctx context.Context) error { return e.pgbouncerAdmin(ctx, "RESUME") }

func (e *Env) pgbouncerAdmin(ctx context.Context, command string) error {
	conn, err := e.pgbouncerConn(ctx)
	if err != nil {
		return fmt.Errorf("pgbouncer %s: %w", command, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, command); err != nil {
		return fmt.Errorf("pgbouncer %s: %w", command, err)
	}
	return nil
}

// Disconnect partitions a container (the bot) from the private network. The
// host still reaches it: it keeps its port mapping on the default bridge.
// A proxy's DNS name (scenarios.HostName) is taken away instead (names.go).
func (e *Env) Disconnect(ctx context.Context, name string) error {
	if isName(name) {
		return e.dropNames(ctx)
	}
	id, err := e.containerID(name)
	if err != nil {
		return err
	}
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		_, err := cli.NetworkDisconnect(ctx, e.NetworkID, client.NetworkDisconnectOptions{Container: id, Force: true})
		if err != nil {
			return fmt.Errorf("disconnect %s from the network: %w", name, err)
		}
		return nil
	})
}

// Reconnect joins a container to the private network again, under its alias.
// A proxy's DNS name resolves again.
func (e *Env) Reconnect(ctx context.Context, name string) error {
	if isName(name) {
		return e.connectNames(ctx)
	}
	id, err := e.containerID(name)
	if err != nil {
		return err
	}
	return e.connect(ctx, id, name)
}

func (e *Env) connect(ctx context.Context, id, alias string) error {
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		_, err := cli.NetworkConnect(ctx, e.NetworkID, client.NetworkConnectOptions{
			Container:      id,
			EndpointConfig: &network.EndpointSettings{Aliases: []string{alias}},
		})
		if err != nil {
			return fmt.Errorf("connect %s to the network: %w", alias, err)
		}
		return nil
	})
}

// createNetwork makes the private network, named
// p1001-<run>[-p<process>]-<random>.
// The name matters: a container on several networks publishes its ports
// through the network whose name sorts first, and the bot must keep its
// mapping on the default "bridge" while a partition cuts it from this one.
// testcontainers' network.New names networks with a UUID, which sorts
// before "bridge" half of the time.
func (e *Env) createNetwork(ctx context.Context) error {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("network name: %w", err)
	}
	name := fmt.Sprintf("%s-%x", e.cfg.namePrefix(), suffix)
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		res, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: e.cfg.labels()})
		if err != nil {
			return fmt.Errorf("create network %s: %w", name, err)
		}
		e.NetworkID, e.NetworkName = res.ID, name
		return nil
	})
}

func (e *Env) removeNetwork(ctx context.Context) error {
	return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		if _, err := cli.NetworkRemove(ctx, e.NetworkID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("remove network %s: %w", e.NetworkName, err)
		}
		e.NetworkID, e.NetworkName = "", ""
		return nil
	})
}

func (e *Env) withDocker(ctx context.Context, fn func(*testcontainers.DockerClient) error) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	return fn(cli)
}

func (e *Env) containerID(name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case name == AliasPostgres && e.Postgres != nil:
		return e.Postgres.GetContainerID(), nil
	case name == AliasPgBouncer && e.PgBouncer != nil:
		return e.PgBouncer.GetContainerID(), nil
	case name == AliasToxiproxy && e.Toxiproxy != nil:
		return e.Toxiproxy.GetContainerID(), nil
	case name == AliasBot && e.bot != nil:
		return e.bot.GetContainerID(), nil
	}
	return "", fmt.Errorf("no running container %q", name)
}
