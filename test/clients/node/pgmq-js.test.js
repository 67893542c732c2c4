// pgmq-js, a pgmq client library for Node.js, used unchanged against
// pgmq_c.  node-postgres sends parameters untyped, so this also exercises
// the calls pgmq leaves ambiguous (pgmq-js's setVt runs
// "pgmq.set_vt($1, $2, $3)" with all three untyped).
//
// Connection from PGHOST (a socket directory), PGPORT, PGUSER (a superuser),
// PGDATABASE.  The tests run in a database of their own, made fresh here, in
// which pgmq-js itself runs CREATE EXTENSION IF NOT EXISTS pgmq CASCADE, as
// it does by default: the companion extension pgmq (make install-companion)
// answers it with pgmq_c.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Pgmq } from 'pgmq-js';

const server = {
  host: process.env.PGHOST,
  port: Number(process.env.PGPORT),
  user: process.env.PGUSER,
  password: '',
  ssl: false,
};
const admin = { ...server, database: process.env.PGDATABASE };
const conn = { ...server, database: 'pgmq_js_fresh' };

let pgmq;
let pool;

async function adminQuery(sql) {
  const client = new pg.Client(admin);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

before(async () => {
  await adminQuery('DROP DATABASE IF EXISTS pgmq_js_fresh WITH (FORCE)');
  await adminQuery('CREATE DATABASE pgmq_js_fresh');
  // No options: pgmq-js runs CREATE EXTENSION IF NOT EXISTS pgmq CASCADE.
  pgmq = await Pgmq.new({ ...conn });
  pool = new pg.Pool(conn);
});

after(async () => {
  await pgmq.close();
  await pool.end();
  await adminQuery('DROP DATABASE IF EXISTS pgmq_js_fresh WITH (FORCE)');
});

test('pgmq-js creates extension pgmq itself: pgmq_c, under the name pgmq', async () => {
  const { rows } = await pool.query(
    `SELECT extname, extversion, extnamespace::regnamespace::text AS schema
     FROM pg_extension WHERE extname IN ('pgmq', 'pgmq_c') ORDER BY extname`);
  assert.deepEqual(rows.map((r) => `${r.extname} ${r.schema}`), ['pgmq pgmq', 'pgmq_c pgmq']);
  // The pgmq API level pgmq_c provides, for clients that read extversion.
  assert.equal(rows[0].extversion, '1.13.0');
  // A second client connecting runs the same statement: nothing to do.
  const again = await Pgmq.new({ ...conn });
  await again.close();
});

test('queue management', async () => {
  await pgmq.queue.create('js_orders');
  await pgmq.queue.create('js_orders');               // idempotent
  await pgmq.queue.createUnlogged('js_fast');
  const names = (await pgmq.queue.list()).map((q) => q.name).sort();
  assert.deepEqual(names.filter((n) => n.startsWith('js_')), ['js_fast', 'js_orders']);
  const fast = (await pgmq.queue.list()).find((q) => q.name === 'js_fast');
  assert.equal(fast.isUnlogged, true);
  await pgmq.queue.drop('js_fast');
});

test('send, read, set_vt, delete, archive, pop', async () => {
  const q = 'js_orders';
  const id = await pgmq.msg.send(q, { order: 1 });
  const batch = await pgmq.msg.sendBatch(q, [{ order: 2 }, { order: 3 }, { order: 4 }]);
  assert.deepEqual(batch, [id + 1, id + 2, id + 3]);
  await pgmq.msg.send(q, { order: 5 }, 3600);         // delayed an hour

  const read = await pgmq.msg.readBatch(q, 30, 10);
  assert.deepEqual(read.map((m) => m.message.order), [1, 2, 3, 4]);
  assert.ok(read.every((m) => m.readCount === 1));
  assert.deepEqual(await pgmq.msg.readBatch(q, 30, 10), [], 'leased messages are hidden');

  // set_vt($1, $2, $3), all untyped: ambiguous in pgmq, an id and seconds here.
  const visible = await pgmq.msg.setVt(q, id, 0);
  assert.equal(visible.msgId, id);
  assert.ok(visible.vt.getTime() <= Date.now() + 1000);
  const again = await pgmq.msg.read(q, 30);
  assert.equal(again.msgId, id);
  assert.equal(again.readCount, 2, 'a redelivery counts');

  assert.equal(await pgmq.msg.delete(q, id), true);
  assert.equal(await pgmq.msg.delete(q, id), false);
  assert.equal(await pgmq.msg.archive(q, id + 1), true);
  assert.deepEqual(await pgmq.msg.deleteBatch(q, [id + 2, 999999]), [id + 2]);
  assert.deepEqual(await pgmq.msg.archiveBatch(q, [id + 3]), [id + 3]);

  await pgmq.msg.setVt(q, id + 4, 0);                 // the delayed one, now
  const popped = await pgmq.msg.pop(q);
  assert.equal(popped.message.order, 5);
  assert.equal(await pgmq.msg.pop(q), undefined);

  const metrics = await pgmq.queue.getMetrics(q);
  assert.equal(metrics.queueLength, 0);
  assert.equal(metrics.totalMessages, 5);
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM pgmq.a_js_orders');
  assert.equal(rows[0].n, 2);
});

test('untyped calls straight through node-postgres', async () => {
  const q = 'js_orders';
  // send($1, $2, $3): an object third argument is headers ...
  const { rows: [h] } = await pool.query('SELECT * FROM pgmq.send($1, $2, $3)',
    [q, { order: 6 }, { trace: 'abc' }]);
  // ... a number is a delay in seconds, a Date a time to become visible.
  await pool.query('SELECT * FROM pgmq.send($1, $2, $3)', [q, { order: 7 }, 3600]);
  await pool.query('SELECT * FROM pgmq.send($1, $2, $3)', [q, { order: 8 }, new Date(Date.now() + 3600e3)]);
  const { rows: stored } = await pool.query(
    `SELECT message->>'order' AS o, headers, vt > now() + interval '59 minutes' AS later
     FROM pgmq.q_js_orders WHERE msg_id >= $1 ORDER BY msg_id`, [h.send]);
  assert.deepEqual(stored, [
    { o: '6', headers: { trace: 'abc' }, later: false },
    { o: '7', headers: null, later: true },
    { o: '8', headers: null, later: true },
  ]);

  // A typed message and an untyped delay, as some ORMs write it.
  await pool.query('SELECT * FROM pgmq.send($1, $2::jsonb, $3)', [q, JSON.stringify({ order: 9 }), 3600]);
  const { rows: [late] } = await pool.query(
    `SELECT vt > now() + interval '59 minutes' AS later FROM pgmq.q_js_orders WHERE message->>'order' = '9'`);
  assert.equal(late.later, true);

  // delete($1, $2) untyped: the id when it existed, NULL when not.
  const del = async (ids) => (await pool.query('SELECT * FROM pgmq.delete($1, $2) AS d', [q, ids])).rows.map((r) => r.d);
  assert.deepEqual(await del(h.send), [String(h.send)]);
  assert.deepEqual(await del(h.send), [null]);
  assert.deepEqual(await del([Number(h.send) + 1, Number(h.send) + 2]), [String(Number(h.send) + 1), String(Number(h.send) + 2)]);

  await pgmq.queue.purge(q);
  await pgmq.queue.drop(q);
  const names = (await pgmq.queue.list()).map((x) => x.name);
  assert.ok(!names.includes(q));
});
