-- ListConversations, the first page of 50, as src/store/conversations.rs runs it: the scoped
-- BEGIN of src/store/scope.rs, one SELECT of 51 rows (the 51st only tells the service that a
-- next page exists), COMMIT. The statuses are those of the default listing, bound as an array
-- as the service binds them. The first statement only picks a random seeded user.
\set n random(1, :ids)
SELECT user_id AS uid FROM bench_ids WHERE n = :n \gset
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :uid, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision FROM conversations WHERE user_id = :uid AND status = ANY(:statuses) ORDER BY updated_at DESC, id DESC LIMIT 51;
COMMIT;
