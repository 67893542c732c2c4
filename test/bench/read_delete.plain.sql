-- read + delete, plain SQL: the work pgmq.read and pgmq.delete do, written
-- the cheapest way (literal LIMIT and interval), prepared once.
\set msg_id 0
WITH picked AS (
    SELECT msg_id FROM public.plain_q
    WHERE vt <= clock_timestamp()
    ORDER BY msg_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE public.plain_q q
    SET vt = clock_timestamp() + interval '30 seconds',
        read_ct = q.read_ct + 1,
        last_read_at = clock_timestamp()
    FROM picked
    WHERE q.msg_id = picked.msg_id
    RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.last_read_at, q.vt, q.message, q.headers
)
SELECT msg_id FROM leased \aset
DELETE FROM public.plain_q WHERE msg_id = :msg_id::bigint RETURNING msg_id;
