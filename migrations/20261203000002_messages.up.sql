-- Messages, partitioned by month of created_at: the table that grows without bound, so that
-- old months can be detached, archived or dropped whole. Rows whose month has no partition
-- yet land in messages_default; the service creates the coming months' partitions at start
-- and once a day with ensure_message_partitions().
CREATE TABLE messages (
  id              UUID NOT NULL DEFAULT gen_random_uuid(),
  conversation_id UUID NOT NULL,
  user_id         UUID NOT NULL,
  type            VARCHAR(20) NOT NULL CHECK (type IN ('user', 'assistant', 'system')),
  content         TEXT NOT NULL CHECK (length(content) > 0),
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at),
  FOREIGN KEY (user_id, conversation_id)
    REFERENCES conversations (user_id, id) ON DELETE CASCADE
) PARTITION BY RANGE (created_at);

CREATE TABLE messages_default PARTITION OF messages DEFAULT;

-- A conversation's messages in chronological order, for listing and keyset paging.
CREATE INDEX idx_messages_conversation_created
  ON messages (user_id, conversation_id, created_at, id);

CREATE OR REPLACE FUNCTION ensure_message_partitions(months_ahead INTEGER)
RETURNS VOID AS $$
DECLARE
  month_start DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  partition_start DATE;
  partition_name TEXT;
BEGIN
  FOR step IN 0..months_ahead LOOP
    partition_start := (month_start + make_interval(months => step))::date;
    partition_name := format('messages_y%sm%s',
      to_char(partition_start, 'YYYY'), to_char(partition_start, 'MM'));
    IF to_regclass(partition_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)',
        partition_name,
        partition_start::timestamp AT TIME ZONE 'UTC',
        (partition_start + make_interval(months => 1))::timestamp AT TIME ZONE 'UTC');
    END IF;
  END LOOP;
END;
$$ LANGUAGE plpgsql;

SELECT ensure_message_partitions(3);

-- Keeps a conversation's statistics current as messages arrive, in the same transaction as
-- the insert: the count, the time of the newest message, the update time, and a title from
-- the first user message of an untitled conversation (its first 50 characters, with "..."
-- when it is longer). One UPDATE, so the row is locked and written once per message; the row
-- lock also serialises concurrent appends, which keeps the count exact.
CREATE OR REPLACE FUNCTION update_conversation_stats()
RETURNS TRIGGER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE conversations
    SET
      last_message_at = GREATEST(last_message_at, NEW.created_at),
      message_count = message_count + 1,
      updated_at = now(),
      title = CASE
        WHEN title IS NULL AND NEW.type = 'user' THEN
          left(NEW.content, 50) || CASE WHEN length(NEW.content) > 50 THEN '...' ELSE '' END
        ELSE title
      END
    WHERE user_id = NEW.user_id AND id = NEW.conversation_id;

    RETURN NEW;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_conversation_stats_on_message
  AFTER INSERT ON messages
  FOR EACH ROW
  EXECUTE FUNCTION update_conversation_stats();
