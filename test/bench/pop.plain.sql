-- pop, plain SQL: the work pgmq.pop does, written the cheapest way (literal
-- LIMIT), prepared once.
WITH picked AS (
    SELECT msg_id FROM public.plain_q
    WHERE vt <= clock_timestamp()
    ORDER BY msg_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
DELETE FROM public.plain_q q
USING picked
WHERE q.msg_id = picked.msg_id
RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.last_read_at, q.vt, q.message, q.headers;
