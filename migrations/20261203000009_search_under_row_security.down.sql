-- Takes the marks back; marks that a database administrator made by hand go with them.
DO $$
DECLARE
  trigram_match regprocedure;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN;
  END IF;

  ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) NOT LEAKPROOF;

  SELECT p.oid::regprocedure INTO trigram_match
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_trgm'
  WHERE p.proname = 'similarity_op';
  EXECUTE format('ALTER FUNCTION %s NOT LEAKPROOF', trigram_match);
END
$$;
