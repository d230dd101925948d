#!/usr/bin/env python3
"""A deliberately naive chat bot: a second target for p1001's chaos harness.

It is what most bots look like on day one: Python's standard library HTTP
server, psycopg2, one database connection per request, no retry, no
fallback. `--fixed` adds the runbook's fix (bounded retries with backoff,
timeouts, the default prompt when the lookup gives up) and nothing more, so
the harness can tell the two apart. Debian's packages only: python3 and
python3-psycopg2.

  GET  /health                -> 200 "ok" (does not touch the database)
  POST /chats/{chat}/messages -> {"message": {"chat": ..., "text": ...}}
       body {"text": "..."}; commands: /setprompt <persona>, /reset, /prompt
"""
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg2

MAX_BODY = 64 * 1024
ATTEMPTS = 3           # --fixed: tries per database call
BASE_DELAY_MS = 100    # --fixed: 100 ms, then 200 ms
SAVE_FAILED = "Could not save your prompt, try again later."

log = logging.getLogger("naive-bot")


class UTCFormatter(logging.Formatter):
    """One line per record, starting with an ISO-8601 UTC time with ms,
    e.g. 2026-11-29T21:30:00.123Z, so the harness can order the lines."""

    def formatTime(self, record, datefmt=None):
        t = datetime.fromtimestamp(record.created, timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def redact(url):
    """The URL without its password (user info or ?password=), for the log."""
    if not url.startswith(("postgresql://", "postgres://")):
        return "(a key=value DSN, not shown)"  # it may hold password=...
    p = urlsplit(url)
    user, at, host = p.netloc.rpartition("@")
    if at and ":" in user:
        user = user.split(":", 1)[0] + ":xxxxx"
    query = urlencode([(k, "xxxxx" if k == "password" else v) for k, v in parse_qsl(p.query)])
    return urlunsplit((p.scheme, user + at + host, p.path, query, ""))


def short(err):
    """An error's class and first line: libpq's messages go on for lines."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "%s: %s" % (type(err).__name__, (lines[0] if lines else "no message")[:200])


class GaveUp(Exception):
    """--fixed: every attempt of a database call failed."""


class Bot:
    def __init__(self, dsn, default_prompt, fixed):
        self.dsn, self.default_prompt, self.fixed = dsn, default_prompt, fixed
        # psycopg2's defaults in naive mode: no connect timeout and no
        # statement timeout, so a black-holed database hangs the request.
        # The fix bounds both: the statement timeout with SET LOCAL in each
        # transaction, since a transaction pooler drops startup options
        # (PgBouncer's ignore_startup_parameters=options, as Supabase's).
        # A black hole after the connect still hangs: libpq has no read
        # timeout, and the server never sees the statement to time it out.
        self.connect_kw = {"connect_timeout": 2} if fixed else {}

    def query(self, sql, params, fetch=False):
        """One connection per call, closed at once: no pool to go stale,
        and a new TCP and login handshake every time (the naive cost)."""
        conn = psycopg2.connect(self.dsn, **self.connect_kw)
        try:
            with conn, conn.cursor() as cur:  # `with conn` commits
                if self.fixed:
                    cur.execute("SET LOCAL statement_timeout = 2000")
                cur.execute(sql, params)
                return cur.fetchone() if fetch else None
        finally:
            conn.close()

    def call(self, sql, params, fetch=False):
        """Naive: one try, errors propagate (a 500). Fixed: up to ATTEMPTS
        tries on connection-level errors, 100 ms then 200 ms apart, no
        jitter (so the log lines are predictable; a herd of bots would
        retry in step). No circuit breaker, no cache and no overall time
        budget: a lookup may take 3 x (2 s connect + 2 s statement) + 0.3 s."""
        if not self.fixed:
            return self.query(sql, params, fetch)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = self.query(sql, params, fetch)
            # OperationalError covers refused/reset connections, timeouts
            # (QueryCanceled) and the server's shutdown/too-many-clients;
            # anything else (a missing table, bad SQL) is a bug: no retry.
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as err:
                if attempt == ATTEMPTS:
                    log.warning("[Prisma Retry] Giving up after %d/%d attempts: %s", attempt, ATTEMPTS, short(err))
                    raise GaveUp(short(err)) from err
                delay = BASE_DELAY_MS * 2 ** (attempt - 1)
                log.warning("[Prisma Retry] Attempt %d/%d failed: %s, retrying in %dms",
                            attempt, ATTEMPTS, short(err), delay)
                time.sleep(delay / 1000)
                continue
            if attempt > 1:
                log.info("[Prisma Retry] Succeeded on attempt %d/%d", attempt, ATTEMPTS)
            return result

    def prompt_of(self, chat):
        try:
            row = self.call("SELECT prompt FROM chat_prompts WHERE chat_id = %s", (chat,), fetch=True)
        except GaveUp:  # only --fixed raises it: the runbook's fallback
            log.warning("[getCustomPrompt] Database unreachable, using the default prompt")
            return self.default_prompt
        return row[0] if row else self.default_prompt

    def write(self, sql, params, ack):
        try:
            self.call(sql, params)
        except GaveUp:  # --fixed: say so rather than acknowledge
            return SAVE_FAILED
        return ack

    def reply(self, chat, text):
        """The reply's text. /prompt reads through prompt_of, so in --fixed
        mode it may show the default prompt while the database is down."""
        text = text.strip()
        cmd, arg = (text.split(None, 1) + [""])[:2] if text.startswith("/") else ("", "")
        cmd, arg = cmd.lower(), arg.strip()
        if cmd == "/setprompt" and arg:
            return self.write("INSERT INTO chat_prompts (chat_id, prompt) VALUES (%s, %s) "
                              "ON CONFLICT (chat_id) DO UPDATE SET prompt = EXCLUDED.prompt, updated_at = now()",
                              (chat, arg), "Prompt saved: " + arg)
        if cmd == "/setprompt":
            return "Usage: /setprompt <persona>"
        if cmd == "/reset":
            return self.write("DELETE FROM chat_prompts WHERE chat_id = %s", (chat,), "Prompt reset.")
        if cmd == "/prompt":
            return "Current prompt: " + self.prompt_of(chat)
        # Anything else, unknown commands included, is an ordinary message.
        return "[%s] You said: %s" % (self.prompt_of(chat), text)


class Handler(BaseHTTPRequestHandler):
    server_version = "naive-bot"

    def log_message(self, fmt, *args):  # the access log, in our format
        log.info("%s %s", self.address_string(), fmt % args)

    def send(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.split("?")[0] == "/health":
            return self.send(200, "ok", "text/plain")
        self.send(404, {"error": "not found"})

    def do_POST(self):
        parts = self.path.split("?")[0].split("/")  # ["", "chats", chat, "messages"]
        if len(parts) != 4 or parts[1] != "chats" or parts[3] != "messages" or not parts[2]:
            self.close_connection = True  # the body is left unread
            return self.send(404, {"error": "not found"})
        chat = unquote(parts[2])
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return self.send(411, {"error": "Content-Length required"})
        if length > MAX_BODY:
            self.close_connection = True
            return self.send(413, {"error": "body over 64 KiB"})
        try:
            msg = json.loads(self.rfile.read(length))
        except ValueError:  # bad JSON or bad UTF-8
            return self.send(400, {"error": "body is not valid JSON"})
        text = msg.get("text") if isinstance(msg, dict) else None
        if not isinstance(text, str) or not text.strip():
            return self.send(400, {"error": "text is required"})
        try:
            answer = self.server.bot.reply(chat, text)
        except Exception:  # naive: any database error is a 500, traceback logged
            log.exception("POST %s failed", self.path)
            return self.send(500, "Internal Server Error", "text/plain")
        self.send(200, {"message": {"chat": chat, "text": answer}})


class Server(ThreadingHTTPServer):
    # Exit without waiting for requests in flight (one may hang on a black
    # hole forever in naive mode); the default listen backlog of 5 would
    # refuse connections under a burst, which is not the failure under test.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, bot):
        self.bot = bot  # the handlers' self.server.bot
        super().__init__(address, Handler)


def main():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        log.error("DATABASE_URL is not set")
        return 2
    fixed = "--fixed" in sys.argv[1:]
    bot = Bot(dsn, os.environ.get("DEFAULT_PROMPT", "You are a helpful assistant."), fixed)
    server = Server(("", int(os.environ.get("PORT", "8080"))), bot)

    def stop(signum, _frame):
        log.info("signal %d: stopping", signum)
        # shutdown() waits for serve_forever to return: not from its thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("naive-bot (%s mode) listening on :%d, database %s",
             "fixed" if fixed else "naive", server.server_address[1], redact(dsn))
    server.serve_forever()
    server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
