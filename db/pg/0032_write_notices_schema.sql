-- A write's NOTIFY quire_data (0027) names the schema of the table written as its payload, so
-- sites on one database, a schema each, count only their own commits (core/pg.c): another
-- site's write made a node's memo drop everything it held. A transaction still sends one
-- notification a schema it wrote, when it commits.
CREATE OR REPLACE FUNCTION quire_data_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('quire_data', TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
