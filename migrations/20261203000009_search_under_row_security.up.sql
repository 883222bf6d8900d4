-- Row-level security evaluates a table's policy before any condition of the query whose
-- function is not marked LEAKPROOF, so that the condition cannot observe rows the policy
-- hides. The text search match (tsvector @@ tsquery) and the trigram match (text % text) are
-- not marked, so for the runtime role PostgreSQL could use the GIN indexes only for their
-- user_id part: every search read all of the caller's rows and checked the words on each,
-- which for a user with a million messages takes seconds.
--
-- Both functions compute a boolean from their two arguments and raise no error that depends
-- on the row's value, so evaluating them before the policy reveals nothing about rows the
-- caller cannot see; the policy itself still runs on every row that an index returns. Marking
-- a function LEAKPROOF needs a superuser. Without one this migration changes nothing, search
-- stays correct but slower for users with many messages, and the service warns at start;
-- docs/security.md has the two statements for a database administrator to run.
DO $$
DECLARE
  trigram_match regprocedure;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'not a superuser: text search matches stay unmarked (see docs/security.md)';
    RETURN;
  END IF;

  ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;

  SELECT p.oid::regprocedure INTO trigram_match
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_trgm'
  WHERE p.proname = 'similarity_op';
  EXECUTE format('ALTER FUNCTION %s LEAKPROOF', trigram_match);
END
$$;
