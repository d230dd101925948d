package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// doc joins lines into a YAML document, so that each case can count its
// line numbers.
func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// header is lines 1-4 of most cases: a valid outage scenario's top.
var header = []string{
	"name: t",                                     // 1
	"description: A test scenario.",               // 2
	"labels: [fault:outage, path:pooler]",         // 3
	"traffic: {chats: 2, rate: 20, duration: 9s}", // 4
}

// outage is a valid fault list (lines 5-10 after header).
var outage = []string{
	"faults:",           // 5
	"  - name: cut",     // 6
	"    at: 1s",        // 7
	"    for: 2s",       // 8
	"    type: outage",  // 9
	"    proxy: pooler", // 10
}

var degraded = []string{"expect: {effect: degraded}"}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestParseValid(t *testing.T) {
	s, err := Parse("t.yaml", doc(join(header, outage, degraded)...))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Name != "t" || s.File != "t.yaml" || len(s.Faults) != 1 || s.Faults[0].Name != "cut" {
		t.Errorf("Parse = %+v", s)
	}
}

// TestParseErrors has one case per error class. Each names the exact
// "file:line: field: message" it expects (want is a prefix of one line of
// the error, or the whole line when it ends the message).
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // default t.yaml
		data []byte
		want []string
	}{
		{
			name: "unknown top-level key",
			data: doc(join(header, outage, degraded, []string{"bogus: 1"})...),
			want: []string{"t.yaml:12: bogus: unknown field (known: name, description, labels, bot, traffic, faults, expect)"},
		},
		{
			name: "unknown key in a fault",
			data: doc(join(header, outage, []string{"    strem: upstream"}, degraded)...),
			want: []string{"t.yaml:11: faults[0].strem: unknown field (known: name, at, for, type, proxy, target, stream, toxicity, flap, attributes, refusal)"},
		},
		{
			name: "unknown key in bot.retry",
			data: doc(join(header, []string{"bot:", "  retry:", "    max_attempt: 3"}, outage, degraded)...),
			want: []string{"t.yaml:7: bot.retry.max_attempt: unknown field"},
		},
		{
			name: "bad duration",
			data: doc(join(header, []string{"faults:", "  - name: cut", "    at: 1s", `    for: 3 s`, "    type: outage", "    proxy: pooler"}, degraded)...),
			want: []string{`t.yaml:8: faults[0].for: invalid duration "3 s"`},
		},
		{
			name: "duration without a unit",
			data: doc(join(header, []string{"faults:", "  - name: cut", "    at: 1s", "    for: 3", "    type: outage", "    proxy: pooler"}, degraded)...),
			want: []string{`t.yaml:8: faults[0].for: invalid duration "3": missing unit (write e.g. 3ms or 3s)`},
		},
		{
			name: "unknown fault type",
			data: doc(join(header, []string{"faults:", "  - name: cut", "    at: 1s", "    for: 2s", "    type: lag", "    proxy: pooler"}, degraded)...),
			want: []string{`t.yaml:9: faults[0].type: unknown fault type "lag" (known: outage, restart, pause, partition, kill, bot-restart, dns, latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, pgerror, client_limit, server_limit, password_rotation, idle_reaping)`},
		},
		{
			name: "unknown proxy",
			data: doc(join(header, []string{"faults:", "  - name: cut", "    at: 1s", "    for: 2s", "    type: outage", "    proxy: primary"}, degraded)...),
			want: []string{`t.yaml:10: faults[0].proxy: unknown proxy "primary" (known: pooler, direct)`},
		},
		{
			name: "missing proxy",
			data: doc(join(header, []string{"faults:", "  - name: cut", "    at: 1s", "    for: 2s", "    type: outage"}, degraded)...),
			want: []string{"t.yaml:6: faults[0].proxy: is required for outage (one of pooler, direct)"},
		},
		{
			name: "unknown attribute",
			data: doc(
				"name: t", "description: d.", "labels: [fault:latency, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - {at: 1s, for: 2s, type: latency, proxy: pooler,", "     attributes: {latency: 300, jiter: 50}}",
				"expect: {effect: slower, slower_by: 100ms}"),
			want: []string{"t.yaml:7: faults[0].attributes.jiter: unknown attribute for latency (known: latency, jitter)"},
		},
		{
			name: "missing required attribute",
			data: doc(
				"name: t", "description: d.", "labels: [fault:bandwidth, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - at: 1s", "    for: 2s", "    type: bandwidth", "    proxy: pooler",
				"expect: {effect: slower, slower_by: 100ms}"),
			want: []string{"t.yaml:6: faults[0].attributes.rate: is required for bandwidth (KB/s)"},
		},
		{
			name: "attribute out of range",
			data: doc(
				"name: t", "description: d.", "labels: [fault:limit_data, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - at: 1s", "    for: 2s", "    type: limit_data", "    proxy: pooler", "    attributes:", "      bytes: 0",
				"expect: {effect: degraded}"),
			want: []string{"t.yaml:11: faults[0].attributes.bytes: must be between 1 and 1000000000 (bytes), got 0"},
		},
		{
			name: "attribute not an integer",
			data: doc(
				"name: t", "description: d.", "labels: [fault:latency, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - at: 1s", "    for: 2s", "    type: latency", "    proxy: pooler", "    attributes: {latency: 2.5}",
				"expect: {effect: slower, slower_by: 100ms}"),
			want: []string{`t.yaml:10: faults[0].attributes.latency: expected an integer, got "2.5"`},
		},
		{
			name: "slicer variation not below the average",
			data: doc(
				"name: t", "description: d.", "labels: [fault:slicer, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - at: 1s", "    for: 2s", "    type: slicer", "    proxy: pooler",
				"    attributes: {average_size: 8, size_variation: 8}",
				"expect: {effect: slower, slower_by: 100ms}"),
			want: []string{"t.yaml:10: faults[0].attributes.size_variation: must be smaller than average_size (8), got 8"},
		},
		{
			name: "overlap on the same proxy names both faults",
			data: doc(join(header, outage, []string{
				"  - name: slow",    // 11
				"    at: 2s",        // 12
				"    for: 2s",       // 13
				"    type: latency", // 14
				"    proxy: pooler", // 15
				"    attributes: {latency: 10}"}, degraded)...),
			want: []string{
				`t.yaml:11: faults[1]: window [2s, 4s) overlaps faults[0] "cut" [1s, 3s) (line 6) on proxy pooler`,
				"t.yaml:3: labels: missing fault:latency",
			},
		},
		{
			name: "overlapping restart and pause of pgbouncer",
			data: doc(
				"name: t", "description: d.", "labels: [fault:restart, fault:pause, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 8s}",
				"faults:",
				"  - {at: 1s, for: 2s, type: pause}",
				"  - {at: 2s, type: restart, target: pgbouncer}",
				"expect: {effect: degraded}"),
			want: []string{`t.yaml:7: faults[1]: window [2s, 5s) overlaps faults[0] "pause-0" [1s, 3s) (line 6) on container pgbouncer`},
		},
		{
			name: "fault past the end of traffic",
			data: doc(join(header[:3], []string{"traffic: {chats: 2, rate: 20, duration: 2500ms}"}, outage, degraded)...),
			want: []string{"t.yaml:8: faults[0].for: the fault ends at 3s, after the traffic (traffic.duration 2.5s)"},
		},
		{
			name: "label not key:value",
			data: doc(join([]string{"name: t", "description: d.", "labels: [outage, path:pooler]", header[3]}, outage, degraded)...),
			want: []string{
				`t.yaml:3: labels[0]: "outage" is not key:value (lower-case key, value of [a-z0-9_-])`,
				"t.yaml:3: labels: missing fault:outage",
			},
		},
		{
			name: "label with an unknown key",
			data: doc(join([]string{"name: t", "description: d.", "labels:", "  - fault:outage", "  - path:pooler", "  - team:db",
				header[3]}, outage, degraded)...),
			want: []string{`t.yaml:6: labels[2]: unknown label key "team" (known: fault, path)`},
		},
		{
			name: "fault label naming no fault of the scenario",
			data: doc(join([]string{"name: t", "description: d.", "labels: [fault:outage, fault:restart, path:pooler]", header[3]}, outage, degraded)...),
			want: []string{`t.yaml:3: labels[1]: "fault:restart" names no fault of this scenario (its kinds: outage)`},
		},
		{
			name: "flapping outage without its label",
			data: doc(join(header, outage, []string{"    flap: 300ms"}, degraded)...),
			want: []string{"t.yaml:3: labels: missing fault:flapping: every fault kind needs its label"},
		},
		{
			name: "path label does not match the database",
			data: doc(join(header, []string{"bot: {database: direct}"}, outage, degraded)...),
			want: []string{
				`t.yaml:3: labels[1]: "path:pooler" does not match bot.database (direct)`,
				"t.yaml:3: labels: need exactly one path label (path:direct), got 1",
			}[:1],
		},
		{
			name: "string where an integer belongs",
			data: doc(join(header[:3], []string{"traffic: {chats: four, rate: 20, duration: 9s}"}, outage, degraded)...),
			want: []string{`t.yaml:4: traffic.chats: expected an integer, got "four"`},
		},
		{
			name: "quoted number where a number belongs",
			data: doc(join(header[:3], []string{`traffic: {chats: 2, rate: "20", duration: 9s}`}, outage, degraded)...),
			want: []string{`t.yaml:4: traffic.rate: expected a number, got "20"`},
		},
		{
			name: "list where a mapping belongs",
			data: doc(join(header, []string{"bot: [pooler]"}, outage, degraded)...),
			want: []string{"t.yaml:5: bot: expected a mapping, got a list"},
		},
		{
			name: "null value",
			data: doc(join(header, outage, []string{"expect:", "  effect:"})...),
			want: []string{"t.yaml:12: expect.effect: has no value"},
		},
		{
			name: "duplicate key",
			data: doc(join(header, []string{"traffic: {chats: 3, rate: 20, duration: 9s}"}, outage, degraded)...),
			want: []string{"t.yaml:5: traffic: duplicate key (first at line 4)"},
		},
		{
			name: "missing required fields",
			data: doc("labels: [fault:none, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}"),
			want: []string{
				"t.yaml:1: description: is required",
				"t.yaml:1: name: is required",
			},
		},
		{
			name: "name differs from the file name",
			file: "dir/other.yaml",
			data: doc(join(header, outage, degraded)...),
			want: []string{`dir/other.yaml:1: name: "t" must equal the file's base name "other"`},
		},
		{
			name: "bad name",
			file: "x",
			data: doc(join([]string{"name: Outage_1"}, header[1:], outage, degraded)...),
			want: []string{`x:1: name: "Outage_1" must be lower-case words`},
		},
		{
			name: "settings that do not belong to the type",
			data: doc(join(header, outage, []string{"    stream: upstream", "    target: bot", "    toxicity: 0.5", "    attributes: {latency: 5}"}, degraded)...),
			want: []string{
				"t.yaml:11: faults[0].stream: only toxics have a stream, not outage",
				"t.yaml:12: faults[0].target: not used by outage, which acts on a proxy",
				"t.yaml:13: faults[0].toxicity: only toxics have a toxicity, not outage",
				"t.yaml:14: faults[0].attributes: only toxics have attributes, not outage",
			},
		},
		{
			name: "flap on a toxic, and flap longer than for",
			data: doc(
				"name: t", "description: d.", "labels: [fault:outage, fault:flapping, fault:latency, path:pooler]",
				"traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:",
				"  - {at: 1s, for: 2s, type: outage, proxy: pooler, flap: 2s}",
				"  - {at: 4s, for: 2s, type: latency, proxy: pooler, attributes: {latency: 9}, flap: 1s}",
				"expect: {effect: degraded}"),
			want: []string{
				"t.yaml:6: faults[0].flap: must be at least 10ms and shorter than for (2s), got 2s",
				"t.yaml:7: faults[1].flap: only an outage can flap, not latency",
			},
		},
		{
			name: "pgerror: refusal missing, unknown, or on another type; upstream",
			data: doc(
				"name: t", "description: d.", "labels: [fault:pgerror, fault:outage, path:pooler]",
				"traffic: {chats: 2, rate: 20, duration: 19s}",
				"faults:",
				"  - {at: 1s, for: 1s, type: pgerror, proxy: pooler}",
				"  - {at: 3s, for: 1s, type: pgerror, proxy: pooler, refusal: emaxconns}",
				"  - {at: 5s, for: 1s, type: pgerror, proxy: pooler, refusal: enotfound, stream: upstream}",
				"  - {at: 7s, for: 1s, type: outage, proxy: pooler, refusal: emaxconn}",
				"  - {at: 9s, for: 1s, type: pgerror, proxy: pooler, refusal: ecircuitbreaker, attributes: {delay: -1}}",
				"expect: {effect: degraded}"),
			want: []string{
				"t.yaml:6: faults[0].refusal: is required for pgerror (one of emaxconn, enotfound, ecircuitbreaker, echeckouttimeout)",
				`t.yaml:7: faults[1].refusal: unknown refusal "emaxconns" (known: emaxconn, enotfound, ecircuitbreaker, echeckouttimeout)`,
				"t.yaml:8: faults[2].stream: pgerror works on the downstream stream only, got upstream",
				"t.yaml:9: faults[3].refusal: only pgerror has a refusal, not outage",
				"t.yaml:10: faults[4].attributes.delay: must be between 0 and 1000000000 (ms), got -1",
			},
		},
		{
			name: "toxicity out of range",
			data: doc(
				"name: t", "description: d.", "labels: [fault:latency, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - {at: 1s, for: 2s, type: latency, proxy: pooler, toxicity: 0, attributes: {latency: 9}}",
				"expect: {effect: slower, slower_by: 1ms}"),
			want: []string{"t.yaml:6: faults[0].toxicity: must be above 0 and at most 1, got 0"},
		},
		{
			name: "restart of an unknown container",
			data: doc(
				"name: t", "description: d.", "labels: [fault:restart, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - {at: 1s, type: restart, target: redis, proxy: pooler}",
				"expect: {effect: degraded}"),
			want: []string{
				"t.yaml:6: faults[0].proxy: not used by restart, which acts on a container (target)",
				`t.yaml:6: faults[0].target: restart cannot act on "redis" (allowed: postgres, pgbouncer)`,
			},
		},
		{
			name: "kill of a database container",
			data: doc(
				"name: t", "description: d.", "labels: [fault:kill, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:", "  - {at: 1s, type: kill, target: postgres}",
				"expect: {effect: unanswered}"),
			want: []string{`t.yaml:6: faults[0].target: kill cannot act on "postgres" (allowed: bot)`},
		},
		{
			name: "bot-restart overlapping a partition of the bot",
			data: doc(
				"name: t", "description: d.", "labels: [fault:partition, fault:bot-restart, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 12s}",
				"faults:",
				"  - {name: split, at: 1s, for: 3s, type: partition}",
				"  - {name: deploy, at: 2s, type: bot-restart}",
				"expect: {effect: degraded}"),
			want: []string{`t.yaml:7: faults[1]: window [2s, 5s) overlaps faults[0] "split" [1s, 4s) (line 6) on container bot`},
		},
		{
			name: "unanswered without a fault that takes the bot down",
			data: doc(join(header, outage, []string{"expect: {effect: unanswered}"})...),
			want: []string{"t.yaml:11: expect.effect: unanswered needs a fault that takes the bot down (kill or bot-restart)"},
		},
		{
			name: "spool path set by hand",
			data: doc(join(header, []string{"bot: {env: {SPOOL_PATH: /tmp/x}}"}, outage, degraded)...),
			want: []string{"t.yaml:5: bot.env.SPOOL_PATH: not allowed here: the environment mounts the spool's volume and sets its path"},
		},
		{
			name: "duplicate fault names",
			data: doc(
				"name: t", "description: d.", "labels: [fault:outage, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}",
				"faults:",
				"  - {name: cut, at: 1s, for: 1s, type: outage, proxy: pooler}",
				"  - {name: cut, at: 3s, for: 1s, type: outage, proxy: pooler}",
				"expect: {effect: degraded}"),
			want: []string{`t.yaml:7: faults[1].name: "cut" is also the name of faults[0]`},
		},
		{
			name: "effect none with faults, slower_by without slower",
			data: doc(join(header, outage, []string{"expect: {effect: none, slower_by: 1s}"})...),
			want: []string{
				"t.yaml:11: expect.effect: none is only for the baseline without faults",
				"t.yaml:11: expect.slower_by: only used with effect slower",
			},
		},
		{
			name: "cache_expiry without a limit",
			data: doc(join(header, outage, []string{"expect: {effect: degraded, cache_expiry: true}"})...),
			want: []string{"t.yaml:11: expect.cache_expiry: needs bot.prompt_max_staleness above 0"},
		},
		{
			name: "cache_expiry with a fault shorter than the limit and no default allowed",
			data: doc(join(header, []string{"bot: {prompt_max_staleness: 5s}"}, outage,
				[]string{"expect: {effect: degraded, cache_expiry: true, prompt_sources: {fault: [cached]}}"})...),
			want: []string{
				"t.yaml:12: expect.cache_expiry: needs a fault longer than bot.prompt_max_staleness (5s)",
				`t.yaml:12: expect.cache_expiry: needs "default" in expect.prompt_sources.fault`,
			},
		},
		{
			name: "missing effect",
			data: doc(join(header, outage)...),
			want: []string{"t.yaml:1: expect.effect: is required"},
		},
		{
			name: "slower without slower_by",
			data: doc(join(header, outage, []string{"expect: {effect: slower}"})...),
			want: []string{"t.yaml:11: expect.slower_by: must be above 0 with effect slower, got 0s"},
		},
		{
			name: "faults without the none label, none label without faults",
			data: doc("name: t", "description: d.", "labels: [fault:outage, path:pooler]", "traffic: {chats: 2, rate: 20, duration: 9s}"),
			want: []string{
				`t.yaml:3: labels[0]: "fault:outage" names no fault of this scenario (its kinds: none)`,
				"t.yaml:3: labels: missing fault:none",
			},
		},
		{
			name: "expect fields",
			data: doc(join(header, outage, []string{
				"expect:",                         // 11
				"  effect: degraded",              // 12
				"  attempts_per_failed_lookup: 4", // 13
				"  prompt_sources: {fault: [cached, stale, cached]}",                          // 14
				"  codes: {cut: {must: [P1001, P9999], may: [P1001]}, nope: {must: [P1001]}}", // 15
				"  log_lines: ['  ']",         // 16
				"  min_messages_per_fault: 0", // 17
				"  recovery_within: 0s",       // 18
			})...),
			want: []string{
				"t.yaml:13: expect.attempts_per_failed_lookup: must be between 1 and the policy's max attempts (3), got 4",
				`t.yaml:14: expect.prompt_sources.fault[1]: unknown prompt source "stale" (known: custom, cached, default)`,
				`t.yaml:14: expect.prompt_sources.fault[2]: "cached" is listed twice`,
				`t.yaml:15: expect.codes.cut.must[1]: unknown Prisma code "P9999"`,
				`t.yaml:15: expect.codes.cut.may[0]: "P1001" is already in must`,
				`t.yaml:15: expect.codes.nope: names no fault of this scenario (its faults: cut)`,
				"t.yaml:16: expect.log_lines[0]: must not be blank",
				"t.yaml:17: expect.min_messages_per_fault: must be at least 1, got 0",
				"t.yaml:18: expect.recovery_within: must be above 0, got 0s",
			},
		},
		{
			name: "bot settings",
			data: doc(join(header, []string{
				"bot:",                // 5
				"  database: replica", // 6
				"  url_params: {connection_limit: '0', pool_timeout: soon, tls: x}", // 7
				"  retry: {base_delay: 1s, max_delay: 500ms}",                       // 8
				"  breaker: {failure_threshold: -1}",                                // 9
				"  env: {DB_RETRY_BUDGET: 1s, DATABASE_URL: x, lower: y}",           // 10
			}, outage, degraded)...),
			want: []string{
				`t.yaml:3: labels[1]: "path:pooler" does not match bot.database (replica)`,
				`t.yaml:6: bot.database: "replica" is not one of pooler, direct`,
				`t.yaml:7: bot.url_params.connection_limit: "0" is not a positive integer`,
				`t.yaml:7: bot.url_params.pool_timeout: "soon" is not a number of seconds between 0 and 86400`,
				"t.yaml:7: bot.url_params.tls: unknown Prisma parameter",
				"t.yaml:8: bot.retry.max_delay: must be >= BaseDelay (1s), got 500ms",
				"t.yaml:9: bot.breaker.failure_threshold: must be between 0 and 2147483647, got -1",
				"t.yaml:10: bot.env.DATABASE_URL: not allowed here: the environment builds it",
				"t.yaml:10: bot.env.DB_RETRY_BUDGET: not allowed here: use bot.retry and bot.breaker",
				"t.yaml:10: bot.env.lower: variable names are [A-Z][A-Z0-9_]*",
			},
		},
		{
			name: "policy error on a field the scenario leaves at its default",
			data: doc(join(header, []string{"bot:", "  retry: {base_delay: 3s}"}, outage, degraded)...),
			want: []string{"t.yaml:6: bot.retry.max_delay: must be >= BaseDelay (3s), got 2s (this field is not set: the bot's default is used)"},
		},
		{
			name: "traffic out of range",
			data: doc(join(header[:3], []string{"traffic: {chats: 0, rate: 0, duration: 0s, concurrency: 2000, commands: {setprompt: 0.4, reset: 0.2, ping: 0.1}}"}, outage, degraded)...),
			want: []string{
				"t.yaml:4: traffic.chats: must be between 1 and 1000, got 0",
				"t.yaml:4: traffic.commands: fractions add up to 0.6; at most 0.5",
				"t.yaml:4: traffic.commands.ping: unknown command (known: help, prompt, reset, setprompt)",
				"t.yaml:4: traffic.concurrency: must be between 1 and 1000, got 2000",
				"t.yaml:4: traffic.duration: must be above 0 and at most 10m0s, got 0s",
				"t.yaml:4: traffic.rate: must be a number of messages per second above 0",
			},
		},
		{
			name: "too little traffic in each phase",
			data: doc(join(header[:3], []string{"traffic: {chats: 2, rate: 2, duration: 5s}"}, outage, degraded)...),
			want: []string{
				"t.yaml:4: traffic.duration: the recovery phase (after the last fault ends at 3s, plus expect.recovery_within 5s) holds ~0.0 messages",
				"t.yaml:7: faults[0].at: the healthy phase before the first fault holds ~2.0 messages at traffic.rate 2/s",
				"t.yaml:8: faults[0].for: at traffic.rate 2/s the 2s window holds ~4.0 messages, fewer than expect.min_messages_per_fault (5)",
			},
		},
		{
			name: "unsupported tag",
			data: doc(join([]string{"name: t", "description: !secret d."}, header[2:], outage, degraded)...),
			want: []string{"t.yaml:2: description: unsupported YAML tag !secret"},
		},
		{
			name: "yes is not a boolean",
			data: doc(join(header[:3], []string{"traffic: {chats: 2, rate: 20, duration: 9s, custom_prompts: yes}"}, outage, degraded)...),
			want: []string{`t.yaml:4: traffic.custom_prompts: expected true or false, got "yes"`},
		},
		{
			name: "key that is not a string",
			data: doc(join(header, outage, degraded, []string{"? [a, b]", ": 1"})...),
			want: []string{"t.yaml:12: keys must be plain strings, got a list"},
		},
		{
			name: "two path labels",
			data: doc(join([]string{"name: t", "description: d.", "labels: [fault:outage, path:pooler, path:direct]"}, header[3:], outage, degraded)...),
			want: []string{
				"t.yaml:3: labels: need exactly one path label (path:pooler), got 2",
				`t.yaml:3: labels[2]: "path:direct" does not match bot.database (pooler)`,
			},
		},
		{
			name: "no labels",
			data: doc(join([]string{"name: t", "description: d.", "labels: []"}, header[3:], outage, degraded)...),
			want: []string{"t.yaml:3: labels: are required: fault:<kind> for each fault kind and path:pooler"},
		},
		{
			name: "missing type, missing for",
			data: doc(join(header, []string{"faults:", "  - {at: 1s, proxy: pooler}", "  - {at: 4s, type: outage, proxy: pooler}"}, degraded)...),
			want: []string{
				"t.yaml:6: faults[0].type: is required (one of outage, restart, pause, partition, kill, bot-restart, dns, latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, pgerror, client_limit, server_limit, password_rotation, idle_reaping)",
				"t.yaml:7: faults[1].for: is required: how long the outage lasts",
			},
		},
		{
			name: "empty url parameter",
			data: doc(join(header, []string{"bot: {url_params: {schema: ''}}"}, outage, degraded)...),
			want: []string{"t.yaml:5: bot.url_params.schema: must be 1 to 63 bytes, got 0"}, // the bot's own check (resilience/prismaurl)
		},
		{
			name: "errors past the 50th are counted",
			data: doc(join(header, outage, degraded, []string{"bot: {env: {" + lowerKeys(60) + "}}"})...),
			want: []string{"t.yaml: 10 more problems not shown"},
		},
		{
			name: "YAML syntax error",
			data: doc("name: t", "description: [unclosed", "labels: x"),
			want: []string{"t.yaml:2: YAML syntax: did not find expected ',' or ']'"},
		},
		{
			name: "two documents",
			data: doc(join(header, outage, degraded, []string{"---", "name: u"})...),
			want: []string{"t.yaml:12: more than one YAML document: a scenario file holds exactly one"},
		},
		{
			name: "empty file",
			data: []byte("# nothing\n"),
			want: []string{"t.yaml: empty file"},
		},
		{
			name: "not a mapping",
			data: doc("- name: t"),
			want: []string{"t.yaml:1: expected a scenario mapping (name, description, labels, traffic, faults, expect), got a list"},
		},
		{
			name: "merge keys",
			data: doc(join(header, []string{"x: &base {effect: degraded}", "expect:", "  <<: *base"}, outage)...),
			want: []string{
				"t.yaml:5: x: unknown field",
				"t.yaml:7: expect: merge keys (<<) are not supported: write the fields out",
			},
		},
		{
			// The schema has no recursive type, so a self-referencing
			// alias ends in a type error rather than a loop.
			name: "alias that contains itself",
			data: doc(join(header, outage, []string{"expect: &e {effect: degraded, log_lines: *e}"})...),
			want: []string{"t.yaml:11: expect.log_lines: expected a list, got a mapping"},
		},
		{
			name: "alias bomb",
			data: aliasBomb(),
			want: []string{"t.yaml:5: faults[96].attributes.k13: the file expands to more than 20000 YAML nodes (check its aliases)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "t.yaml"
			}
			_, err := Parse(file, tt.data)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.data)
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing error line %q in:\n%v", w, err)
				}
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, file+":") {
					t.Errorf("error line %q does not start with %q", l, file+":")
				}
			}
		})
	}
}

