package environment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// What the stack itself says about a fault, for the harness's own proof
// that it took effect (checks.GuardEffect), independent of the bot.

// ProxyState reads Toxiproxy's own view of a proxy: whether it accepts
// connections, and its toxics as "name:type:stream".
func (e *Env) ProxyState(ctx context.Context, name string) (enabled bool, toxics []string, err error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	p, err := e.Toxi.Proxy(name)
	if err != nil {
		return false, nil, fmt.Errorf("read toxiproxy proxy %q: %w", name, err)
	}
	ts, err := p.Toxics()
	if err != nil {
		return false, nil, fmt.Errorf("read the toxics of %q: %w", name, err)
	}
	for _, t := range ts {
		toxics = append(toxics, t.Name+":"+t.Type+":"+t.Stream)
	}
	return p.Enabled, toxics, nil
}

// Attached reports whether Docker has the named container ("bot", ...)
// attached to the stack's private network.
func (e *Env) Attached(ctx context.Context, name string) (bool, error) {
	if isName(name) {
		return e.namesAttached(ctx) // the names resolve
	}
	id, err := e.containerID(name)
	if err != nil {
		return false, err
	}
	var attached bool
	err = e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		res, err := cli.NetworkInspect(ctx, e.NetworkID, client.NetworkInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect network %s: %w", e.NetworkName, err)
		}
		_, attached = res.Network.Containers[id]
		return nil
	})
	return attached, err
}

// BotState reads Docker's own view of the running bot's container: whether
// it runs, and when it was last started (a kill or restart starts the same
// container again, so StartedAt moves).
func (e *Env) BotState(ctx context.Context) (running bool, startedAt time.Time, err error) {
	id, err := e.containerID(AliasBot)
	if err != nil {
		return false, time.Time{}, err
	}
	err = e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect the bot container: %w", err)
		}
		st := res.Container.State
		if st == nil {
			return errors.New("inspect the bot container: no state")
		}
		running = st.Running
		if startedAt, err = time.Parse(time.RFC3339Nano, st.StartedAt); err != nil {
			return fmt.Errorf("inspect the bot container: StartedAt %q: %w", st.StartedAt, err)
		}
		return nil
	})
	return running, startedAt, err
}
