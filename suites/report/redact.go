package report

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/p1001/p1001/resilience"
)

// mask replaces a secret, as resilience.RedactDSN does.
const mask = "xxxxx"

var (
	// keyValueSecret finds api_key=..., "token": "...", secret: ... in
	// free text and JSON; the separator must be ':' or '=' so that prose
	// ("the secret token header") is left alone.
	keyValueSecret = regexp.MustCompile(`(?i)\b((?:api[_-]?key|apikey|api[_-]?token|access[_-]?token|auth[_-]?token|secret[_-]?token|client[_-]?secret|token|secret)["']?\s*[:=]\s*["']?)([^\s"'&,;}<>()\[\]]+)`)
	// bearer finds an Authorization header's credentials.
	bearer = regexp.MustCompile(`(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]+)`)
	// telegramToken is a Telegram bot token (<bot id>:<35 chars>), which
	// also appears in Bot API URLs (/bot<token>/sendMessage).
	telegramToken = regexp.MustCompile(`(\d{6,}):[A-Za-z0-9_-]{30,}`)
	// openAIKey is an OpenAI-style API key.
	openAIKey = regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}`)
)

// redact masks every password, token and API key it can recognise in s:
// DSN passwords (resilience.RedactText), key=value secrets, bearer
// credentials, Telegram bot tokens and OpenAI keys. Every string the report
// copies from a history or the catalog goes through it.
func redact(s string) string {
	s = resilience.RedactText(s)
	s = keyValueSecret.ReplaceAllStringFunc(s, func(m string) string {
		sub := keyValueSecret.FindStringSubmatch(m)
		if sub[2] == mask {
			return m
		}
		return sub[1] + mask
	})
	s = bearer.ReplaceAllString(s, "${1}"+mask)
	s = telegramToken.ReplaceAllString(s, "${1}:"+mask)
	return openAIKey.ReplaceAllString(s, "sk-"+mask)
}

// checkRedacted is the last guard before a file is written: the rendered
// content must be a fixed point of redact, i.e. hold nothing redact would
// still mask. It names the file and the offending line, never the secret.
func checkRedacted(name string, content []byte) error {
	s := string(content)
	if redact(s) == s {
		return nil
	}
	for i, line := range strings.Split(s, "\n") {
		if redact(line) != line {
			return fmt.Errorf("report: %s line %d would carry a secret (a password, token or key the redaction missed); not written", name, i+1)
		}
	}
	return fmt.Errorf("report: %s would carry a secret; not written", name)
}

// SecretForms are the ways a secret shows in text: as is, and escaped as a
// URL's userinfo, path or query carries it. Every guard against a leaked
// password or token (Scrub, CheckNoSecrets, make p1001's narration, make
// bench's report) looks for these.
func SecretForms(secret string) []string {
	if secret == "" {
		return nil
	}
	userinfo := strings.TrimPrefix(url.UserPassword("u", secret).String(), "u:")
	return []string{secret, userinfo, url.PathEscape(secret), url.QueryEscape(secret)}
}

// ContainsSecret reports whether s holds one of secrets in any of its
// SecretForms.
func ContainsSecret(s string, secrets ...string) bool {
	for _, secret := range secrets {
		for _, form := range SecretForms(secret) {
			if strings.Contains(s, form) {
				return true
			}
		}
	}
	return false
}

// CheckNoSecrets walks runDir and fails if any file holds one of secrets,
// as is or URL-escaped (as in a DSN). The chaos suite calls it with the
// stack's live password and every bot's API token (environment.Env.Secrets)
// after writing the report; it names the file, never the secret.
func CheckNoSecrets(runDir string, secrets ...string) error {
	if strings.Join(secrets, "") == "" {
		return nil // nothing to look for
	}
	leaks, err := filesWith(runDir, func(b []byte) bool { return ContainsSecret(string(b), secrets...) })
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return errors.New("report: a secret of the stack (its password or a bot's API token) appears in " + strings.Join(leaks, ", "))
	}
	return nil
}

// CheckNoMatch walks runDir and fails if any file holds a match of re (the
// shape of a secret, such as environment.TokenPattern), naming the files,
// never the match.
func CheckNoMatch(runDir string, re *regexp.Regexp) error {
	leaks, err := filesWith(runDir, re.Match)
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return errors.New("report: a secret (a bot's API token, by its shape) appears in " + strings.Join(leaks, ", "))
	}
	return nil
}

// filesWith lists the files under runDir whose content has.
func filesWith(runDir string, has func([]byte) bool) ([]string, error) {
	var found []string
	err := filepath.WalkDir(runDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if has(b) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check %s for secrets: %w", runDir, err)
	}
	return found, nil
}

// FormatError is a Gomega custom formatter (format.RegisterCustomFormatter)
// for every error: its redacted message. Gomega's default dumps an error's
// fields, and a *pgconn.ConnectError holds its whole Config, password
// included, which would then reach the terminal, ginkgo.json and junit.xml.
func FormatError(v any) (string, bool) {
	err, ok := v.(error)
	if !ok || err == nil {
		return "", false
	}
	return fmt.Sprintf("<%T>: %s", err, redact(err.Error())), true
}
