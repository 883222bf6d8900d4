DROP INDEX IF EXISTS idx_messages_user_created;
