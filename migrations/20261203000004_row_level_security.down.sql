DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    REVOKE ALL ON conversations, messages, request_ids FROM conversation_service_runtime;
    REVOKE SELECT (id), INSERT (id) ON users FROM conversation_service_runtime;
    REVOKE USAGE ON SCHEMA public FROM conversation_service_runtime;
    REVOKE EXECUTE ON FUNCTION ensure_message_partitions(INTEGER)
      FROM conversation_service_runtime;
  END IF;
END
$$;

DROP POLICY request_ids_of_caller ON request_ids;
ALTER TABLE request_ids NO FORCE ROW LEVEL SECURITY;
ALTER TABLE request_ids DISABLE ROW LEVEL SECURITY;

DROP POLICY messages_of_caller ON messages;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE messages DISABLE ROW LEVEL SECURITY;

DROP POLICY conversations_of_caller ON conversations;
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations DISABLE ROW LEVEL SECURITY;

DROP FUNCTION conversation_caller();

-- CREATE OR REPLACE keeps a function's grants; give back the default one.
GRANT EXECUTE ON FUNCTION ensure_message_partitions(INTEGER) TO PUBLIC;

CREATE OR REPLACE FUNCTION ensure_message_partitions(months_ahead INTEGER)
RETURNS VOID
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
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
$$;
