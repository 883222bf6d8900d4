-- AppendMessage without a request_id, as src/store/messages.rs runs it: the scoped BEGIN of
-- src/store/scope.rs, the INSERT ... SELECT that checks the conversation is the caller's and
-- active, COMMIT. The BEFORE trigger indexes the content and the AFTER trigger updates the
-- conversation's statistics, as for the service. The id is a UUIDv7 like the service's.
-- The service sends BEGIN and set_config as one multi-statement query; prepared statements
-- cannot hold two commands, so a pipeline sends them in one round trip instead.
\set n random(1, :ids)
SELECT user_id AS uid, conversation_id AS cid FROM bench_ids WHERE n = :n \gset
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :uid, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
INSERT INTO messages (id, conversation_id, user_id, type, content) SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid, c.id, c.user_id, 'user', 'I took the bull flag on NQ and got stopped out for 12 ticks. I keep breaking my daily loss limit rule when I am frustrated.' FROM conversations c WHERE c.user_id = :uid AND c.id = :cid AND c.status = 'active' FOR NO KEY UPDATE RETURNING id, conversation_id, type, content, created_at;
COMMIT;
