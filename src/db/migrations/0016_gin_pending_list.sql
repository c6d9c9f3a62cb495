-- The GIN indexes of chat_message keep a pending list of at most 64 kB (PostgreSQL's smallest) instead of 4 MB: the
-- insert that overflows the list moves it into the index, and at 4 MB that one send statement took 50–170 ms every few
-- seconds at 1,000 sends/s (bench/probes/send-tail.ts). Set in place, not by rebuilding the indexes. A partitioned
-- table's index cannot take the setting (PostgreSQL refuses SET on a partitioned index), so its partitions' indexes
-- get it, and db/partitions.ts carries it when it reshapes them.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT i.oid::regclass AS idx
      FROM pg_class i
     WHERE i.relkind = 'i'
       AND i.relnamespace = current_schema()::regnamespace
       AND (i.relname IN ('chat_message_search_idx', 'chat_message_content_trgm_idx')
         OR i.oid IN (SELECT h.inhrelid FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
                       WHERE p.relkind = 'I' AND p.relnamespace = current_schema()::regnamespace
                         AND p.relname IN ('chat_message_search_idx', 'chat_message_content_trgm_idx')))
  LOOP
    EXECUTE format('ALTER INDEX %s SET (gin_pending_list_limit = 64)', r.idx);
  END LOOP;
END $$;
