// Command p1001 reproduces P1001 on the developer's machine, in one command
// (`make p1001`, see README.md "Reproduce P1001"). It starts the chaos
// environment of suites/environment (postgres, pgbouncer, toxiproxy, the bot
// container), then narrates, with timestamps:
//
//  1. a custom prompt is set and a reply uses it;
//  2. the database is cut: FAULT= is a fault kind of the scenario format
//     (outage, black-hole, reset_peer, latency, client-limit,
//     password-rotation), played through its fault table
//     (scenarios.NamedFault);
//  3. a message is sent while the bot's own documented log lines stream in,
//     and the reply still arrives, with its prompt_source;
//  4. the circuit breaker fails the next messages fast (attempts 0);
//  5. the database is restored and custom replies return, with the
//     measured recovery time;
//  6. the stack is removed (or kept, with -keep).
//
// FAULT=missing-pgbouncer narrates a mistake in the URL instead (URLDemo):
// busy chats through the transaction pooler without pgbouncer=true, their
// DB_ERROR replies and the bot's one line of advice.
//
// Every step checks that what it shows really happened; the exit status is
// 1 when one did not. With -i it opens a console instead: lines are chat
// messages, and short commands (down, up, latency 800, reset, blackhole,
// status) toggle faults while the user chats.
//
// The step logic lives in small functions over two narrow interfaces (the
// bot's HTTP API and the faults' scenarios.Target), so the console, the log
// filter and the summary are unit-tested without Docker.
package main
