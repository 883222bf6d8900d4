-- CreateConversation without a request_id, as src/store/conversations.rs runs it: the scoped
-- BEGIN of src/store/scope.rs, the caller's users row, the INSERT ... RETURNING (its BEFORE
-- triggers index the title), COMMIT. The service makes a UUIDv7 in Rust; the id expression
-- below builds one from the clock the same way, so that the primary key grows at its end.
-- The service sends BEGIN and set_config as one multi-statement query; prepared statements
-- cannot hold two commands, so a pipeline sends them in one round trip instead.
\set n random(1, :ids)
SELECT user_id AS uid FROM bench_ids WHERE n = :n \gset
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :uid, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
INSERT INTO users (id) VALUES (:uid) ON CONFLICT (id) DO NOTHING;
INSERT INTO conversations (id, user_id, title, mode, context_data) VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid, :uid, 'ES opening range breakout review', 'analysis', '{"trading_session_id": "7d1f3c9e-2f4b-4a55-9b7e-0c2d7b1f4a10", "market_hours": true, "trading_instruments": ["ES", "NQ"], "session_type": "live_trading", "coaching_focus": ["entries", "risk_management"]}') RETURNING id, user_id, title, mode, status, context_data, last_message_at, message_count, created_at, updated_at, archived_at, revision;
COMMIT;
