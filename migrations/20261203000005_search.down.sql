DROP INDEX idx_conversations_title_trgm;
DROP INDEX idx_messages_content_search;
DROP INDEX idx_conversations_title_search;
DROP TRIGGER index_message_content ON messages;
DROP TRIGGER index_conversation_title ON conversations;
DROP FUNCTION index_message_content();
DROP FUNCTION index_conversation_title();
ALTER TABLE messages DROP COLUMN content_search;
ALTER TABLE conversations DROP COLUMN title_search;
DROP FUNCTION conversation_search_config();
-- The extensions stay: other parts of the database may have come to use them.
