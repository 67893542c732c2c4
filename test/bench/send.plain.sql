-- send, plain SQL: the insert pgmq.send performs, as a prepared statement.
INSERT INTO public.plain_q (vt, message, headers)
VALUES (clock_timestamp(), '{"k":1}', NULL)
RETURNING msg_id;
