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
