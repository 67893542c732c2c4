#!/usr/bin/env bash
# demo/order_flow.sh: an online shop's order flow on pgmq_c, told step by step.
#
# scripts/demo runs this against a throwaway server, with PGHOST, PGPORT,
# PGUSER and PGDATABASE set and `CREATE EXTENSION pgmq_c` done.  To run it
# against your own database, set those yourself; it creates the table
# orders_db, the table stock, six queues and their topic bindings, so use an
# empty database.
#
# Every service here is a few lines of bash calling psql, the way any client
# would call the same SQL functions: read with a visibility timeout, work,
# then delete or archive.
set -euo pipefail

export PGOPTIONS='-c client_min_messages=warning'
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

QUEUES=(payments inventory emails warehouse analytics payments_dlq)

# Rows of a query, unaligned: columns separated by '|'.
q() { "${PSQL[@]}" -At -F'|' -c "$1"; }
# Output layout: an empty line between blocks, never two.
BLANK=1
blank() {
	[ "$BLANK" -eq 1 ] || echo
	BLANK=1
}
# A query printed as a small table, followed by an empty line.
show() {
	"${PSQL[@]}" -P footer=off -c "$1" | sed -e '/^$/d' -e 's/ *$//' -e 's/^/    /'
	BLANK=0
	blank
}
STEP=0
step() {
	STEP=$((STEP + 1))
	blank
	printf '== Step %d. %s\n\n' "$STEP" "$*"
}
# Narration; say "" ends a block.
say() {
	if [ -n "$*" ]; then
		printf '   %s\n' "$*"
		BLANK=0
	else
		blank
	fi
}
# One line of a service's log: "   payments:   charged 25.00 ..."
log() {
	printf '   %-11s %s\n' "$1:" "$2"
	BLANK=0
}
now_ms() { date +%s%3N; }

# The columns a consumer here reads, in this order.
FIELDS="msg_id, read_ct, message->>'order_id', message->>'customer',
        message->>'sku', message->>'qty', message->>'amount',
        headers->>'correlation_id', message::text, headers::text"

# ---------------------------------------------------------------------------
step "Set up: the shop's own tables, six queues and who hears what"

"${PSQL[@]}" <<'SQL'
CREATE TABLE orders_db (
    order_id   integer PRIMARY KEY,
    customer   text NOT NULL,
    sku        text NOT NULL,
    qty        integer NOT NULL,
    amount     text NOT NULL,         -- stored as the checkout sent it
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE stock (
    sku     text PRIMARY KEY,
    on_hand integer NOT NULL CHECK (on_hand >= 0)
);
INSERT INTO stock VALUES ('mug', 20), ('tshirt', 10), ('poster', 5);
SQL
for name in "${QUEUES[@]}"; do
	q "SELECT pgmq.create('$name')" >/dev/null
done
for name in payments inventory emails warehouse; do
	q "SELECT pgmq.bind_topic('order.placed', '$name')" >/dev/null
done
q "SELECT pgmq.bind_topic('order.#', 'analytics')" >/dev/null
q "SELECT pgmq.set_queue_policy('payments', max_receives => 3,
                                dead_letter_queue => 'payments_dlq')" >/dev/null
say "tables orders_db and stock; pgmq.create() for each queue:"
show "SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues()"
say "Each service binds its queue to the events it wants to hear about:"
say "pgmq.bind_topic(pattern, queue).  analytics wants every order event:"
show "SELECT pattern, queue_name FROM pgmq.list_topic_bindings() ORDER BY queue_name"
say "and a policy: a payment message delivered 3 times without success goes"
say "to payments_dlq instead of a 4th time:"
show "SELECT queue_name, max_receives, dead_letter_queue FROM pgmq.queue_policies"

