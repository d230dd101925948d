package scenarios

import (
	"slices"
	"testing"
)

// TestCatalogDeclaresCodes: every fault of the catalog says which Prisma
// codes its cause must and may produce (an empty entry: none at all), so
// that codes-by-cause judges every fault; and the codes follow their causes
// where the cause is unambiguous.
func TestCatalogDeclaresCodes(t *testing.T) {
	list, err := LoadDir(".")
	if err != nil {
		t.Fatalf("the catalog does not load:\n%v", err)
	}
	for _, s := range list {
		for _, f := range s.Faults {
			fc, ok := s.Expect.Codes[f.Name]
			if !ok {
				t.Errorf("%s: fault %s declares no codes (expect.codes.%s: {must: [...], may: [...]})", s.File, f.Name, f.Name)
				continue
			}
			// A refused connect is P1001: a disabled proxy must show it.
			if f.Type == TypeOutage && f.Flap == 0 && f.Proxy == s.Bot.Database && !slices.Contains(fc.Must, "P1001") {
				t.Errorf("%s: outage %s of the bot's path must produce P1001 (refused), has must %v", s.File, f.Name, fc.Must)
			}
			// Faults that only slow the server below the attempt timeout
			// produce no code at all.
			if s.Expect.Effect == EffectSlower && (len(fc.Must) > 0 || len(fc.May) > 0) {
				t.Errorf("%s: fault %s only slows the database (effect slower) but allows codes %v %v", s.File, f.Name, fc.Must, fc.May)
			}
		}
	}
}
