package environment

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"github.com/p1001/p1001/targets"
)

// Label is set on every container, network and volume the environment
// creates, so that `make clean` can find leftovers. RunLabel narrows it to
// one run, ProcessLabel to one Ginkgo process of a run (make chaos PROCS=N
// runs N stacks side by side).
const (
	Label        = "org.p1001.project"
	RunLabel     = "org.p1001.run"
	ProcessLabel = "org.p1001.process"
)

// Network aliases and ports, as in DESIGN.md section 2.
const (
	AliasPostgres  = "postgres"
	AliasPgBouncer = "pgbouncer"
	AliasToxiproxy = "toxiproxy"
	AliasBot       = "bot"

	PortPostgres   = 5432
	PortPgBouncer  = 6432
	PortPooler     = 6543 // toxiproxy "pooler" proxy, like Supabase's pooler port
	PortToxiproxy  = 8474
	ProxyPooler    = "pooler"
	ProxyDirect    = "direct"
	defaultUser    = "p1001"
	defaultDB      = "p1001"
	envRunID       = "P1001_RUN_ID"
	envPostgres    = "P1001_POSTGRES_IMAGE"
	envPgBouncer   = "P1001_PGBOUNCER_IMAGE"
	envToxiproxy   = "P1001_TOXIPROXY_IMAGE"
	envTarget      = "P1001_TARGET"
	defaultPGImage = "p1001/postgres:15"
	defaultPBImage = "p1001/pgbouncer:1.24"
	defaultTPImage = "p1001/toxiproxy:2.12.0"
)

// Config says which images to run and with which credentials.
type Config struct {
	PostgresImage string
	// PgBouncerImage runs the pooler. The postgres image can run it too
	// (set both to the same image), but bookworm's PgBouncer 1.18 dies on
	// some cancel requests: p1001/pgbouncer carries 1.24.
	PgBouncerImage string
	ToxiproxyImage string
	// TargetFile is the target file of the bot under test (P1001_TARGET,
	// make chaos TARGET=); "" is p1001's own, built in (targets.P1001).
	TargetFile string
	// Existing, when set, is a stack someone else started: the harness
	// starts no container (P1001_STACK=existing, existing.go).
	Existing *ExistingStack `json:"existing,omitempty"`
	// BotImage is the target's image (targets.Target.ImageName, read
	// where the configuration is made), for the report.
	BotImage string

	User     string
	Password string
	Database string

	// RunID goes into the RunLabel of everything started, so that the
	// caller (hack/chaos.sh) can remove exactly this run's leftovers.
	RunID string
	// Process is the Ginkgo parallel process (1..N) whose stack this is;
	// 0 outside Ginkgo. It goes into ProcessLabel and into the names of
	// the networks and volumes, so that N stacks of one run share nothing.
	Process int
}

// ConfigFromEnv reads the image names from P1001_*_IMAGE and the target
// from P1001_TARGET, and makes a fresh random password, so that every
// report can be checked for leaks of it.
func ConfigFromEnv() (Config, error) {
	pw, err := randomPassword()
	if err != nil {
		return Config{}, err
	}
	file := os.Getenv(envTarget)
	target, err := LoadTarget(file)
	if err != nil {
		return Config{}, err
	}
	existing, err := existingFromEnv()
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Existing:       existing,
		PostgresImage:  getenv(envPostgres, defaultPGImage),
		ToxiproxyImage: getenv(envToxiproxy, defaultTPImage),
		TargetFile:     file,
		BotImage:       target.ImageName(),
		User:           defaultUser,
		Password:       pw,
		Database:       defaultDB,
		RunID:          getenv(envRunID, "adhoc"),
	}
	cfg.PgBouncerImage = getenv(envPgBouncer, defaultPBImage)
	return cfg, nil
}

// LoadTarget loads a target file; "" is p1001's own.
func LoadTarget(file string) (targets.Target, error) {
	if file == "" {
		return targets.P1001(), nil
	}
	t, err := targets.Load(file)
	if err != nil {
		return t, fmt.Errorf("%s: %w", envTarget, err)
	}
	return t, nil
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// randomPassword includes characters that must be escaped in a URL, so that
// every DSN built from it is exercised on the awkward path.
func randomPassword() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return "pw-" + hex.EncodeToString(b) + "/@#", nil
}

func (c Config) labels() map[string]string {
	l := map[string]string{Label: "p1001", RunLabel: c.RunID}
	if c.Process > 0 {
		l[ProcessLabel] = strconv.Itoa(c.Process)
	}
	return l
}

// namePrefix starts the name of every network and volume of the stack:
// p1001-<run>, and -p<process> under Ginkgo's parallel processes.
func (c Config) namePrefix() string {
	if c.Process > 0 {
		return fmt.Sprintf("p1001-%s-p%d", c.RunID, c.Process)
	}
	return "p1001-" + c.RunID
}
