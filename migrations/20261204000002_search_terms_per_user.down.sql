-- Back to one posting list per word for everybody; the service before this migration matches
-- content_search directly.
CREATE INDEX idx_messages_content_search ON messages USING gin (user_id, content_search);
DROP INDEX idx_messages_search_terms;
DROP FUNCTION user_search_query(UUID, tsquery);
DROP FUNCTION user_search_terms(UUID, tsvector);
