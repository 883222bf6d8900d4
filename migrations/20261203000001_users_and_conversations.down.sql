DROP TABLE conversations;
DROP FUNCTION bump_conversation_revision();
DROP FUNCTION update_updated_at_column();

DO $$
BEGIN
  IF obj_description(to_regclass('users'), 'pg_class')
       = 'minimal users table created by conversation-service' THEN
    DROP TABLE users;
  END IF;
END
$$;
