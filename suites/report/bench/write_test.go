package bench

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const botToken = "p1001-0123456789abcdef0123456789abcdef"

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	r := validReport()
	var out bytes.Buffer
	if err := r.Write(dir, []string{"pw-secret/@#", botToken}, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, r.Stamp+".md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), string(md)) || !strings.Contains(out.String(), r.Stamp+".json") {
		t.Errorf("stdout is not the markdown followed by where it is: %.200q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, r.Stamp+".json")); err != nil {
		t.Error(err)
	}
}

func TestWriteRefusesThePassword(t *testing.T) {
	tests := []struct {
		name   string
		inject func(r *Report)
	}{
		{"as typed", func(r *Report) { r.Configs[1].Env["NOTE"] = "pw-secret/@#" }},
		{"escaped in a URL", func(r *Report) {
			r.Configs[0].DatabaseURL = "postgresql://p1001:pw-secret%2F%40%23@toxiproxy:6543/p1001"
		}},
		{"in an image name", func(r *Report) { r.Images[0].Name = "pw-secret/@#" }},
		{"a bot's API token", func(r *Report) { r.Configs[0].Env["NOTE"] = "sent Bearer " + botToken }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := validReport()
			tt.inject(r)
			err := r.Write(dir, []string{"pw-secret/@#", botToken}, io.Discard)
			if err == nil || strings.Contains(err.Error(), "pw-secret") || strings.Contains(err.Error(), botToken) {
				t.Fatalf("Write error %v, want a refusal that does not repeat the password", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files written despite the password: %v", entries)
			}
		})
	}
}
