-- GetConversation in one statement. The call is the most frequent of all, and a transaction
-- of its own (BEGIN with the caller's settings, the SELECT, COMMIT) costs three round trips.
-- This function sets the caller for row-level security and then reads the row, in that
-- order, inside the single statement that calls it; the service sends that statement with
-- the extended protocol, prepared once per connection and answered in binary, so a get is one
-- round trip that PostgreSQL neither parses nor plans again.
--
-- Both settings use set_config(..., true), the function form of SET LOCAL: they end with the
-- implicit transaction of the calling statement, and nothing is left on the connection for
-- the next call. The function runs with its caller's rights (not SECURITY DEFINER), so the
-- policies apply to the SELECT exactly as to any other statement of the runtime role; a role
-- that may call it could set the same setting itself.
--
-- A statement's own statement_timeout is fixed before the statement starts, so a setting
-- made inside this function would only bound later statements. The one long wait a
-- primary-key read can meet is a table lock (a migration's ALTER TABLE, say), and
-- lock_timeout, read when a wait begins, bounds that wait by the caller's deadline instead.
CREATE FUNCTION get_conversation(caller UUID, wanted UUID, wait_ms INTEGER)
RETURNS TABLE (
  id              UUID,
  user_id         UUID,
  title           VARCHAR(255),
  mode            VARCHAR(20),
  status          VARCHAR(20),
  context_data    JSONB,
  last_message_at TIMESTAMPTZ,
  message_count   INTEGER,
  created_at      TIMESTAMPTZ,
  updated_at      TIMESTAMPTZ,
  archived_at     TIMESTAMPTZ,
  revision        BIGINT
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('conversation.user_id', caller::text, true),
          set_config('lock_timeout', wait_ms::text, true);

  RETURN QUERY
  SELECT c.id, c.user_id, c.title, c.mode, c.status, c.context_data, c.last_message_at,
         c.message_count, c.created_at, c.updated_at, c.archived_at, c.revision
  FROM conversations AS c
  WHERE c.user_id = caller AND c.id = wanted;
END;
$$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    GRANT EXECUTE ON FUNCTION get_conversation(UUID, UUID, INTEGER)
      TO conversation_service_runtime;
  END IF;
END
$$;
