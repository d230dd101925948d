-- The naive bot's one table; the harness applies this before starting the bot
-- (the bot does not migrate).
CREATE TABLE IF NOT EXISTS chat_prompts (chat_id text PRIMARY KEY, prompt text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
