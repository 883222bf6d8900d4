-- GetConversation, as src/store/conversations.rs runs it: one prepared statement that calls
-- get_conversation() (migration 20261204000001), which sets the caller and reads the row in
-- one implicit transaction, no BEGIN and no COMMIT. The last argument is the lock wait in
-- milliseconds, the service's default of 30 seconds for a call without a deadline.
-- The first statement only picks a random seeded conversation (bench_ids); the service gets
-- its ids from the request.
\set n random(1, :ids)
SELECT user_id AS uid, conversation_id AS cid FROM bench_ids WHERE n = :n \gset
SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision FROM get_conversation(:uid, :cid, 30000);
