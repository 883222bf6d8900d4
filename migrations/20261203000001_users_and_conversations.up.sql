-- Users and their conversations.
--
-- The users table belongs to another part of the platform. When it is absent (a fresh
-- database, the embedded mode, tests) a minimal one is created and marked by its comment, so
-- that the down migration drops only a table this migration made.
DO $$
BEGIN
  IF to_regclass('users') IS NULL THEN
    CREATE TABLE users (
      id         UUID PRIMARY KEY,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE users IS 'minimal users table created by conversation-service';
  END IF;
END
$$;

CREATE TABLE conversations (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title           VARCHAR(255),
  mode            VARCHAR(20) NOT NULL DEFAULT 'analysis'
                  CHECK (mode IN ('analysis', 'psychology', 'training', 'planning')),
  status          VARCHAR(20) NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'archived', 'deleted')),
  context_data    JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context_data) = 'object'),
  last_message_at TIMESTAMPTZ,
  message_count   INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  archived_at     TIMESTAMPTZ NULL,
  -- Bumped by a trigger on every change; the API's etag.
  revision        BIGINT NOT NULL DEFAULT 1,
  -- Messages reference (user_id, id) so that no message can point at another user's
  -- conversation, and so that the table can be distributed by user_id.
  CONSTRAINT conversations_user_id_id_key UNIQUE (user_id, id),
  CONSTRAINT conversations_archived_has_archived_at
    CHECK (status <> 'archived' OR archived_at IS NOT NULL)
);

-- The spec's six indexes.
CREATE INDEX idx_conversations_user_id ON conversations (user_id);
CREATE INDEX idx_conversations_user_active ON conversations (user_id, updated_at DESC)
  WHERE status = 'active';
CREATE INDEX idx_conversations_user_mode ON conversations (user_id, mode, updated_at DESC);
CREATE INDEX idx_conversations_last_message ON conversations (last_message_at DESC);
CREATE INDEX idx_conversations_created_at ON conversations (created_at DESC);
CREATE INDEX idx_conversations_context ON conversations USING gin (context_data);

-- Keyset pagination walks (updated_at, id) per user; the id breaks ties between rows updated
-- in the same microsecond so that no page repeats or skips a row.
CREATE INDEX idx_conversations_user_updated_id
  ON conversations (user_id, updated_at DESC, id DESC);

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION bump_conversation_revision()
RETURNS TRIGGER AS $$
BEGIN
  NEW.revision = OLD.revision + 1;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_conversations_updated_at
  BEFORE UPDATE ON conversations
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER bump_conversations_revision
  BEFORE UPDATE ON conversations
  FOR EACH ROW
  EXECUTE FUNCTION bump_conversation_revision();
