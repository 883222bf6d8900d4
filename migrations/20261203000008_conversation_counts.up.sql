-- Running counts of each user's conversations, kept by triggers in the same transaction as
-- the change they count, so that GetConversationStats reads a few hundred small rows instead
-- of every conversation the user has. Reading every conversation took 300 to 400 ms for a
-- user with 100,000 of them, most of it expanding each one's context_data.
--
-- conversation_message_counts is a histogram: how many of a user's conversations have a
-- given mode, status and number of messages. The counts by mode and by status, the total of
-- messages and the median number of messages all follow from it. A user has at most
-- 4 modes x 3 statuses x (distinct message counts) rows, a few hundred in practice.
CREATE TABLE conversation_message_counts (
  user_id       UUID NOT NULL,
  mode          VARCHAR(20) NOT NULL,
  status        VARCHAR(20) NOT NULL,
  message_count INTEGER NOT NULL,
  conversations BIGINT NOT NULL,
  PRIMARY KEY (user_id, mode, status, message_count)
);

-- How many of a user's conversations name each value of the two ranked context lists,
-- counting deleted conversations apart so that the statistics can leave them out.
CREATE TABLE conversation_context_counts (
  user_id       UUID NOT NULL,
  key           TEXT NOT NULL,
  value         TEXT NOT NULL,
  deleted       BOOLEAN NOT NULL,
  conversations BIGINT NOT NULL,
  PRIMARY KEY (user_id, key, value, deleted)
);

-- The values a conversation's context contributes to the ranking: each distinct string of
-- trading_instruments and coaching_focus, whether the key holds a list or a single string.
-- Numbers, objects and other keys are not names and are skipped.
CREATE FUNCTION tracked_context_values(context JSONB)
RETURNS TABLE (key TEXT, value TEXT)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT DISTINCT keys.key, element #>> '{}'
  FROM (VALUES ('trading_instruments'), ('coaching_focus')) AS keys (key),
       jsonb_array_elements(
         CASE jsonb_typeof(context -> keys.key)
           WHEN 'array' THEN context -> keys.key
           WHEN 'string' THEN jsonb_build_array(context -> keys.key)
           ELSE '[]'::jsonb
         END) AS element
  WHERE jsonb_typeof(element) = 'string'
$$;

-- Moves a conversation between histogram rows: out of its old (mode, status, count) and into
-- its new one. Both changes go in one statement with the rows in key order, so that two
-- transactions moving conversations between the same two rows in opposite directions (an
-- archive and an unarchive) lock them in the same order and cannot deadlock.
CREATE FUNCTION count_conversation_messages()
RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversation_message_counts AS counted
    (user_id, mode, status, message_count, conversations)
  SELECT changes.user_id, changes.mode, changes.status, changes.message_count, sum(change)
  FROM (
    SELECT OLD.user_id, OLD.mode, OLD.status, OLD.message_count, -1 WHERE TG_OP <> 'INSERT'
    UNION ALL
    SELECT NEW.user_id, NEW.mode, NEW.status, NEW.message_count, 1 WHERE TG_OP <> 'DELETE'
  ) AS changes (user_id, mode, status, message_count, change)
  GROUP BY 1, 2, 3, 4
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (user_id, mode, status, message_count)
  DO UPDATE SET conversations = counted.conversations + EXCLUDED.conversations;
  RETURN NULL;
END;
$$;

-- The same for the context values: the old ones out, the new ones in, in key order. A value
-- present before and after nets to nothing and is not written at all.
CREATE FUNCTION count_conversation_context_values()
RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversation_context_counts AS counted
    (user_id, key, value, deleted, conversations)
  SELECT changes.user_id, changes.key, changes.value, changes.deleted, sum(change)
  FROM (
    SELECT OLD.user_id, listed.key, listed.value, OLD.status = 'deleted', -1
    FROM tracked_context_values(OLD.context_data) AS listed
    WHERE TG_OP <> 'INSERT'
    UNION ALL
    SELECT NEW.user_id, listed.key, listed.value, NEW.status = 'deleted', 1
    FROM tracked_context_values(NEW.context_data) AS listed
    WHERE TG_OP <> 'DELETE'
  ) AS changes (user_id, key, value, deleted, change)
  GROUP BY 1, 2, 3, 4
  HAVING sum(change) <> 0
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (user_id, key, value, deleted)
  DO UPDATE SET conversations = counted.conversations + EXCLUDED.conversations;
  RETURN NULL;
