package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCheckNoMatch(t *testing.T) {
	re := regexp.MustCompile(`\bp1001-[0-9a-f]{48}\b`)
	token := "p1001-" + strings.Repeat("0a", 24)
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string // the files the error names; none: no error
	}{
		{"clean", map[string]string{"a.md": "nothing", "s/b.jsonl": "p1001-run-p2-0a0a0a0a"}, nil},
		{"a token in a nested history", map[string]string{"a.md": "x", "s/h.jsonl": `{"auth":"Bearer ` + token + `"}`}, []string{"h.jsonl"}},
		{"tokens in two files", map[string]string{"a.md": token, "b.xml": "<t>" + token + "</t>"}, []string{"a.md", "b.xml"}},
		{"a longer hex string is no token", map[string]string{"a.md": token + "0a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckNoMatch(dir, re)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckNoMatch: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckNoMatch found nothing")
			}
			if strings.Contains(err.Error(), token) {
				t.Error("the error quotes the token")
			}
			for _, name := range tt.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}
