package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// API token bounds: long enough that guessing is hopeless, short enough
// that a header carrying it stays small.
const (
	MinAPITokenLen = 16
	MaxAPITokenLen = 4096
)

// checkAPIToken validates API_TOKEN against API_AUTH. Errors never show
// the token's value.
func checkAPIToken(token, auth string) error {
	if token == "" {
		return nil
	}
	if auth == AuthNone {
		return errors.New("API_AUTH=none and API_TOKEN are both set: unset API_TOKEN to serve without a token, or unset API_AUTH to require it")
	}
	if len(token) < MinAPITokenLen || len(token) > MaxAPITokenLen || strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return fmt.Errorf("API_TOKEN must be %d to %d printable ASCII characters without spaces, such as the output of `openssl rand -hex 32` (its value is not shown)", MinAPITokenLen, MaxAPITokenLen)
	}
	return nil
}

// CheckExposure refuses to serve the message API without a token on a
// listener reachable from other machines, unless API_AUTH=none says the
// operator means it. listening is the bound address (":8080" binds every
// interface; "localhost:8080" binds loopback). Loopback without a token
// stays allowed: only this machine can reach it.
func (c Config) CheckExposure(listening net.Addr) error {
	if c.APIToken != "" || c.APIAuth == AuthNone || isLoopback(listening) {
		return nil
	}
	return fmt.Errorf("the message API would listen on %s (HTTP_ADDR=%q), beyond loopback, without API_TOKEN: set API_TOKEN to a long random secret that clients send as \"Authorization: Bearer <token>\", listen on loopback (HTTP_ADDR=127.0.0.1:8080), or set API_AUTH=none to let anyone who reaches the port talk as any chat",
		listening, c.HTTPAddr)
}

func isLoopback(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
