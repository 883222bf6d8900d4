-- ListConversations, one page of 50 deep in the heavy user's listing, as the service runs it
-- for a page token: the keyset condition resumes after the position the token holds.
-- bench/run passes the same position as the load generator's list-deep token (deep_at,
-- deep_id), the heavy user (heavy) and the default listing's statuses.
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :heavy, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision FROM conversations WHERE user_id = :heavy AND status = ANY(:statuses) AND (updated_at, id) < (:deep_at, :deep_id) ORDER BY updated_at DESC, id DESC LIMIT 51;
COMMIT;
