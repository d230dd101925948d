// Command p1001 reproduces P1001 on the developer's machine (`make p1001`,
// README.md "Reproduce P1001"): over the chaos environment
// (suites/environment) it narrates a fault of the scenario format's table
// (scenarios.NamedFault), or a URL mistake, and checks each step against
// what the bot did (suites/botapi replies, suites/botlog lines, bot
// doctor); it exits 1 when a step did not happen as described. -i opens a
// console that chats with the bot while the user toggles faults.
package main
