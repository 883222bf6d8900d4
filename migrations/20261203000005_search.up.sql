-- Full-text search over titles and messages, kept current by triggers in the same
-- transaction as every write, and trigram matching of titles for typos.
--
-- The text search configuration is read from the transaction setting
-- conversation.search_config, which the service sets at the start of every transaction
-- (english unless configured). Rows keep the vectors they were written with: choose the
-- configuration before the first messages arrive (docs/querying.md).

-- Both are trusted extensions: a database owner may create them without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE FUNCTION conversation_search_config() RETURNS regconfig
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT COALESCE(NULLIF(current_setting('conversation.search_config', true), ''),
                  'english')::regconfig
$$;

ALTER TABLE conversations ADD COLUMN title_search tsvector;
ALTER TABLE messages ADD COLUMN content_search tsvector;

CREATE FUNCTION index_conversation_title() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.title IS DISTINCT FROM OLD.title THEN
    NEW.title_search := setweight(
      to_tsvector(conversation_search_config(), COALESCE(NEW.title, '')), 'A');
  END IF;
  RETURN NEW;
END;
$$;

CREATE FUNCTION index_message_content() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
  NEW.content_search := to_tsvector(conversation_search_config(), NEW.content);
  RETURN NEW;
END;
$$;

CREATE TRIGGER index_conversation_title
  BEFORE INSERT OR UPDATE ON conversations
  FOR EACH ROW EXECUTE FUNCTION index_conversation_title();

CREATE TRIGGER index_message_content
  BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION index_message_content();

UPDATE conversations
SET title_search = setweight(to_tsvector('english', COALESCE(title, '')), 'A');
UPDATE messages SET content_search = to_tsvector('english', content);

-- Per-user search: user_id first, so that one user's matches are found without reading
-- anyone else's (btree_gin lets a GIN index hold the uuid beside the vector).
CREATE INDEX idx_conversations_title_search ON conversations USING gin (user_id, title_search);
CREATE INDEX idx_messages_content_search ON messages USING gin (user_id, content_search);
CREATE INDEX idx_conversations_title_trgm
  ON conversations USING gin (user_id, title gin_trgm_ops);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    GRANT EXECUTE ON FUNCTION conversation_search_config() TO conversation_service_runtime;
  END IF;
END
$$;
