package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
)

// Reasons a request is refused for its token (the metric's label).
const (
	AuthMissing   = "missing"   // no Authorization header
	AuthMalformed = "malformed" // not one "Bearer <token>" of sane length
	AuthWrong     = "wrong"     // a bearer token, not the right one
)

// maxAuthorization bounds the header compared: config caps the token at
// 4096 bytes, so anything longer is wrong without hashing it.
const maxAuthorization = len("Bearer ") + 4096

// requireToken returns a middleware that lets a request through only with
// "Authorization: Bearer <token>"; an empty token lets everything through.
// The comparison is of SHA-256 digests in constant time, so neither the
// token's bytes nor its length leak through timing. A token anywhere else
// (the query string) is not looked at: URLs end up in access logs.
func requireToken(token string, refused func(reason string), log *slog.Logger) func(http.Handler) http.Handler {
	if token == "" {
		return func(h http.Handler) http.Handler { return h }
	}
	want := sha256.Sum256([]byte(token))
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reason := checkBearer(r.Header.Values("Authorization"), want)
			if reason == "" {
				h.ServeHTTP(w, r)
				return
			}
			refused(reason)
			// Neither the header nor the query is logged: either may hold a token.
			log.Warn("[HTTP] request refused: missing or wrong API token",
				"path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
			w.Header().Set("WWW-Authenticate", `Bearer realm="p1001"`)
			// Closing the connection spares reading (draining) a body
			// nobody is allowed to send.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, authMessages[reason], "")
		})
	}
}

var authMessages = map[string]string{
	AuthMissing:   "missing API token: send the header Authorization: Bearer <token> (a token in the URL is not accepted)",
	AuthMalformed: "malformed Authorization header: want exactly one Authorization: Bearer <token>",
	AuthWrong:     "wrong API token",
}

// checkBearer returns "" for exactly one "Bearer <token>" header whose
// token hashes to want, else the reason it is refused.
func checkBearer(values []string, want [sha256.Size]byte) string {
	switch {
	case len(values) == 0:
		return AuthMissing
	case len(values) > 1 || len(values[0]) > maxAuthorization:
		return AuthMalformed
	}
	scheme, got, ok := strings.Cut(values[0], " ")
	got = strings.TrimLeft(got, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
		return AuthMalformed
	}
	sum := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		return AuthWrong
	}
	return ""
}
