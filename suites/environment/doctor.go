package environment

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// DoctorReport is the part of `bot doctor -json` (schema p1001.doctor/v1,
// docs/bot.md) that the harness reads. It is decoded as any consumer of the
// schema would, without the bot's own types.
type DoctorReport struct {
	Schema     string       `json:"schema"`
	Healthy    bool         `json:"healthy"`
	FailedStep string       `json:"failed_step"`
	Code       string       `json:"code"`
	Stopped    string       `json:"stopped"`
	Elapsed    int64        `json:"elapsed_ns"`
	Bound      int64        `json:"bound_ns"`
	Steps      []DoctorStep `json:"steps"`
}

// DoctorStep is one step of a DoctorReport.
type DoctorStep struct {
	Name     string   `json:"name"`
	Status   string   `json:"status"` // ok, warn, fail, skipped
	Duration int64    `json:"duration_ns"`
	Summary  string   `json:"summary"`
	Details  []string `json:"details"`
	Code     string   `json:"code"`
	BotCode  string   `json:"bot_code"`
	Reason   string   `json:"reason"`
	Advice   string   `json:"advice"`
}

// DoctorSchema is the schema RunDoctor accepts.
const DoctorSchema = "p1001.doctor/v1"

// Step returns the named step, or false.
func (r *DoctorReport) Step(name string) (DoctorStep, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return DoctorStep{}, false
}

// Verdict is one line: "healthy", or the failing step, its code and reason.
func (r *DoctorReport) Verdict() string {
	if r.Healthy {
		return fmt.Sprintf("healthy in %s", time.Duration(r.Elapsed).Round(time.Millisecond))
	}
	s, _ := r.Step(r.FailedStep)
	code := r.Code
	if code == "" {
		code = "no Prisma code"
	}
	return fmt.Sprintf("%s failed, %s: %s", r.FailedStep, code, strings.TrimSpace(s.Summary+"; "+s.Reason))
}

// DoctorResult is one run of the doctor.
type DoctorResult struct {
	ExitCode int
	// Output is what it printed; it may hold nothing secret (the callers
	// check it against the stack's password).
	Output []byte
	Report DoctorReport
}

// RunDoctor runs `bot doctor -json` with args in the bot image, on the
// private network (alias "doctor"), so that the stack's aliases resolve as
// they do for the bot. databaseURL goes in as DATABASE_URL, never on the
// command line. It returns once the doctor has exited and its container is
// gone.
func (e *Env) RunDoctor(ctx context.Context, databaseURL string, args ...string) (*DoctorResult, error) {
	c, err := testcontainers.Run(ctx, e.cfg.BotImage,
		tcnetwork.WithNetworkName([]string{"doctor"}, e.NetworkName),
		testcontainers.WithLabels(e.cfg.labels()),
		testcontainers.WithEnv(map[string]string{"DATABASE_URL": databaseURL}),
		testcontainers.WithCmd(append([]string{"doctor", "-json", "-color", "never"}, args...)...),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)),
	)
	if c != nil {
		defer func() {
			_ = testcontainers.TerminateContainer(c, testcontainers.StopContext(context.WithoutCancel(ctx)))
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("run bot doctor (%s): %w", e.cfg.BotImage, err)
	}
	state, err := c.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("bot doctor state: %w", err)
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("bot doctor output: %w", err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("bot doctor output: %w", err)
	}
	res := &DoctorResult{ExitCode: state.ExitCode, Output: out}
	if err := json.Unmarshal(out, &res.Report); err != nil {
		return res, fmt.Errorf("bot doctor (exit %d) printed no JSON report: %w", state.ExitCode, err)
	}
	if res.Report.Schema != DoctorSchema {
		return res, fmt.Errorf("bot doctor report schema %q, want %q", res.Report.Schema, DoctorSchema)
	}
	return res, nil
}
