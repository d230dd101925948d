package report

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/onsi/ginkgo/v2/types"
)

// FailuresDir holds, per failed spec, failures/<slug>/: the evidence the
// chaos suite gathered when the spec failed (the bot's full log, the last
// lines of the stack's logs).
const FailuresDir = "failures"

// SpecName is how the report names a Ginkgo spec: its full text, or for a
// suite node (BeforeSuite, DeferCleanup (Suite), ...) its node type and
// location. suite.json and the evidence directory use the same name.
func SpecName(sr types.SpecReport) string {
	if sr.LeafNodeType.Is(types.NodeTypeIt) {
		return sr.FullText()
	}
	return sr.LeafNodeType.String() + " (" + sr.LeafNodeLocation.String() + ")"
}

// EvidenceDir is a spec's evidence directory relative to the run dir,
// with forward slashes (it is also a link): failures/<slug>, the slug
// being the spec's name in lower case, letters and digits only, with a
// short hash that keeps two similar names apart.
func EvidenceDir(spec string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(spec) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.TrimRight(b.String(), "-")
	if len(slug) > 80 {
		slug = strings.TrimRight(slug[:80], "-")
	}
	h := fnv.New32a()
	h.Write([]byte(spec))
	return fmt.Sprintf("%s/%s-%08x", FailuresDir, slug, h.Sum32())
}

// WriteEvidence writes files (name -> content, e.g. "bot.log") into the
// spec's evidence directory under runDir and returns their paths relative
// to runDir, sorted. Each content is scrubbed first: every secret given
// (as is and URL-escaped) is masked, then the report's redaction applies,
// so no password reaches the run dir. A name with a path separator is an
// error.
func WriteEvidence(runDir, spec string, files map[string][]byte, secrets ...string) ([]string, error) {
	rel := EvidenceDir(spec)
	dir := filepath.Join(runDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("evidence of %q: %w", spec, err)
	}
	var paths []string
	for name, content := range files {
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return nil, fmt.Errorf("evidence of %q: file name %q must be a plain name", spec, name)
		}
		if err := writeFile(filepath.Join(dir, name), []byte(Scrub(string(content), secrets...))); err != nil {
			return nil, fmt.Errorf("evidence of %q: %w", spec, err)
		}
		paths = append(paths, rel+"/"+name)
	}
	slices.Sort(paths)
	return paths, nil
}

// Scrub masks every secret given (in each of its SecretForms) and
// then applies the report's redaction: what a log may carry into the run
// dir.
func Scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		for _, form := range SecretForms(secret) {
			s = strings.ReplaceAll(s, form, mask)
		}
	}
	return redact(s)
}

// evidenceFiles lists a spec's evidence files in runDir (relative paths,
// sorted); none when the spec left no evidence.
func evidenceFiles(runDir, spec string) ([]string, error) {
	rel := EvidenceDir(spec)
	entries, err := os.ReadDir(filepath.Join(runDir, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the evidence of %q: %w", spec, err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, rel+"/"+e.Name())
		}
	}
	return out, nil
}
