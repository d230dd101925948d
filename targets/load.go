package targets

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/p1001/p1001/internal/strictyaml"
	"github.com/p1001/p1001/suites/botapi"
)

// Ext is the extension of target files.
const Ext = ".yaml"

// Error is one problem of a target file: "file:line: field: message".
type Error = strictyaml.Error

// Load reads and parses one target file.
func Load(path string) (Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Target{}, fmt.Errorf("read target: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, completes and validates one target. name is the file's
// path, for the messages, for Target.File and for the name check; the
// schema file is found relative to it. Every problem is returned, joined.
func Parse(name string, data []byte) (Target, error) {
	probs := strictyaml.NewProblems(name)
	root := strictyaml.ParseDocument(data, probs, "target",
		"a mapping with name, description, image, database, health, messages")
	if root == nil {
		return Target{}, probs.Err()
	}
	if root.Kind != yaml.MappingNode {
		probs.Add(root.Line, "", "expected a target mapping, got %s", strictyaml.KindName(root))
		return Target{}, probs.Err()
	}
	var t Target
	d := strictyaml.NewDecoder(probs)
	d.Decode("", root, reflect.ValueOf(&t).Elem())
	if d.TooBig() {
		return Target{}, probs.Err()
	}
	t.File = name
	t.applyDefaults()
	v := &validator{strictyaml.Validator{Probs: probs, Pos: d.Pos}}
	t.validate(v)
	if strings.HasSuffix(name, Ext) && t.Name != "" {
		if base := strings.TrimSuffix(filepath.Base(name), Ext); t.Name != base {
			v.Errf("name", "%q must equal the file's base name %q", t.Name, base)
		}
	}
	if err := probs.Err(); err != nil {
		return Target{}, err
	}
	return t, nil
}

func (t *Target) applyDefaults() {
	set := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	if t.Image.Port == 0 {
		t.Image.Port = DefaultPort
	}
	set(&t.Database.URLEnv, DefaultURLEnv)
	set(&t.Database.URLStyle, DefaultURLStyle)
	set(&t.Database.Migrations, DefaultMigrations)
	if t.Health.Status == 0 {
		t.Health.Status = DefaultHealthStatus
	}
	set(&t.Messages.Method, DefaultMethod)
	set(&t.Messages.ContentType, DefaultContentType)
	set(&t.Logs.Format, DefaultLogFormat)
}

// validator is the loader's strictyaml.Validator, with its own checks.
type validator struct{ strictyaml.Validator }

func (v *validator) required(field, value string) bool {
	if value == "" {
		v.Errf(field, "is required")
		return false
	}
	return true
}

func (v *validator) oneOf(field, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.Errf(field, "%q: want one of %s", value, strings.Join(allowed, ", "))
}

var (
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sqlIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	method   = regexp.MustCompile(`^[A-Z]+$`)
	// The names a timestamp's Go layout may not lack.
	layoutParts = []string{"2006", "15", "04", "05"}
)

func (t *Target) validate(v *validator) {
	if t.Policy != nil {
		if err := t.Policy.Resolved().Validate(); err != nil {
			v.Errf("policy", "%v", err)
		}
	}
	v.required("name", t.Name)
	v.required("description", t.Description)

	v.required("image.name", t.Image.Name)
	if t.Image.NameEnv != "" && !envName.MatchString(t.Image.NameEnv) {
		v.Errf("image.name_env", "%q is not an environment variable name", t.Image.NameEnv)
	}
	if t.Image.Port < 1 || t.Image.Port > 65535 {
		v.Errf("image.port", "%d: want a port, 1 to 65535", t.Image.Port)
	}
	for k := range t.Image.Env {
		if !envName.MatchString(k) {
			v.Errf("image.env."+k, "%q is not an environment variable name", k)
		}
	}
	if t.Image.TokenEnv != "" && !envName.MatchString(t.Image.TokenEnv) {
		v.Errf("image.token_env", "%q is not an environment variable name", t.Image.TokenEnv)
	}
	if t.Image.Volume != "" && !strings.HasPrefix(t.Image.Volume, "/") {
		v.Errf("image.volume", "%q: want an absolute path in the container", t.Image.Volume)
	}

	db := t.Database
	if !envName.MatchString(db.URLEnv) {
		v.Errf("database.url_env", "%q is not an environment variable name", db.URLEnv)
	}
	v.oneOf("database.url_style", db.URLStyle, StylePrisma, StyleLibpq)
	v.oneOf("database.migrations", db.Migrations, MigrationsSelf, MigrationsSQL)
	switch {
	case db.Migrations == MigrationsSQL && db.Schema == "":
		v.Errf("database.schema", "is required with migrations: sql (the SQL file the harness applies)")
	case db.Migrations != MigrationsSQL && db.Schema != "":
		v.Errf("database.schema", "only with migrations: sql (the bot migrates on its own)")
	}
	for field, q := range map[string]string{"database.seed_prompt": db.SeedPrompt, "database.prompt_query": db.PromptQuery} {
		if q != "" && !strings.Contains(q, "$1") {
			v.Errf(field, "the query takes the chat id as $1")
		}
	}
	if db.SeedPrompt != "" && !strings.Contains(db.SeedPrompt, "$2") {
		v.Errf("database.seed_prompt", "the query takes the prompt as $2")
	}
	if m := db.MessageLog; m != nil {
		for _, c := range []struct{ field, value string }{
			{"table", m.Table}, {"chat", m.Chat}, {"direction", m.Direction}, {"body", m.Body},
		} {
			if v.required("database.message_log."+c.field, c.value) && !sqlIdent.MatchString(c.value) {
				v.Errf("database.message_log."+c.field, "%q: want a lower-case SQL name", c.value)
			}
		}
		v.required("database.message_log.in", m.In)
		v.required("database.message_log.out", m.Out)
	}

	if v.required("health.path", t.Health.Path) {
		v.path("health.path", t.Health.Path)
	}
	if http.StatusText(t.Health.Status) == "" {
		v.Errf("health.status", "%d is not an HTTP status", t.Health.Status)
	}
	if t.Health.Readyz != "" {
		v.path("health.readyz", t.Health.Readyz)
	}
	if t.Metrics.Path != "" {
		v.path("metrics.path", t.Metrics.Path)
	}

	t.API = botapi.API{
		Method: t.Messages.Method, Path: t.Messages.Path, Body: t.Messages.Body,
		ContentType: t.Messages.ContentType,
		Health:      t.Health.Path, HealthStatus: t.Health.Status, Readyz: t.Health.Readyz,
		Metrics: t.Metrics.Path,
	}
	t.validateMessages(v)
	t.validateCommands(v)
	t.validateLogs(v)
}

// path checks an HTTP path.
func (v *validator) path(field, p string) {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " ?#") {
		v.Errf(field, "%q: want a path such as /healthz (no query)", p)
	}
}

func (t *Target) validateMessages(v *validator) {
	m := t.Messages
	if !method.MatchString(m.Method) {
		v.Errf("messages.method", "%q: want an HTTP method such as POST", m.Method)
	}
	if v.required("messages.path", m.Path) {
		v.path("messages.path", strings.ReplaceAll(m.Path, botapi.PlaceholderChat, "c"))
		if strings.Count(m.Path, botapi.PlaceholderChat) != 1 {
			v.Errf("messages.path", "%q: want {chat} once", m.Path)
		}
	}
	if v.required("messages.body", m.Body) {
		if strings.Count(m.Body, botapi.PlaceholderText) != 1 {
			v.Errf("messages.body", "%q: want {text} once", m.Body)
		} else if botapi.IsJSON(m.ContentType) {
			// The text goes in escaped, so the body must be JSON around
			// it: try one with every character JSON escapes.
			if body := t.API.MessageBody("a \"quoted\"\\\n\ttext"); !json.Valid(body) {
				v.Errf("messages.body", "%q is not JSON once {text} is put in (write it inside a JSON string: {\"text\": \"{text}\"})", m.Body)
			}
		}
	}
	if v.required("messages.reply", m.Reply) && m.Reply != Raw {
		t.API.Reply.Text = v.jsonPath("messages.reply", m.Reply)
	}
	f := t.ReplyFields
	if m.Reply == Raw && f != (ReplyFields{}) {
		v.Errf("reply_fields", "need a JSON reply: messages.reply is raw")
	}
	r := &t.API.Reply
	for _, p := range []struct {
		field, path string
		into        *botapi.JSONPath
	}{
		{"prompt_source", f.PromptSource, &r.PromptSource},
		{"degraded", f.Degraded, &r.Degraded},
		{"attempts", f.Attempts, &r.Attempts},
		{"code", f.Code, &r.Code},
		{"prompt_age_ms", f.PromptAgeMS, &r.PromptAgeMS},
		{"meta", f.Meta, &r.Meta},
		{"command", f.Command, &r.Command},
	} {
		if p.path != "" {
			*p.into = v.jsonPath("reply_fields."+p.field, p.path)
		}
	}
}

func (v *validator) jsonPath(field, s string) botapi.JSONPath {
	p, err := botapi.ParseJSONPath(s)
	if err != nil {
		v.Errf(field, "%v", err)
	}
	return p
}

func (t *Target) validateCommands(v *validator) {
	c := t.Commands
	if c == (Commands{}) {
		return
	}
	if v.required("commands.set_prompt", c.SetPrompt) && strings.Count(c.SetPrompt, botapi.PlaceholderPrompt) != 1 {
		v.Errf("commands.set_prompt", "%q: want {prompt} once", c.SetPrompt)
	}
	v.required("commands.prompt", c.Prompt)
	v.required("commands.reset", c.Reset)
	cmds := botapi.Commands{SetPrompt: c.SetPrompt, Prompt: c.Prompt, Reset: c.Reset, AckField: c.Ack.Field}
	switch {
	case c.Ack.Text != "" && c.Ack.Field != "":
		v.Errf("commands.ack", "text or field, not both")
	case c.Ack.Text != "":
		re, err := regexp.Compile(c.Ack.Text)
		if err != nil {
			v.Errf("commands.ack.text", "%v", err)
		}
		cmds.AckText = re
	case c.Ack.Field != "":
		v.oneOf("commands.ack.field", c.Ack.Field, botapi.AckFieldDegraded)
		if c.Ack.Field == botapi.AckFieldDegraded && t.ReplyFields.Degraded == "" {
			v.Errf("commands.ack.field", "degraded is not mapped in reply_fields")
		}
	default:
		v.Errf("commands.ack", "is required: text (a regexp on the reply) or field (degraded)")
	}
	t.API.Commands = cmds
}

func (t *Target) validateLogs(v *validator) {
	l := t.Logs
	v.oneOf("logs.format", l.Format, LogNone, LogJSON, LogText)
	if l.Format != LogText {
		if l.Timestamp != "" || l.Lines != (LogLines{}) {
			v.Errf("logs", "timestamp and lines are for format: text")
		}
		return
	}
	if v.required("logs.timestamp", l.Timestamp) {
		for _, part := range layoutParts {
			if !strings.Contains(l.Timestamp, part) {
				v.Errf("logs.timestamp", "%q: want a Go time layout with the date and time, such as 2006-01-02T15:04:05.000Z07:00", l.Timestamp)
				break
			}
		}
	}
	for _, p := range []struct{ kind, re string }{
		{lineRetryScheduled, l.Lines.RetryScheduled},
		{lineAttemptFailed, l.Lines.AttemptFailed},
		{lineGaveUp, l.Lines.GaveUp},
		{lineSucceeded, l.Lines.Succeeded},
		{lineFallback, l.Lines.Fallback},
	} {
		if p.re == "" {
			continue
		}
		field := "logs.lines." + p.kind
		re, err := regexp.Compile(p.re)
		if err != nil {
			v.Errf(field, "%v", err)
			continue
		}
		if want := lineGroups[p.kind]; want != nil {
			for _, g := range want {
				if re.SubexpIndex(g) < 0 {
					v.Errf(field, "needs the named group (?P<%s>...)", g)
				}
			}
		}
		t.lines = append(t.lines, linePattern{p.kind, re})
	}
	if len(t.lines) == 0 && !v.Probs.Bad["logs.lines"] {
		v.Errf("logs.lines", "format: text needs at least one pattern")
	}
}

// SchemaPath is database.schema, relative to the target file.
func (t Target) SchemaPath() string {
	if t.Database.Schema == "" || filepath.IsAbs(t.Database.Schema) {
		return t.Database.Schema
	}
	return filepath.Join(filepath.Dir(t.File), t.Database.Schema)
}

//go:embed p1001.yaml
var builtin embed.FS

// P1001Name is p1001's own target's name.
const P1001Name = "p1001"

// P1001 is p1001's own target (p1001.yaml, built in), for the tools that
// only ever speak to p1001's bot (make p1001, make bench).
var P1001 = sync.OnceValue(func() Target {
	data, err := builtin.ReadFile("p1001.yaml")
	if err == nil {
		var t Target
		if t, err = Parse("targets/p1001.yaml", data); err == nil {
			return t
		}
	}
	panic(fmt.Sprintf("the built-in p1001 target: %v", err)) // caught by the package's tests
})
