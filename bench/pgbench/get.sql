-- GetConversation, as src/store/conversations.rs runs it: the scoped BEGIN of
-- src/store/scope.rs (one round trip), the SELECT, COMMIT. The first statement only picks a
-- random seeded conversation (bench_ids); the service gets its ids from the request.
-- The service sends BEGIN and set_config as one multi-statement query; prepared statements
-- cannot hold two commands, so a pipeline sends them in one round trip instead.
\set n random(1, :ids)
SELECT user_id AS uid, conversation_id AS cid FROM bench_ids WHERE n = :n \gset
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :uid, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision FROM conversations WHERE user_id = :uid AND id = :cid;
COMMIT;
