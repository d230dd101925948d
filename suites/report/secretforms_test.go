package report

import (
	"slices"
	"strings"
	"testing"
)

// TestSecretForms: a password shows as typed and escaped three ways; Scrub
// masks each, the userinfo form (a DSN's) included.
func TestSecretForms(t *testing.T) {
	const pw = "p@ss:w/rd?&"
	forms := SecretForms(pw)
	for _, want := range []string{pw, "p%40ss%3Aw%2Frd%3F&", "p@ss:w%2Frd%3F&", "p%40ss%3Aw%2Frd%3F%26"} {
		if !slices.Contains(forms, want) {
			t.Errorf("SecretForms(%q) = %q, lacks %q", pw, forms, want)
		}
	}
	if SecretForms("") != nil {
		t.Error("an empty secret has forms")
	}
	for _, form := range forms {
		if got := Scrub("dsn "+form+" end", pw); strings.Contains(got, form) {
			t.Errorf("Scrub left %q in %q", form, got)
		}
	}
}

func TestContainsSecret(t *testing.T) {
	const pw, token = "p@ss:w/rd?&", "p1001-0123456789abcdef"
	tests := []struct {
		text string
		want bool
	}{
		{"postgresql://u:p%40ss%3Aw%2Frd%3F%26@h/db", true}, // QueryEscape'd
		{"postgresql://u:p@ss:w%2Frd%3F&@h/db", true},       // as userinfo
		{"Authorization: Bearer " + token, true},
		{"postgresql://u:xxxxx@h/db", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ContainsSecret(tt.text, pw, token); got != tt.want {
			t.Errorf("ContainsSecret(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	if ContainsSecret("anything", "") {
		t.Error("an empty secret is found")
	}
}
