-- A user's messages by time, across all their conversations: GetConversationStats asks, for
-- each of the last 30 days, whether the user wrote any message that day, and this index
-- answers each question with one probe instead of reading every message of the month.
-- (idx_messages_conversation_created leads with conversation_id after user_id, so it cannot.)
-- Created on the partitioned parent, it is created on every partition, present and future.
CREATE INDEX idx_messages_user_created ON messages (user_id, created_at);
