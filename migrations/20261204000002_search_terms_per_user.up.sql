-- Message search reads short posting lists even for a user with a million messages.
--
-- The message index of 20261203000005 keys each word once for everybody: "breakout" has one
-- posting list holding every message of every user with that word. A search intersects the
-- user's own list with the lists of its words, so for a user who wrote a fifth of all messages
-- PostgreSQL decodes the full lists of every word, in every monthly partition, to find a few
-- dozen messages: 2.4 ms a partition for "AAPL earnings NQ" at a million messages, 50 ms a
-- search.
--
-- The index below keys each word per group of users instead: user_search_terms() prefixes
-- every word with two hex digits of an md5 of the user's id, one of 256 groups, so that the
-- posting list of "3fbreakout" holds only the messages of the users in group 3f. A user's
-- search reads the lists of their own group, a few times shorter for the heaviest user and
-- a tiny fraction for everyone else. Keying by the whole user id would shorten them further
-- but made the index nine times larger, since every user then repeats the whole vocabulary;
-- 256 groups cost it a little over twice the size. The user's id stays the index's first
-- column, so that an ordinary user's short list of messages still leads the scan past the
-- other users of the group.
--
-- The words lose their positions on the way (a phrase needs them, a plain match does not),
-- so the service checks a query that holds a phrase against the message's own vector as
-- well (see user_search_query). Both functions are IMMUTABLE and the index depends on their
-- exact output: changing either means rebuilding the index.

CREATE OR REPLACE FUNCTION user_search_terms(owner UUID, terms tsvector) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  user_group CONSTANT TEXT := pg_catalog.left(pg_catalog.md5(owner::text), 2);
BEGIN
  IF pg_catalog.length(terms) = 0 THEN
    RETURN terms;
  END IF;
  -- One string operation instead of a row per word: joined with a separator the parser never
  -- puts in a word, prefixed, split again.
  RETURN pg_catalog.array_to_tsvector(pg_catalog.string_to_array(
    user_group || pg_catalog.array_to_string(pg_catalog.tsvector_to_array(terms),
                                             E'\x01' || user_group),
    E'\x01'));
END;
$$;

-- The index's form of a query: every word with the user's group prefix. tsquery's text form
-- quotes each word, doubling a quote inside it; operators, prefixes (:*) and weights stand
-- outside the quotes.
--
-- The index's words have no positions, against which a phrase (<-> or <N>) never matches. A
-- query with a phrase therefore becomes a looser one that the index can answer, and the
-- service checks such a query against the message's own vector as well: querytree() drops
-- what is negated, which can only loosen it, and each phrase becomes a plain AND of its
-- words. A query with nothing left to look up (only negated phrases) matches every message
-- of the group, here as the negation of a word that never occurs.
CREATE OR REPLACE FUNCTION user_search_query(owner UUID, query tsquery) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  user_group CONSTANT TEXT := pg_catalog.left(pg_catalog.md5(owner::text), 2);
  source TEXT := query::text;
  rewritten TEXT := '';
  token TEXT[];
BEGIN
  IF pg_catalog.strpos(source, '<') > 0 THEN
    source := pg_catalog.querytree(query);
    IF source = 'T' THEN
      RETURN pg_catalog.format('!%L', user_group)::tsquery;
    END IF;
  END IF;

  -- A quoted word, a phrase operator, or anything else, in turn.
  FOR token IN
    SELECT pg_catalog.regexp_matches(
      source, '(''(?:[^'']|'''')*'')|(<(?:-|[0-9]+)>)|([^''<]+)', 'g')
  LOOP
    rewritten := rewritten || CASE
      WHEN token[1] IS NOT NULL THEN '''' || user_group || pg_catalog.substr(token[1], 2)
      WHEN token[2] IS NOT NULL THEN '&'
      ELSE token[3]
    END;
  END LOOP;
  RETURN rewritten::tsquery;
END;
$$;

-- Under row-level security PostgreSQL uses a condition in an index scan ahead of the policy
-- only when its functions are LEAKPROOF (see 20261203000009). Both compute their result from
-- their arguments alone and raise no error that depends on them. Marking them needs a
-- superuser; without one, search stays correct and reads the index by user id only, and the
-- service warns at start.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION user_search_terms(UUID, tsvector) LEAKPROOF;
    ALTER FUNCTION user_search_query(UUID, tsquery) LEAKPROOF;
  ELSE
    RAISE NOTICE 'not a superuser: user_search_terms stays unmarked (see docs/security.md)';
  END IF;

  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conversation_service_runtime') THEN
    GRANT EXECUTE ON FUNCTION user_search_terms(UUID, tsvector),
                              user_search_query(UUID, tsquery)
      TO conversation_service_runtime;
  END IF;
END
$$;

-- Building it reads every message once and blocks appends meanwhile, about a minute and a
-- half for five million messages on two cores; docs/operations.md shows how to build it
-- partition by partition without blocking, before this migration runs.
CREATE INDEX IF NOT EXISTS idx_messages_search_terms
  ON messages USING gin (user_id, user_search_terms(user_id, content_search));
DROP INDEX idx_messages_content_search;
