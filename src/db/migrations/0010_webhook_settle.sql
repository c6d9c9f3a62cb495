-- Settling webhook attempts in one round trip (it was four statements in a transaction, six round trips). A room's
-- next event leaves only once the one before is settled, so under load a room's pace was set by these round trips,
-- each waiting for a turn of a busy event loop.
--
-- Rows are found by "= ANY" of arrays, never by joining jsonb_to_recordset: the planner counts that function as 100
-- rows and then read all of webhook_delivery (a week of deliveries) on every settle instead of its indexes. And each
-- call plans afresh (force_custom_plan): PL/pgSQL keeps a plan per session, and one made while the table was small (a
-- webhook just created) went on reading the whole table when it had grown.

-- One (webhook, room) queue's advisory lock key, for insertDeliveries (webhooks.repository.ts) and webhook_settle
-- alike: the two serialise only while they agree on it, so it is written once.
CREATE FUNCTION webhook_queue_lock_key(webhook uuid, room uuid) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtextextended('chat:webhooks:queue:' || webhook::text || ':' || coalesce(room::text, ''), 0)
$$;
--> statement-breakpoint
-- The first pending row of each (webhook, room) queue becomes due if it was queued; returns the queues with no pending
-- row at all. "=" and "is null" apart: only these reach the queue index.
CREATE FUNCTION webhook_promote_heads(queues jsonb) RETURNS jsonb LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  heads bigint[];
  empty jsonb;
BEGIN
  WITH q AS (SELECT DISTINCT "webhookId", "roomId" FROM jsonb_to_recordset(queues) AS i("webhookId" uuid, "roomId" uuid)),
  h AS (
    SELECT q."webhookId", q."roomId", CASE WHEN q."roomId" IS NULL THEN
        (SELECT n.id FROM webhook_delivery n WHERE n.webhook_id = q."webhookId" AND n.room_id IS NULL AND n.status = 'pending' ORDER BY n.id LIMIT 1)
      ELSE
        (SELECT n.id FROM webhook_delivery n WHERE n.webhook_id = q."webhookId" AND n.room_id = q."roomId" AND n.status = 'pending' ORDER BY n.id LIMIT 1)
      END AS id
    FROM q)
  SELECT coalesce(array_agg(id) FILTER (WHERE id IS NOT NULL), '{}'),
         coalesce(jsonb_agg(jsonb_build_object('webhookId', "webhookId", 'roomId', "roomId")) FILTER (WHERE id IS NULL), '[]')
  INTO heads, empty FROM h;
  UPDATE webhook_delivery SET next_attempt_at = now() WHERE id = ANY(heads) AND next_attempt_at = 'infinity';
  RETURN empty;
END
$$;
--> statement-breakpoint
-- Each row leaves its queue as delivered or failed (given up), and each queue's next row is due now. A queue's lock
-- (taken by insertDeliveries around its insert) is needed only when the queue looked empty: an insert may then be
-- under way that saw this row still pending and queued its row behind it; once that insert has committed (the lock),
-- a second look finds the row. Where a next row exists, new rows go behind it whatever happens, so a busy queue's
-- settles never wait for the consumer's transactions. Rows are locked in id order, as removing a webhook locks them.
CREATE FUNCTION webhook_settle(input jsonb) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  ids bigint[] := ARRAY(SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(input) e);
  lonely jsonb;
BEGIN
  PERFORM 1 FROM webhook_delivery WHERE id = ANY(ids) ORDER BY id FOR UPDATE;

  UPDATE webhook_delivery d
  SET status = CASE WHEN i.delivered THEN 'delivered' ELSE 'failed' END, last_status_code = i."statusCode",
    attempts = greatest(d.attempts, i.attempts),
    last_error = i.error, delivered_at = CASE WHEN i.delivered THEN now() ELSE d.delivered_at END, locked_until = NULL
  FROM jsonb_to_recordset(input) AS i(id bigint, attempts int, delivered boolean, "statusCode" int, error text)
  WHERE d.id = ANY(ids) AND d.id = i.id;

  lonely := webhook_promote_heads(input);
  IF jsonb_array_length(lonely) > 0 THEN
    PERFORM pg_advisory_xact_lock(webhook_queue_lock_key(q."webhookId", q."roomId"))
    FROM (SELECT "webhookId", "roomId" FROM jsonb_to_recordset(lonely) AS i("webhookId" uuid, "roomId" uuid) ORDER BY 1, 2) q;
    PERFORM webhook_promote_heads(lonely);
  END IF;
END
$$;
