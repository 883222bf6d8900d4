-- GetConversation, as src/store/conversations.rs runs it: the set_config calls of
-- src/store/scope.rs and the SELECT in one round trip and one implicit transaction, no BEGIN
-- and no COMMIT. The service sends them as one simple-query message with an EXECUTE of the
-- SELECT it prepared on the connection; pgbench prepares the same SELECT and sends both in
-- one pipeline, whose single Sync makes them one implicit transaction in the same way.
-- The first statement only picks a random seeded conversation (bench_ids); the service gets
-- its ids from the request.
\set n random(1, :ids)
SELECT user_id AS uid, conversation_id AS cid FROM bench_ids WHERE n = :n \gset
\startpipeline
SELECT set_config('conversation.user_id', :uid, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision FROM conversations WHERE user_id = :uid AND id = :cid;
\endpipeline
