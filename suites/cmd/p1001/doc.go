// Command p1001 reproduces P1001 on the developer's machine (`make p1001`,
// README.md "Reproduce P1001"). It starts the chaos environment
// (suites/environment) and the bot, then narrates a fault of the scenario
// format's table (scenarios.NamedFault) and the bot surviving it, checking
// each step against what the bot did: its replies (suites/botapi), its
// documented log lines (suites/botlog) and `bot doctor`. The exit status
// is 1 when a step did not happen as described. FAULT=missing-pgbouncer
// narrates a mistake in DATABASE_URL instead (URLDemo); -i opens a console
// that chats with the bot while faults are toggled.
package main
