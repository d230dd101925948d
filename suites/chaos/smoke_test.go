//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/environment"
)

// connect opens one pgx connection. PgBouncer in transaction mode cannot
// keep named prepared statements, so the pooler path uses exec mode.
func connect(ctx context.Context, dsn string, params map[string]string) (*pgx.Conn, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return pgx.Connect(ctx, u.String())
}

func mustConnect(ctx context.Context, dsn string) *pgx.Conn {
	GinkgoHelper()
	conn, err := connect(ctx, dsn, nil)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { _ = conn.Close(ctx) })
	return conn
}

// clientAddr is the address postgres sees the session coming from: the
// pgbouncer container on the pooler path, toxiproxy on the direct path.
func clientAddr(ctx context.Context, conn *pgx.Conn) string {
	GinkgoHelper()
	var addr string
	Expect(conn.QueryRow(ctx, "SELECT host(inet_client_addr())").Scan(&addr)).To(Succeed())
	return addr
}

func timeQuery(ctx context.Context, conn *pgx.Conn) time.Duration {
	GinkgoHelper()
	start := time.Now()
	var one int
	Expect(conn.QueryRow(ctx, "SELECT 1").Scan(&one)).To(Succeed())
	Expect(one).To(Equal(1))
	return time.Since(start)
}

// stackContainer holds the specs of the stack itself, which run against
// any target.
const stackContainer = "the chaos environment"

var _ = Describe(stackContainer, Label("smoke"), func() {
	It("routes the pooler proxy through pgbouncer and the direct proxy straight to postgres", func(ctx SpecContext) {
		pgbouncerIP, err := stack.PgBouncer.ContainerIP(ctx)
		Expect(err).NotTo(HaveOccurred())
		toxiproxyIP, err := stack.ToxiproxyIP(ctx)
		Expect(err).NotTo(HaveOccurred())

		Expect(clientAddr(ctx, mustConnect(ctx, stack.DSNs().HostPooler))).To(Equal(pgbouncerIP),
			"the pooler path should reach postgres from the pgbouncer container")
		Expect(clientAddr(ctx, mustConnect(ctx, stack.DSNs().HostDirect))).To(Equal(toxiproxyIP),
			"the direct path should reach postgres from the toxiproxy container")
	})

	It("runs pgbouncer in transaction mode, as Supabase's pooler on 6543", func(ctx SpecContext) {
		admin, err := url.Parse(stack.DSNs().HostPooler)
		Expect(err).NotTo(HaveOccurred())
		admin.Path = "/pgbouncer"
		conn, err := pgx.Connect(ctx, admin.String()+"&default_query_exec_mode=simple_protocol")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = conn.Close(ctx) })
		rows, err := conn.Query(ctx, "SHOW CONFIG")
		Expect(err).NotTo(HaveOccurred())
		config := map[string]string{}
		for rows.Next() {
			vals, err := rows.Values()
			Expect(err).NotTo(HaveOccurred())
			if key, ok := vals[0].(string); ok {
				config[key] = fmt.Sprint(vals[1])
			}
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
		Expect(config).To(HaveKeyWithValue("pool_mode", "transaction"))
	})

	It("slows every query by at least the latency of a 300 ms toxic", func(ctx SpecContext) {
		conn := mustConnect(ctx, stack.DSNs().HostPooler)
		before := timeQuery(ctx, conn)

		_, err := stack.Proxies[environment.ProxyPooler].AddToxic("latency", "latency", "downstream", 1,
			toxiproxy.Attributes{"latency": 300})
		Expect(err).NotTo(HaveOccurred())
		during := timeQuery(ctx, conn)

		Expect(during).To(BeNumerically(">=", 300*time.Millisecond),
			"a query under a 300 ms downstream latency toxic cannot answer sooner")
		Expect(during-before).To(BeNumerically(">=", 250*time.Millisecond),
			"the toxic should visibly raise the query time (before %s, during %s)", before, during)

		Expect(stack.ResetFaults(ctx)).To(Succeed())
		Expect(timeQuery(ctx, conn)).To(BeNumerically("<", 300*time.Millisecond),
			"removing the toxic should remove its delay")
	})

	It("turns a disabled proxy into a connect error within the connect timeout", func(ctx SpecContext) {
		Expect(stack.Proxies[environment.ProxyPooler].Disable()).To(Succeed())

		const connectTimeout = 2 * time.Second
		start := time.Now()
		_, err := connect(ctx, stack.DSNs().HostPooler, map[string]string{"connect_timeout": "2"})
		elapsed := time.Since(start)

		var connectErr *pgconn.ConnectError
		Expect(errors.As(err, &connectErr)).To(BeTrue(), "want a *pgconn.ConnectError, got %v", err)
		Expect(elapsed).To(BeNumerically("<", connectTimeout+time.Second),
			"the connect error should come within connect_timeout (plus a margin)")
	})

	It("breaks an in-flight connection with reset_peer", func(ctx SpecContext) {
		conn := mustConnect(ctx, stack.DSNs().HostPooler)
		timeQuery(ctx, conn)

		_, err := stack.Proxies[environment.ProxyPooler].AddToxic("reset", "reset_peer", "upstream", 1,
			toxiproxy.Attributes{"timeout": 0})
		Expect(err).NotTo(HaveOccurred())

		var one int
		err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
		Expect(err).To(HaveOccurred(), "a query on a reset connection must fail")
		Expect(conn.IsClosed()).To(BeTrue(), "pgx should mark the reset connection closed")
	})

	It("recovers both paths after the faults are reset", func(ctx SpecContext) {
		pooler := stack.Proxies[environment.ProxyPooler]
		direct := stack.Proxies[environment.ProxyDirect]
		Expect(pooler.Disable()).To(Succeed())
		_, err := direct.AddToxic("blackhole", "timeout", "upstream", 1, toxiproxy.Attributes{"timeout": 0})
		Expect(err).NotTo(HaveOccurred())
		for _, dsn := range []string{stack.DSNs().HostPooler, stack.DSNs().HostDirect} {
			_, err := connect(ctx, dsn, map[string]string{"connect_timeout": "1"})
			Expect(err).To(HaveOccurred(), "both paths should be broken before the reset")
		}

		Expect(stack.ResetFaults(ctx)).To(Succeed())

		for _, dsn := range []string{stack.DSNs().HostPooler, stack.DSNs().HostDirect} {
			Expect(timeQuery(ctx, mustConnect(ctx, dsn))).To(BeNumerically(">", 0))
		}
	})
})
