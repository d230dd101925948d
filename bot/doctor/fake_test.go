package doctor

import (
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/p1001/p1001/internal/fakepg"
)

// The doctor's tests run against fakepg servers; these scripts answer the
// doctor's own queries.

// postgresAnswers answers the doctor's queries as Postgres itself would: the
// backend pid is the cancel key's (fakepg's default, 4242, for Postgres), a
// session SET survives.
func postgresAnswers(pid int, used, maxConns int) func(string) fakepg.Reply {
	var mu sync.Mutex
	marker := ""
	return func(sql string) fakepg.Reply {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(sql, "SET p1001.doctor_marker = "):
			marker = strings.Trim(strings.TrimPrefix(sql, "SET p1001.doctor_marker = "), "'")
			return fakepg.Reply{Tag: "SET"}
		case strings.Contains(sql, "pg_backend_pid"):
			return fakepg.Reply{Columns: []uint32{fakepg.OIDInt4, fakepg.OIDInt4}, Rows: [][]string{{itoa(pid), "5432"}}}
		case strings.Contains(sql, "current_setting('p1001.doctor_marker'"):
			return fakepg.Text(marker)
		case strings.Contains(sql, "pg_stat_activity"):
			return fakepg.Reply{Columns: []uint32{fakepg.OIDInt4, fakepg.OIDInt4, fakepg.OIDInt4, fakepg.OIDBool, fakepg.OIDInt4, fakepg.OIDInt4},
				Rows: [][]string{{itoa(used), itoa(maxConns), "3", "f", "-1", "1"}}}
		case sql == "SELECT 1":
			return fakepg.Reply{Columns: []uint32{fakepg.OIDInt4}, Rows: [][]string{{"1"}}}
		}
		return fakepg.Reply{Err: fakepg.Error("42601", "fake: unexpected "+sql)}
	}
}

// portOf is the port of a host:port.
func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func itoa(n int) string { return strconv.Itoa(n) }
