package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/p1001/p1001/suites/report"
)

// Write stores <stamp>.json and <stamp>.md under dir and prints the
// markdown to stdout. Neither may contain a secret of the stack (the
// database password, a bot's API token: environment.Env.Secrets), in any
// of the forms report.ContainsSecret knows.
func (r *Report) Write(dir string, secrets []string, stdout io.Writer) error {
	data, err := r.JSON()
	if err != nil {
		return err
	}
	md := []byte(RenderMarkdown(r))
	if report.ContainsSecret(string(data), secrets...) || report.ContainsSecret(string(md), secrets...) {
		return errors.New("the report contains a secret of the stack (the database password or a bot's API token): not written")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	base := filepath.Join(dir, r.Stamp)
	if err := os.WriteFile(base+".json", data, 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := os.WriteFile(base+".md", md, 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\nreport: %s.md and %s.json\n", md, base, base); err != nil {
		return fmt.Errorf("print the report: %w", err)
	}
	return nil
}
