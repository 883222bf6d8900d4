DROP INDEX IF EXISTS idx_conversations_user_activity_id;
DROP INDEX IF EXISTS idx_conversations_user_created_id;
ALTER TABLE conversations DROP COLUMN IF EXISTS last_activity_at;
