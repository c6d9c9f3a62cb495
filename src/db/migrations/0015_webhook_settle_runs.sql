-- Fewer row versions per delivery. A busy queue's rows go in runs (a head and the rows right behind it, taken under
-- one lease by claimFollowers). Until now each row of a run was written four times: inserted, leased, made due when
-- the row before it settled, settled; the last two each a new version in every index of the table (next_attempt_at
-- and status are indexed), 0.5-1 ms of a ~2 ms settle of ~18 rows while the event-log probe's webhook ran.
--
-- Now a settle names the row its run attempts next (`next`), and that row is not handed over: it stays queued
-- (next_attempt_at = infinity, out of every claim's range) under the run's lease, and the run attempts it right away.
-- A run that ends before its next row (a failure, a shutdown, half its lease spent) hands its first untried row over
-- when it frees the rest (DeliveryQueueRepository.unclaim); one that dies leaves it leased, and the periodic repair
-- makes it due once the lease has run out. Rows settled without a `next` (a run's last, a lone head) are handed over
-- as before (0010).
--
-- The lease (locked_until, not indexed) can then be a heap-only update: room on the row's page is all it needs.
-- A queue table is written by inserts that fill its pages, so it keeps a share of each page free for them.
ALTER TABLE webhook_delivery SET (fillfactor = 70);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION webhook_settle(input jsonb) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  ids bigint[] := ARRAY(SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(input) e);
  rest jsonb := (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(input) e WHERE e ->> 'next' IS NULL);
  lonely jsonb;
BEGIN
  PERFORM 1 FROM webhook_delivery WHERE id = ANY(ids) ORDER BY id FOR UPDATE;

  UPDATE webhook_delivery d
  SET status = CASE WHEN i.delivered THEN 'delivered' ELSE 'failed' END, last_status_code = i."statusCode",
    attempts = greatest(d.attempts, i.attempts),
    last_error = i.error, delivered_at = CASE WHEN i.delivered THEN now() ELSE d.delivered_at END, locked_until = NULL
  FROM jsonb_to_recordset(input) AS i(id bigint, attempts int, delivered boolean, "statusCode" int, error text)
  WHERE d.id = ANY(ids) AND d.id = i.id;

  IF jsonb_array_length(rest) > 0 THEN
    lonely := webhook_promote_heads(rest);
    IF jsonb_array_length(lonely) > 0 THEN
      PERFORM pg_advisory_xact_lock(webhook_queue_lock_key(q."webhookId", q."roomId"))
      FROM (SELECT "webhookId", "roomId" FROM jsonb_to_recordset(lonely) AS i("webhookId" uuid, "roomId" uuid) ORDER BY 1, 2) q;
      PERFORM webhook_promote_heads(lonely);
    END IF;
  END IF;
END
$$;
