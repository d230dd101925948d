package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/p1001/p1001/suites/history"
)

// ParseLogs reads the bot's slog JSON lines. A line that is not JSON (a
// panic, say) is kept as its text in Msg, so nothing the bot said is lost.
func ParseLogs(data []byte) []history.LogLine {
	var lines []history.LogLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(text), &fields); err != nil {
			lines = append(lines, history.LogLine{Msg: text})
			continue
		}
		line := history.LogLine{}
		if t, ok := fields["time"].(string); ok {
			line.Time, _ = time.Parse(time.RFC3339Nano, t)
		}
		line.Level, _ = fields["level"].(string)
		line.Msg, _ = fields["msg"].(string)
		delete(fields, "time")
		delete(fields, "level")
		delete(fields, "msg")
		if len(fields) > 0 {
			line.Attrs = fields
		}
		lines = append(lines, line)
	}
	return lines
}
