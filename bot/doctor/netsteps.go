package doctor

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/p1001/p1001/resilience"
)

// stepDNS looks up A and AAAA. An IPv6-only answer on a machine without an
// IPv6 route is the classic Supabase P1001: the direct host is IPv6-only and
// many CI and serverless hosts are IPv4-only.
func (r *run) stepDNS(ctx context.Context, s *Step) bool {
	if strings.HasPrefix(r.host, "/") {
		s.Summary = "a Unix socket, no lookup"
		return false
	}
	if a, err := netip.ParseAddr(r.host); err == nil {
		r.addrs = []netip.Addr{a}
		s.Summary = "an address, no lookup"
		return false
	}
	type answer struct {
		addrs []netip.Addr
		err   error
		took  time.Duration
	}
	lookup := func(network string, out chan<- answer) {
		t0 := time.Now()
		a, err := r.opts.Resolver.LookupNetIP(ctx, network, r.host)
		out <- answer{a, err, time.Since(t0)}
	}
	c4, c6 := make(chan answer, 1), make(chan answer, 1)
	go lookup("ip4", c4)
	go lookup("ip6", c6)
	a4, a6 := <-c4, <-c6
	// A resolver may answer "ip6" with IPv4-mapped addresses; keep each
	// address in its family.
	var v4, v6 []netip.Addr
	for _, a := range append(a4.addrs, a6.addrs...) {
		a = a.Unmap()
		if a.Is4() {
			v4 = appendNew(v4, a)
		} else {
			v6 = appendNew(v6, a)
		}
	}
	s.Summary = fmt.Sprintf("%s: A %s (%s), AAAA %s (%s)", r.host, list(v4), round(a4.took), list(v6), round(a6.took))
	switch {
	case len(v4) == 0 && len(v6) == 0:
		err := a4.err
		if err == nil || (isNotFound(a6.err) && !isNotFound(err)) {
			err = a6.err
		}
		if err == nil {
			err = &net.DNSError{Err: "no addresses", Name: r.host, IsNotFound: true}
		}
		fail(s, err, "DNS lookup failed: "+dnsWords(err))
		return true
	case len(v4) == 0 && !r.opts.IPv6Route():
		fail(s, asConnectError(&net.OpError{Op: "dial", Net: "tcp6", Err: syscall.ENETUNREACH}),
			"IPv6-only host and no IPv6 route on this machine")
		s.Reason = "the host has only AAAA records, and this machine cannot route IPv6: every connect fails with \"network is unreachable\""
		s.Advice = "This is the classic Supabase P1001: the direct host db.<ref>.supabase.co is IPv6-only and many CI and serverless hosts are IPv4-only. Use the pooler (aws-0-<region>.pooler.supabase.com:6543, IPv4), or enable IPv6 here, or Supabase's IPv4 add-on."
		return true
	case len(v4) == 0:
		s.Details = append(s.Details, "IPv6 only: fine here, but IPv4-only machines (many CI runners and serverless hosts) cannot reach this host")
	}
	r.addrs = append(v4, v6...)
	return false
}

func appendNew(list []netip.Addr, a netip.Addr) []netip.Addr {
	for _, b := range list {
		if a == b {
			return list
		}
	}
	return append(list, a)
}

func isNotFound(err error) bool {
	var d *net.DNSError
	return errors.As(err, &d) && d.IsNotFound
}

func dnsWords(err error) string {
	var d *net.DNSError
	switch {
	case errors.As(err, &d) && d.IsNotFound:
		return "no such host (NXDOMAIN)"
	case errors.As(err, &d) && d.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return "the DNS server did not answer in time"
	}
	return err.Error()
}

