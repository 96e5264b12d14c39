-- Every statement that writes a table of the site sends NOTIFY quire_data (with no payload, so a
-- transaction sends it once, when it commits, and never when it rolls back). A node LISTENs on
-- it and counts what it hears as its data_version (core/pg.c), as SQLite's PRAGMA data_version
-- moves on every commit: the memo and the page cache learn that the database changed without a
-- round trip per request. Writes from outside quire (psql, a script) are heard the same way.
CREATE FUNCTION quire_data_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('quire_data', '');
  RETURN NULL;
END $$;

-- Puts that trigger on every table of the schema that lacks it. The migration runner calls it
-- after applying migrations, so tables that later migrations add are watched too.
CREATE FUNCTION quire_watch_writes() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  t record;
  n integer := 0;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
           WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'p')
             AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'quire_data_written')
  LOOP
    EXECUTE format('CREATE TRIGGER quire_data_written AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION quire_data_written()', t.relname);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

SELECT quire_watch_writes();
