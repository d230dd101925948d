package environment

import (
	"path/filepath"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/p1001/p1001/scenarios"
)

// TestNotPlayable: on an existing stack only the scenarios played through
// Toxiproxy's API alone, with the stack's own bot, are playable; each
// other is named with its reason. On the harness's own stack all are.
func TestNotPlayable(t *testing.T) {
	catalog, err := scenarios.LoadDir(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	own := &Env{}
	existing := &Env{cfg: Config{Existing: &ExistingStack{}}, Proxies: map[string]*toxiproxy.Proxy{ProxyPooler: nil}}
	var playable []string
	for _, s := range catalog {
		if why := own.NotPlayable(s); why != "" {
			t.Errorf("%s on the harness's own stack: %s", s.Name, why)
		}
		why := existing.NotPlayable(s)
		docker := false
		for _, f := range s.Faults {
			docker = docker || !f.ThroughToxiproxy()
			if !f.ThroughToxiproxy() && !strings.Contains(why, "fault "+f.Name+" ("+f.Type+")") {
				t.Errorf("%s: fault %s (%s) needs the Docker API, and the reason is %q", s.Name, f.Name, f.Type, why)
			}
		}
		if why == "" {
			playable = append(playable, s.Name)
		} else if !strings.HasPrefix(why, "not playable on an existing stack: ") {
			t.Errorf("%s: reason %q", s.Name, why)
		}
	}
	for _, want := range []string{"healthy-baseline", "outage-pooler"} {
		if !strings.Contains(strings.Join(playable, " "), want) {
			t.Errorf("%s is not playable on an existing stack; playable: %v", want, playable)
		}
	}
	t.Logf("playable on an existing stack: %v", playable)
}

func TestExistingSecrets(t *testing.T) {
	x := &ExistingStack{DSN: "postgresql://u:s%40cret@db:5432/app", BotToken: "tok"}
	if got := strings.Join(x.secrets(), ","); got != "s@cret,tok" {
		t.Errorf("secrets() = %q", got)
	}
	var none *ExistingStack
	if got := none.secrets(); got != nil {
		t.Errorf("nil stack: %v", got)
	}
}

func TestExistingFromEnv(t *testing.T) {
	t.Setenv(envStack, StackExisting)
	t.Setenv(envToxiproxyURL, "")
	t.Setenv(envBotURL, "http://bot")
	t.Setenv(envCheckDSN, "")
	_, err := existingFromEnv()
	if err == nil || !strings.Contains(err.Error(), envToxiproxyURL) || !strings.Contains(err.Error(), envCheckDSN) {
		t.Errorf("existingFromEnv without the URL and DSN: %v", err)
	}
	t.Setenv(envStack, "k8s")
	if _, err := existingFromEnv(); err == nil {
		t.Error("an unknown stack is accepted")
	}
	t.Setenv(envStack, "")
	if x, err := existingFromEnv(); x != nil || err != nil {
		t.Errorf("own stack: %v, %v", x, err)
	}
}
