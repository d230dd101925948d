package environment

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

func TestLoopbackOf(t *testing.T) {
	tests := []struct{ host, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"localhost", "127.0.0.1"},
		{"::1", "::1"},
		{"172.17.0.1", "invalid IP"}, // a gateway: every interface
		{"docker.example.com", "invalid IP"},
	}
	for _, tt := range tests {
		if got := loopbackOf(tt.host).String(); got != tt.want {
			t.Errorf("loopbackOf(%q) = %s, want %s", tt.host, got, tt.want)
		}
	}
}

func TestPublishBindsEveryPortToTheAddress(t *testing.T) {
	e := &Env{publishIP: netip.MustParseAddr("127.0.0.1")}
	req := &testcontainers.GenericContainerRequest{}
	// Another modifier before it keeps its effect.
	if err := testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.ShmSize = 1 })(req); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("8474/tcp", "6543/tcp")(req); err != nil {
		t.Fatal(err)
	}
	if len(req.ExposedPorts) != 2 {
		t.Errorf("exposed %v, want both ports", req.ExposedPorts)
	}
	hc := &container.HostConfig{}
	req.HostConfigModifier(hc)
	if hc.ShmSize != 1 {
		t.Error("the earlier modifier was lost")
	}
	for _, p := range []string{"8474/tcp", "6543/tcp"} {
		b := hc.PortBindings[network.MustParsePort(p)]
		if len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != "" {
			t.Errorf("%s bound %+v, want 127.0.0.1 on a random port", p, b)
		}
	}
	if err := e.publish("not-a-port")(req); err == nil {
		t.Error("a bad port spec was accepted")
	}
}
