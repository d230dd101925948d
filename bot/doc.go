// Package bot is the p1001 chat bot: a bot that keeps answering when its
// Postgres database does not.
//
// The work is split into small packages, each with one job:
//
//   - dburl: DATABASE_URL as Prisma/Supabase users write it, translated for pgx.
//   - config: every environment variable, validated in one place.
//   - store: the pgx store (prompts, message log) and its embedded migrations,
//     every query through resilience.
//   - chat: the message handler: prompt resolution (custom, cached, default),
//     commands, degraded replies and the documented log lines.
//   - msglog: the message-log records and the bounded, ordered outbox.
//   - responder: the offline template responder and an OpenAI-compatible client.
//   - httpapi, telegram: the transports; health: database state for /readyz;
//     metrics: the Prometheus registry.
//   - app: wires the pieces for `bot serve`, `bot chat` and `bot migrate`.
//
// The binary is bot/cmd/bot; docs/bot.md documents its environment.
package bot
