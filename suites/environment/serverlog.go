package environment

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LogConnections turns Postgres' log_connections on or off and returns
// once a new session has it: the server's own count of the logins it
// received (ProxyConnections).
func (e *Env) LogConnections(ctx context.Context, on bool) error {
	value := ""
	if on {
		value = "on"
	}
	return e.ServerSetting(ctx, "log_connections", value)
}

// settingName is what ServerSetting accepts as a setting's name.
var settingName = regexp.MustCompile(`^[a-z_]+$`)

// ServerSetting sets a Postgres setting with ALTER SYSTEM (value "" resets
// it to the server's default), reloads, and returns once a new session
// sees the value: the reload is asynchronous.
func (e *Env) ServerSetting(ctx context.Context, name, value string) error {
	if !settingName.MatchString(name) {
		return fmt.Errorf("server setting %q: not a setting name", name)
	}
	c, err := pgx.Connect(ctx, e.DSNs().HostPostgres)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	set, want := "ALTER SYSTEM RESET "+name, value
	if value == "" {
		if err := c.QueryRow(ctx, "SELECT boot_val FROM pg_settings WHERE name = $1", name).Scan(&want); err != nil {
			return fmt.Errorf("%s: its default: %w", name, err)
		}
	} else {
		set = fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", name, strings.ReplaceAll(value, "'", "''"))
	}
	for _, sql := range []string{set, "SELECT pg_reload_conf()"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %s: %w", name, sql, err)
		}
	}
	for {
		s, err := pgx.Connect(ctx, e.DSNs().HostPostgres)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var v string
		err = s.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v)
		s.Close(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		case v == want:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is %q, want %q after the reload (the server log says why a reload was refused): %w", name, v, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ProxyConnections returns when postgres logged each connection it
// received from Toxiproxy (the direct path: the bot's, and probes sent
// through it), after since, by the log's own timestamps. Only lines logged
// while log_connections was on exist.
func (e *Env) ProxyConnections(ctx context.Context, since time.Time) ([]time.Time, error) {
	ip, err := e.ToxiproxyIP(ctx)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy's address: %w", err)
	}
	lines, err := e.ServerLog(ctx, since, "connection received: host="+ip+" ")
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(lines))
	for i, l := range lines {
		out[i] = l.At
	}
	return out, nil
}

// ServerLogLine is one line of postgres' log.
type ServerLogLine struct {
	At   time.Time
	Text string
}

// ServerLog returns postgres' log lines that contain mark, logged at or
// after since by their own timestamps (log_line_prefix '%m [%p] ',
// Postgres' default).
func (e *Env) ServerLog(ctx context.Context, since time.Time, mark string) ([]ServerLogLine, error) {
	rc, err := e.Postgres.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres logs: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("postgres logs: %w", err)
	}
	return serverLines(data, mark, since)
}

// serverLines parses postgres log lines "<ts> [pid] LEVEL:  text" that
// contain mark.
func serverLines(logs []byte, mark string, since time.Time) ([]ServerLogLine, error) {
	const layout = "2006-01-02 15:04:05.000 MST"
	var out []ServerLogLine
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, mark) {
			continue
		}
		if len(line) < len(layout) {
			return nil, fmt.Errorf("postgres log: no timestamp on %q", line)
		}
		at, err := time.Parse(layout, line[:len(layout)])
		if err != nil {
			return nil, fmt.Errorf("postgres log: timestamp of %q: %w", line, err)
		}
		if !at.Before(since) {
			out = append(out, ServerLogLine{At: at, Text: line})
		}
	}
	return out, sc.Err()
}