# ---------------------------------------------------------------------------
# The order service: the business insert, the stock update and the message
# all commit together, or not at all.
checkout() {
	local values=$1 ids=$2
	"${PSQL[@]}" -At <<SQL
BEGIN;
INSERT INTO orders_db (order_id, customer, sku, qty, amount) VALUES $values;
UPDATE stock s SET on_hand = s.on_hand - o.qty
  FROM (SELECT sku, sum(qty) AS qty FROM orders_db
         WHERE order_id IN ($ids) GROUP BY sku) o
 WHERE s.sku = o.sku;
SELECT count(*) FROM pgmq.send_batch_topic(
    'order.placed',
    ARRAY(SELECT to_jsonb(o) - 'created_at' FROM orders_db o
           WHERE order_id IN ($ids) ORDER BY order_id),
    ARRAY(SELECT jsonb_build_object('correlation_id', 'req-' || order_id,
                                    'source', 'web-checkout',
                                    'x-pgmq-dedup-id', 'order-placed-' || order_id)
            FROM orders_db WHERE order_id IN ($ids) ORDER BY order_id));
COMMIT;
SQL
}

step "Checkout: four orders, written and enqueued in one transaction"

say "The order service runs, in ONE transaction:"
say "  INSERT INTO orders_db ...                 -- the business write"
say "  UPDATE stock ...                          -- take the items off the shelf"
say "  SELECT pgmq.send_batch_topic(             -- publish 'order.placed' once"
say "         'order.placed', msgs, headers)     --  per order; headers carry a"
say "                                            --  correlation id and a dedup id"
say ""
copies=$(checkout "(1001, 'alice', 'mug',    2, '25.00'),
                (1002, 'bob',   'tshirt', 1, '19.90'),
                (1003, 'carol', 'poster', 3, '36.00'),
                (1004, 'dave',  'mug',    1, '12.50')" "1001, 1002, 1003, 1004")
say "committed orders 1001-1004: four messages published, $copies copies queued."
say "The order service knows no queue: the bindings fan each message out."
say "Order 1001, published once, is now in every queue bound to 'order.placed':"
copies_of_1001=""
for name in payments inventory emails warehouse analytics; do
	copies_of_1001+="${copies_of_1001:+ UNION ALL }SELECT '$name' AS queue_name, msg_id,
	    headers->>'correlation_id' AS correlation_id FROM pgmq.q_$name WHERE message->>'order_id' = '1001'"
done
show "$copies_of_1001 ORDER BY 1"

# ---------------------------------------------------------------------------
step "A checkout that fails: nothing is enqueued"

say "Order 1005 wants 50 posters; only 2 are left.  Same transaction shape:"
out=$("${PSQL[@]}" -At 2>&1 <<'SQL' || true
BEGIN;
INSERT INTO orders_db (order_id, customer, sku, qty, amount)
     VALUES (1005, 'erin', 'poster', 50, '600.00');
SELECT 'sent' AS what, pgmq.send_topic('order.placed',
    '{"order_id": 1005, "customer": "erin", "sku": "poster", "qty": 50, "amount": "600.00"}'::jsonb,
    '{"correlation_id": "req-1005", "source": "web-checkout"}'::jsonb, 0);
UPDATE stock SET on_hand = on_hand - 50 WHERE sku = 'poster';
COMMIT;
SQL
)
sent=$(printf '%s\n' "$out" | sed -n 's/^sent|//p')
err=$(printf '%s\n' "$out" | grep -m1 'ERROR' | sed -e 's/^.*ERROR: */ERROR: /' -e 's/ "[^"]*"$//')
say "inside the transaction pgmq.send_topic reached $sent queues, then:"
say "  $err"
say "so the whole transaction rolled back.  Afterwards:"
say "  orders_db rows for 1005:     $(q "SELECT count(*) FROM orders_db WHERE order_id = 1005")"
say "  queued messages for 1005:    $(q "SELECT (SELECT count(*) FROM pgmq.q_payments WHERE message->>'order_id' = '1005')
                                          + (SELECT count(*) FROM pgmq.q_inventory WHERE message->>'order_id' = '1005')
                                          + (SELECT count(*) FROM pgmq.q_emails WHERE message->>'order_id' = '1005')
                                          + (SELECT count(*) FROM pgmq.q_warehouse WHERE message->>'order_id' = '1005')
                                          + (SELECT count(*) FROM pgmq.q_analytics WHERE message->>'order_id' = '1005')")"
say "  posters on hand:             $(q "SELECT on_hand FROM stock WHERE sku = 'poster'")"
say "No ghost message for an order that does not exist."

# ---------------------------------------------------------------------------
step "Fan-out, and a repeated publish that queues nothing twice"

say "Each 'order.placed' went to the five queues bound to it.  Who would hear"
say "an 'order.cancelled'?  pgmq.test_routing('order.cancelled'):"
show "SELECT pattern, queue_name FROM pgmq.test_routing('order.cancelled') ORDER BY queue_name"
say "A publisher that cannot tell whether its send went through (a timeout,"
say "a restart) sends again.  Order 1004's headers carry x-pgmq-dedup-id"
say "'order-placed-1004', so each queue returns the msg_id it already holds"
say "and stores nothing:"
show "SELECT queue_name, msg_id
        FROM pgmq.send_batch_topic('order.placed',
             ARRAY(SELECT to_jsonb(o) - 'created_at' FROM orders_db o WHERE order_id = 1004),
             ARRAY[jsonb_build_object('correlation_id', 'req-1004', 'source', 'web-checkout',
                                      'x-pgmq-dedup-id', 'order-placed-1004')])
       ORDER BY 1"
copies_of_1004=""
for name in payments inventory emails warehouse analytics; do
	copies_of_1004+="${copies_of_1004:+, }(SELECT count(*) FROM pgmq.q_$name WHERE message->>'order_id' = '1004')"
done
say "copies of order 1004 in each queue after the repeat: $(q "SELECT greatest($copies_of_1004)")"
say ""
show "SELECT queue_name, queue_length, queue_visible_length AS visible,
             total_messages AS sent_total
        FROM pgmq.metrics_all() WHERE queue_name <> 'payments_dlq'"
say "(sent_total counts msg_ids handed out, as in pgmq: each queue's count"
say "includes the ids the rolled-back checkout of order 1005 and the repeat"
say "drew, and stored nothing under.)"

# ---------------------------------------------------------------------------
step "Consumers at work (analytics is down for maintenance)"

say "Each service reads with a visibility timeout (vt): the messages it took"
say "are hidden from others for vt seconds; it deletes or archives them when"
say "done.  If it dies first, they reappear after vt (step 7 shows it)."
say ""

# inventory: read, reserve, delete (nothing worth keeping).
inventory() {
	local rows ids=() id ct oid cust sku qty amount corr msg hdr
	rows=$(q "SELECT $FIELDS FROM pgmq.read('inventory', 30, 10)")
	while IFS='|' read -r id ct oid cust sku qty amount corr msg hdr; do
		[ -n "$id" ] || continue
		log inventory "reserved $qty x $sku for order $oid ($corr)"
		ids+=("$id")
	done <<<"$rows"
	[ "${#ids[@]}" -gt 0 ] || return 0
	log inventory "pgmq.delete('inventory', ARRAY[$(IFS=,; echo "${ids[*]}")]) -> $(q "SELECT count(*) FROM pgmq.delete('inventory', ARRAY[$(IFS=,; echo "${ids[*]}")]::bigint[])") deleted"
}

# emails: pop (read and delete at once): at most once is fine for a
# confirmation mail; a mail sent twice is worse than one lost in a crash.
emails() {
	local rows id ct oid cust sku qty amount corr msg hdr
	rows=$(q "SELECT $FIELDS FROM pgmq.pop('emails', 10)")
	while IFS='|' read -r id ct oid cust sku qty amount corr msg hdr; do
		[ -n "$id" ] || continue
		log emails "pgmq.pop -> mailed $cust: order $oid confirmed"
	done <<<"$rows"
}

# warehouse: read, pack, archive (the archive is the packing record).
# $1: how many to take, $2: worker name.
warehouse() {
	local rows id ct oid cust sku qty amount corr msg hdr
	rows=$(q "SELECT $FIELDS FROM pgmq.read('warehouse', 30, ${1:-10})")
	while IFS='|' read -r id ct oid cust sku qty amount corr msg hdr; do
		[ -n "$id" ] || continue
		log "${2:-warehouse}" "packed order $oid (msg $id, read_ct $ct); archive -> $(q "SELECT pgmq.archive('warehouse', $id::bigint)")"
	done <<<"$rows"
}

# payments: charge the amount; a malformed amount fails and the message is
# left alone, to come back after its vt (1 s, so that retries are quick).
# The queue's policy, not this code, sets failures aside: after 3 deliveries
# the next read moves the message to payments_dlq.  PAYMENTS_ACCEPT_COMMA=1
# is the fixed release that understands '12,50'.
PAYMENTS_ACCEPT_COMMA=0
payments() {
	local rows id ct oid cust sku qty amount corr msg hdr poll=${1:-0}
	if [ "$poll" -gt 0 ]; then
		rows=$(q "SELECT $FIELDS FROM pgmq.read_with_poll('payments', 1, 10, $poll, 100)")
	else
		rows=$(q "SELECT $FIELDS FROM pgmq.read('payments', 1, 10)")
	fi
	FAILED_LEFT=0
	while IFS='|' read -r id ct oid cust sku qty amount corr msg hdr; do
		[ -n "$id" ] || continue
		if [ "$PAYMENTS_ACCEPT_COMMA" -eq 1 ] && [[ $amount =~ ^[0-9]+,[0-9]{2}$ ]]; then
			amount=${amount/,/.}
		fi
		if [[ $amount =~ ^[0-9]+\.[0-9]{2}$ ]]; then
			log payments "charged $cust $amount for order $oid (read_ct $ct); archive -> $(q "SELECT pgmq.archive('payments', $id::bigint)")"
		else
			log payments "order $oid: bad amount '$amount': FAILED, read_ct $ct"
			FAILED_LEFT=1
		fi
	done <<<"$rows"
}

inventory
emails
warehouse 10
payments
say ""
say "analytics: (down; nobody reads its queue)"
say ""
show "SELECT queue_name, queue_length, queue_visible_length AS visible,
             total_messages AS sent_total
        FROM pgmq.metrics_all() WHERE queue_name <> 'payments_dlq'"

# ---------------------------------------------------------------------------
step "More orders arrive; analytics is still down and its queue grows"

sleep 1
copies=$(checkout "(1006, 'frank', 'tshirt', 2, '39.80'),
                (1007, 'grace', 'mug',    1, '12,50'),
                (1008, 'heidi', 'poster', 1, '12.00')" "1006, 1007, 1008")
say "committed orders 1006-1008 ($copies copies queued).  Order 1007 came from an"
say "old mobile app that writes the amount as '12,50'.  Nothing checks it yet."
say ""
say "pgmq.metrics('analytics'):"
show "SELECT queue_length, queue_visible_length AS visible,
             oldest_msg_age_sec, total_messages
        FROM pgmq.metrics('analytics')"
say "Producers are not slowed down by a missing consumer: the queue levels"
say "the load, and analytics will work through it when it is back."
say ""
inventory
emails

# ---------------------------------------------------------------------------
step "A consumer crashes: its message comes back after the vt"

rows=$(q "SELECT $FIELDS FROM pgmq.read('warehouse', 2, 1)")
IFS='|' read -r id ct oid _ <<<"$rows"
log warehouse-1 "read(vt => 2, qty => 1): order $oid (msg $id, read_ct $ct)"
log warehouse-1 "*** killed before it could archive ***"
warehouse 10 warehouse-2
log warehouse-2 "(order $oid is not offered: warehouse-1's lease has 2 s to run)"
log warehouse-2 "read_with_poll('warehouse', 30, 10, max_poll_seconds => 5)"
t0=$(now_ms)
rows=$(q "SELECT $FIELDS FROM pgmq.read_with_poll('warehouse', 30, 10, 5, 100)")
t1=$(now_ms)
IFS='|' read -r id ct oid _ <<<"$rows"
log warehouse-2 "after $(((t1 - t0 + 50) / 100 / 10)).$(((t1 - t0 + 50) / 100 % 10)) s: order $oid again (msg $id, read_ct $ct)"
log warehouse-2 "packed order $oid; archive -> $(q "SELECT pgmq.archive('warehouse', $id::bigint)")"
say ""
say "read_ct $ct tells the second worker this is a redelivery: handlers must"
say "be idempotent, or check their own records before acting twice."

# ---------------------------------------------------------------------------
step "A poison message: three failed attempts, then the dead-letter queue"

say "payments reads with vt => 1 s: a message it fails on comes back after"
say "1 s with read_ct one higher.  The consumer does nothing special: the"
say "queue's policy (max_receives 3) keeps a 4th delivery from happening."
say ""
payments
while [ "$FAILED_LEFT" -eq 1 ]; do
	payments 2
done
log payments "read_with_poll: nothing more; order 1007 was not delivered a 4th time"
say ""
say "The policy moved it to payments_dlq, with where it came from in its"
say "headers: the 4th read did, in the same statement (or the background"
say "worker's pass, if it came first):"
show "SELECT msg_id, message->>'order_id' AS order_id,
             headers->>'x-pgmq-dlq-source' AS source,
             headers->>'x-pgmq-dlq-msg-id' AS source_msg_id,
             headers->>'x-pgmq-dlq-read-ct' AS deliveries,
             headers->>'correlation_id' AS correlation_id
        FROM pgmq.q_payments_dlq"
say "Nothing is lost, and payments kept working for everyone else."

# ---------------------------------------------------------------------------
step "The fix ships; an operator redrives the dead letter"

PAYMENTS_ACCEPT_COMMA=1
say "payments v2 reads '12,50' as 12.50.  The operator sends the dead letters"
say "back to where they came from, with read_ct starting again at 0:"
say ""
say "  SELECT pgmq.redrive('payments_dlq');  -> $(q "SELECT pgmq.redrive('payments_dlq')") message(s) moved"
say ""
payments
say ""
say "payments_dlq is empty again: $(q "SELECT queue_length FROM pgmq.metrics('payments_dlq')") message(s) waiting."

# ---------------------------------------------------------------------------
step "The analytics service is back and catches up"

batch=0
while :; do
	rows=$(q "SELECT $FIELDS FROM pgmq.read_with_poll('analytics', 30, 3, 1, 100)")
	if [ -z "$rows" ]; then
		log analytics "read_with_poll waited 1 s and found nothing: caught up"
		break
	fi
	batch=$((batch + 1))
	orders=$(cut -d'|' -f3 <<<"$rows" | paste -sd' ')
	batch_ids=$(cut -d'|' -f1 <<<"$rows" | paste -sd,)
	n=$(q "SELECT count(*) FROM pgmq.archive('analytics', ARRAY[$batch_ids]::bigint[])")
	log analytics "batch $batch: orders $orders -> recorded, $n archived"
done

# ---------------------------------------------------------------------------
step "Summary"

values=""
for name in "${QUEUES[@]}"; do
	values+="${values:+, }('$name', (SELECT count(*) FROM pgmq.a_$name))"
done
show "SELECT m.queue_name, m.queue_length AS waiting, m.total_messages AS sent,
             a.archived
        FROM pgmq.metrics_all() m
        JOIN (VALUES $values) AS a(queue_name, archived) USING (queue_name)
       ORDER BY array_position(ARRAY['payments', 'inventory', 'emails',
                               'warehouse', 'analytics', 'payments_dlq'], m.queue_name)"

everywhere=""
for name in "${QUEUES[@]}"; do
	everywhere+="${everywhere:+ + }(SELECT count(*) FROM pgmq.q_$name WHERE message->>'order_id' = '1005')"
	everywhere+=" + (SELECT count(*) FROM pgmq.a_$name WHERE message->>'order_id' = '1005')"
done
say "(sent includes the msg_ids each queue handed the rolled-back checkout"
say "and the repeated publish.)"
say ""
say "orders in orders_db:                        $(q "SELECT count(*) FROM orders_db")"
say "messages about rolled-back order 1005,"
say "  in all queues and archives:               $(q "SELECT $everywhere")"
say "dead letters set aside by policy:           $(q "SELECT count(*) FROM pgmq.a_payments WHERE headers ? 'x-pgmq-redriven-from'") (redriven and charged after the fix)"
say "dead letters waiting for a human:           $(q "SELECT queue_length FROM pgmq.metrics('payments_dlq')")"
say ""
say "inventory and emails delete (no archive); warehouse, payments and"
say "analytics archive, so pgmq.a_<queue> keeps what they processed."