END;
$$;

CREATE TRIGGER count_messages_of_added_or_removed_conversations
  AFTER INSERT OR DELETE ON conversations
  FOR EACH ROW
  EXECUTE FUNCTION count_conversation_messages();

-- An append changes message_count, so this runs once per message; the WHEN clause keeps it
-- from running at all for renames and context edits.
CREATE TRIGGER count_messages_of_changed_conversations
  AFTER UPDATE ON conversations
  FOR EACH ROW
  WHEN (OLD.message_count <> NEW.message_count OR OLD.status <> NEW.status
        OR OLD.mode <> NEW.mode OR OLD.user_id <> NEW.user_id)
  EXECUTE FUNCTION count_conversation_messages();

CREATE TRIGGER count_context_values_of_added_or_removed_conversations
  AFTER INSERT OR DELETE ON conversations
  FOR EACH ROW
  EXECUTE FUNCTION count_conversation_context_values();

-- Appends never touch context_data or status, so they never run this one.
CREATE TRIGGER count_context_values_of_changed_conversations
  AFTER UPDATE ON conversations
  FOR EACH ROW
  WHEN (OLD.context_data IS DISTINCT FROM NEW.context_data
        OR (OLD.status = 'deleted') <> (NEW.status = 'deleted')
        OR OLD.user_id <> NEW.user_id)
  EXECUTE FUNCTION count_conversation_context_values();

-- Recounts from the conversations themselves, for everyone or for one user: after a bulk
-- load that bypassed the triggers (session_replication_role = replica, as the benchmark's
-- seeder does), or to check the running counts. Row-level security applies as everywhere:
-- run it as a superuser, or for one user inside a transaction scoped to that user.
CREATE FUNCTION recount_conversations(only_user UUID DEFAULT NULL)
RETURNS VOID
LANGUAGE sql AS $$
  DELETE FROM conversation_message_counts WHERE only_user IS NULL OR user_id = only_user;

  INSERT INTO conversation_message_counts (user_id, mode, status, message_count, conversations)
  SELECT user_id, mode, status, message_count, count(*)
  FROM conversations
  WHERE only_user IS NULL OR user_id = only_user
  GROUP BY 1, 2, 3, 4;

  DELETE FROM conversation_context_counts WHERE only_user IS NULL OR user_id = only_user;

  INSERT INTO conversation_context_counts (user_id, key, value, deleted, conversations)
  SELECT c.user_id, listed.key, listed.value, c.status = 'deleted', count(*)
  FROM conversations AS c
  CROSS JOIN LATERAL tracked_context_values(c.context_data) AS listed
  WHERE only_user IS NULL OR c.user_id = only_user
  GROUP BY 1, 2, 3, 4;
$$;

REVOKE ALL ON FUNCTION recount_conversations(UUID) FROM PUBLIC;

-- Count what is already there. The owner running this migration may be subject to the
-- conversations' policies (FORCE ROW LEVEL SECURITY), which would hide every row from it, so
-- the policies are lifted for this transaction only.
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
SELECT recount_conversations();
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;

ALTER TABLE conversation_message_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_message_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY conversation_message_counts_of_caller ON conversation_message_counts
  USING (user_id = conversation_caller())
  WITH CHECK (user_id = conversation_caller());

ALTER TABLE conversation_context_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_context_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY conversation_context_counts_of_caller ON conversation_context_counts
  USING (user_id = conversation_caller())
  WITH CHECK (user_id = conversation_caller());

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    GRANT SELECT, INSERT, UPDATE ON conversation_message_counts TO conversation_service_runtime;
    GRANT SELECT, INSERT, UPDATE ON conversation_context_counts TO conversation_service_runtime;
    GRANT EXECUTE ON FUNCTION tracked_context_values(JSONB) TO conversation_service_runtime;
  END IF;
END
$$;
