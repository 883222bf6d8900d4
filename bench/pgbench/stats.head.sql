-- GetConversationStats of the heavy user, as src/store/stats.rs runs it: the scoped BEGIN,
-- the statistics statement, COMMIT. bench/run appends the statement itself, taken from
-- STATS_STATEMENT in src/store/stats.rs with its parameters named, so that the two cannot
-- drift apart: $1 heavy, $2 include_deleted (false), $3 and $4 the two context keys, $5 the
-- number of top values (10).
\startpipeline
BEGIN;
SELECT set_config('conversation.user_id', :heavy, true), set_config('statement_timeout', '30000', true), set_config('conversation.search_config', 'english', true);
\endpipeline