// TestParseReportsEveryError checks that one file's problems are all
// reported, each as an *Error, sorted by line.
func TestParseReportsEveryError(t *testing.T) {
	data := doc(
		"name: t",
		"description: d.",
		"labels: [fault:latency, path:pooler]",
		"traffic: {chats: 2, rate: 20, duration: 9s, bogus: 1}", // 4
		"faults:",
		"  - at: 1s",
		"    for: 2 s", // 7
		"    type: latency",
		"    proxy: pooler",
		"    attributes: {latency: 5, spike: 1}", // 10
		"expect: {effect: slower}",               // 11
	)
	_, err := Parse("t.yaml", data)
	if err == nil {
		t.Fatal("Parse accepted a file with four errors")
	}
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *Error
		if !errors.As(e, &se) {
			t.Fatalf("%v is not an *Error", e)
		}
		lines = append(lines, se.Line)
	}
	want := []int{4, 7, 10, 11}
	if len(lines) != len(want) {
		t.Fatalf("got errors on lines %v, want %v:\n%v", lines, want, err)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("got errors on lines %v, want %v:\n%v", lines, want, err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	valid := doc(join(header, outage, degraded)...)
	write := func(t *testing.T, dir, name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("sorted by name, other files ignored", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "t.yaml", valid)
		write(t, dir, "a.yaml", []byte(strings.Replace(string(valid), "name: t", "name: a", 1)))
		write(t, dir, "notes.txt", []byte("not a scenario"))
		list, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "a" || list[1].Name != "t" {
			t.Fatalf("LoadDir = %d scenarios %v", len(list), list)
		}
		if list[0].File != filepath.Join(dir, "a.yaml") {
			t.Errorf("File = %q", list[0].File)
		}
	})
	t.Run("every file's errors, .yml rejected", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "t.yaml", valid)
		write(t, dir, "b.yaml", []byte(strings.Replace(string(valid), "name: t", "name: b\nbogus: 1", 1)))
		write(t, dir, "c.yaml", []byte(strings.Replace(string(valid), "for: 2s", "for: 2", 1)))
		write(t, dir, "d.yml", valid)
		_, err := LoadDir(dir)
		if err == nil {
			t.Fatal("LoadDir accepted broken files")
		}
		for _, w := range []string{
			filepath.Join(dir, "b.yaml") + ":2: bogus: unknown field",
			filepath.Join(dir, "c.yaml") + `:8: faults[0].for: invalid duration "2"`,
			filepath.Join(dir, "d.yml") + ": scenario files use the .yaml extension",
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("missing %q in:\n%v", w, err)
			}
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		if _, err := LoadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml scenario files") {
			t.Fatalf("LoadDir(empty) = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Load(missing) = %v, want ErrNotExist", err)
		}
	})
}

// aliasBomb is a small file whose aliases expand to 200 faults of 200
// attributes each.
func aliasBomb() []byte {
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d: 1", i)
	}
	return doc(join(header[:3], []string{
		"traffic: {chats: 2, rate: 20, duration: 9s}",                           // 4
		"x: &a {" + strings.Join(keys, ", ") + "}",                              // 5
		"y: &f {at: 1s, for: 1s, type: latency, proxy: pooler, attributes: *a}", // 6
		"faults: [" + strings.Repeat("*f, ", 199) + "*f]",                       // 7
	})...)
}

// lowerKeys is "k0: 1, k1: 1, ..." with n keys, each an invalid env name.
func lowerKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d: 1", i)
	}
	return strings.Join(keys, ", ")
}