func list(a []netip.Addr) string {
	if len(a) == 0 {
		return "none"
	}
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return strings.Join(s, " ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// stepTCP connects to each address, as pgx tries them in order.
func (r *run) stepTCP(ctx context.Context, s *Step) bool {
	if strings.HasPrefix(r.host, "/") {
		s.Summary = "a Unix socket: connected by the startup step"
		return false
	}
	addrs := r.addrs
	if len(addrs) > maxTCPAddrs {
		s.Details = append(s.Details, fmt.Sprintf("%d addresses; trying the first %d", len(addrs), maxTCPAddrs))
		addrs = addrs[:maxTCPAddrs]
	}
	var firstErr error
	for _, a := range addrs {
		hp := net.JoinHostPort(a.String(), r.port)
		actx, cancel := context.WithTimeout(ctx, r.opts.StepTimeout)
		t0 := time.Now()
		c, err := r.opts.Dial(actx, "tcp", hp)
		took := time.Since(t0)
		cancel()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			s.Details = append(s.Details, fmt.Sprintf("%s %s after %s", hp, tcpWords(err, r.opts.StepTimeout), round(took)))
			continue
		}
		c.Close()
		r.reached = append(r.reached, a)
		s.Details = append(s.Details, fmt.Sprintf("%s connected in %s", hp, round(took)))
	}
	switch {
	case len(r.reached) == 0:
		fail(s, asConnectError(firstErr), fmt.Sprintf("no address accepted a connection on port %s", r.port))
		return true
	case len(r.reached) < len(addrs):
		s.Status = Warn
		s.Summary = fmt.Sprintf("%d of %d addresses accepted a connection on port %s (pgx tries them in order)", len(r.reached), len(addrs), r.port)
	default:
		s.Summary = fmt.Sprintf("%s accepted a connection on port %s", list(r.reached), r.port)
	}
	return false
}

// tcpWords names a dial failure: refused, timed out and unreachable are
// different causes with different fixes.
func tcpWords(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused (nothing listens on this port: the server or pooler is down, or the port is wrong)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable (no route from this machine to that address)"
	case errors.Is(err, context.DeadlineExceeded), isNetTimeout(err):
		return fmt.Sprintf("timed out (no answer within %s: packets are dropped, e.g. by a firewall or security group)", timeout)
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return "failed: " + err.Error()
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sslRequest is the 8-byte SSLRequest message.
var sslRequest = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 80877103)

// stepTLS asks the server for TLS as pgx would with the URL's sslmode and
// reports what it offered.
func (r *run) stepTLS(ctx context.Context, s *Step) bool {
	mode := "prefer" // pgx's default, as libpq's
	if u, err := url.Parse(strings.TrimSpace(r.opts.URL)); err == nil && u.Query().Get("sslmode") != "" {
		mode = u.Query().Get("sslmode")
	}
	tlsCfg := r.cfg.Pool.ConnConfig.TLSConfig
	if mode == "disable" || tlsCfg == nil || len(r.reached) == 0 {
		s.Summary = "sslmode=" + mode + ": no TLS asked"
		return false
	}
	mandatory := mode == "require" || mode == "verify-ca" || mode == "verify-full"
	hp := net.JoinHostPort(r.reached[0].String(), r.port)
	t0 := time.Now()
	c, err := r.opts.Dial(ctx, "tcp", hp)
	if err != nil {
		fail(s, asConnectError(err), "the second connection failed")
		return true
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	answer := make([]byte, 1)
	_, err = c.Write(sslRequest)
	if err == nil {
		_, err = io.ReadFull(c, answer)
	}
	took := time.Since(t0)
	if err != nil {
		summary := fmt.Sprintf("TCP connected, then the server closed the connection instead of answering the first message (the TLS request, sslmode=%s), after %s", mode, round(took))
		switch {
		case isNetTimeout(err), errors.Is(err, context.DeadlineExceeded):
			summary = fmt.Sprintf("TCP connected, then silence: no answer to the first message (the TLS request, sslmode=%s) within %s", mode, round(took))
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			summary = fmt.Sprintf("TCP connected, then a reset instead of an answer to the first message (the TLS request, sslmode=%s), after %s", mode, round(took))
		}
		fail(s, asConnectError(err), summary)
		return true
	}
	switch answer[0] {
	case 'N':
		if mandatory {
			tlsFail(s, errors.New("server refused TLS connection"), fmt.Sprintf("sslmode=%s, but the server does not offer TLS", mode))
			return true
		}
		s.Summary = fmt.Sprintf("sslmode=%s: the server offers no TLS (answered in %s); the bot goes on without it", mode, round(took))
		r.slowAnswer(s, took)
		return false
	case 'S':
	default:
		tlsFail(s, fmt.Errorf("unexpected answer %q to the TLS request", answer[0]), "the server answered the TLS request with something else (not a Postgres server or pooler?)")
		return true
	}
	cfg := tlsCfg.Clone()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if !mandatory {
			s.Status = Warn
			s.Summary = fmt.Sprintf("sslmode=%s: the TLS handshake failed (%v); the bot falls back to no TLS", mode, err)
			return false
		}
		tlsFail(s, err, fmt.Sprintf("sslmode=%s: the TLS handshake failed", mode))
		return true
	}
	st := tc.ConnectionState()
	s.Summary = fmt.Sprintf("sslmode=%s: %s, %s in %s", mode, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), round(time.Since(t0)))
	if len(st.PeerCertificates) > 0 {
		crt := st.PeerCertificates[0]
		s.Details = append(s.Details, fmt.Sprintf("certificate %q issued by %q, valid until %s", crt.Subject.CommonName, crt.Issuer.CommonName, crt.NotAfter.Format("2006-01-02")))
	}
	return false
}

// slowAnswer warns when one answer took a quarter of the attempt timeout:
// a login needs three or four such round trips within it.
func (r *run) slowAnswer(s *Step, took time.Duration) {
	if at := r.opts.Policy.AttemptTimeout; at > 0 && took > at/4 {
		s.Status = Warn
		s.Details = append(s.Details, fmt.Sprintf("one answer took %s: a login needs 3 or 4 round trips, and the bot allows %s for all of them (attempt timeout)", round(took), at))
	}
}

// tlsFail is a P1011 step; the bot logs the same failure under its own code.
func tlsFail(s *Step, err error, summary string) {
	v := verdictOf(asConnectError(err))
	v.setCode(resilience.CodeTLS)
	s.Status, s.Code, s.BotCode, s.Summary = Fail, v.code, v.botCode, summary
	s.Reason = "TLS: " + err.Error()
	s.Advice = adviceFor(resilience.CodeTLS, "")
}
