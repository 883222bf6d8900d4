-- Row-level security: the second wall behind the store's own user_id filters.
--
-- The service sets conversation.user_id at the start of every transaction with
-- set_config(..., true), the function form of SET LOCAL. Rows of any other user are invisible
-- and cannot be written, even by a statement that forgets its user_id filter. FORCE applies
-- the policies to the tables' owner too; only superusers and BYPASSRLS roles escape them,
-- which is why the service runs as a separate role that is neither (see docs/security.md).

-- The caller of the current transaction, or NULL outside a scoped transaction. An empty
-- setting (left behind in a session after an earlier transaction) also means nobody.
CREATE FUNCTION conversation_caller() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT NULLIF(current_setting('conversation.user_id', true), '')::uuid
$$;

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY conversations_of_caller ON conversations
  USING (user_id = conversation_caller())
  WITH CHECK (user_id = conversation_caller());

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY messages_of_caller ON messages
  USING (user_id = conversation_caller())
  WITH CHECK (user_id = conversation_caller());

ALTER TABLE request_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE request_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY request_ids_of_caller ON request_ids
  USING (user_id = conversation_caller())
  WITH CHECK (user_id = conversation_caller());

-- Partitions must belong to the tables' owner, not to the runtime role that asks for them:
-- an owner of a partition could read it directly, around the parent's policies. So the
-- function runs with its owner's rights. Each month is created on its own, so that one month
-- that cannot be created (its rows already sit in messages_default) does not stop the others.
CREATE OR REPLACE FUNCTION ensure_message_partitions(months_ahead INTEGER)
RETURNS VOID
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  month_start DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  partition_start DATE;
  partition_name TEXT;
BEGIN
  -- It runs with the owner's rights; a caller gets two years ahead at most.
  FOR step IN 0..LEAST(months_ahead, 24) LOOP
    partition_start := (month_start + make_interval(months => step))::date;
    partition_name := format('messages_y%sm%s',
      to_char(partition_start, 'YYYY'), to_char(partition_start, 'MM'));
    CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;
    BEGIN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)',
        partition_name,
        partition_start::timestamp AT TIME ZONE 'UTC',
        (partition_start + make_interval(months => 1))::timestamp AT TIME ZONE 'UTC');
    EXCEPTION WHEN others THEN
      RAISE WARNING 'cannot create message partition %: %', partition_name, SQLERRM;
    END;
  END LOOP;
END;
$$;

REVOKE ALL ON FUNCTION ensure_message_partitions(INTEGER) FROM PUBLIC;

-- The runtime role gets exactly what the service does, when it exists: the embedded mode
-- creates it before migrating; for another database, create it first (docs/security.md).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    GRANT USAGE ON SCHEMA public TO conversation_service_runtime;
    GRANT SELECT, INSERT, UPDATE ON conversations TO conversation_service_runtime;
    GRANT SELECT, INSERT ON messages TO conversation_service_runtime;
    GRANT SELECT, INSERT ON request_ids TO conversation_service_runtime;
    -- The conflict target of INSERT ... ON CONFLICT (id) needs SELECT on that column.
    GRANT SELECT (id), INSERT (id) ON users TO conversation_service_runtime;
    GRANT EXECUTE ON FUNCTION conversation_caller() TO conversation_service_runtime;
    GRANT EXECUTE ON FUNCTION ensure_message_partitions(INTEGER)
      TO conversation_service_runtime;
  END IF;
END
$$;
