-- Keyset paging for the orderings ListConversations offers besides updated_at (which
-- idx_conversations_user_updated_id already serves). Each index walks one user's rows in
-- the listing's (sort key, id) order, forwards for descending and backwards for ascending.
--
-- Ordering by last activity sorts a conversation without messages by its creation time, so
-- that the sort key is never NULL and (key, id) stays a total order for page tokens. The key
-- is a stored column rather than an index on the COALESCE expression: under row-level
-- security PostgreSQL does not use an expression it cannot prove leakproof as an index
-- condition, so an expression index would be walked from its start on every page.
ALTER TABLE conversations
  ADD COLUMN last_activity_at TIMESTAMPTZ
  GENERATED ALWAYS AS (COALESCE(last_message_at, created_at)) STORED;

CREATE INDEX idx_conversations_user_created_id
  ON conversations (user_id, created_at DESC, id DESC);

CREATE INDEX idx_conversations_user_activity_id
  ON conversations (user_id, last_activity_at DESC, id DESC);
