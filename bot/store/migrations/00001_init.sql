-- The bot's tables. IF NOT EXISTS keeps the migration safe to run against a
-- database where the tables were created by hand.

-- +goose Up
CREATE TABLE IF NOT EXISTS chat_prompts (
    chat_id    text        PRIMARY KEY,
    prompt     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS message_log (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key    text        NOT NULL UNIQUE,
    chat_id       text        NOT NULL,
    direction     text        NOT NULL CHECK (direction IN ('in', 'out')),
    body          text        NOT NULL,
    prompt_source text        CHECK (prompt_source IN ('custom', 'cached', 'default')),
    degraded      boolean     NOT NULL DEFAULT false,
    command       text,
    sent_at       timestamptz NOT NULL,
    logged_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS message_log_chat_sent_at ON message_log (chat_id, sent_at);

-- +goose Down
DROP TABLE IF EXISTS message_log;
DROP TABLE IF EXISTS chat_prompts;
