// Package resilience is the retry layer for pgx programs: error classification
// with Prisma-style codes, retries with backoff, a per-call budget, a circuit
// breaker and observer events. It does not depend on the bot.
package resilience
