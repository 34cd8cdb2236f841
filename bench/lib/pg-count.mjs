// Preloaded into the benchmarked server (`node --import …/pg-count.mjs`): counts the statements
// the server sends to PostgreSQL, by kind (begin, commit, select, insert, …, and the text of the
// most frequent ones), so a benchmark can say how many round trips each request costs.
// On SIGUSR2 it writes the counts so far to $CAIRN_BENCH_PG_COUNTS (a JSON file, with a
// sequence number that lets the reader know the file is fresh).
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';

const out = process.env.CAIRN_BENCH_PG_COUNTS;
// pg is what the server loads from the repository's node_modules (the bundle keeps it external).
const pg = createRequire(new URL('../../package.json', import.meta.url))('pg');
const counts = { total: 0, kinds: {}, texts: {}, writes: 0 };
// For a benchmark that runs the server in its own process (bench/server-cpu.mjs).
globalThis.cairnPgCounts = counts;
let seq = 0;

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(config, ...rest) {
  const text = typeof config === 'string' ? config : typeof config?.text === 'string' ? config.text : '';
  if (text) {
    counts.total++;
    const kind = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? 'other';
    counts.kinds[kind] = (counts.kinds[kind] ?? 0) + 1;
    const key = text.replace(/\s+/g, ' ').slice(0, 120);
    counts.texts[key] = (counts.texts[key] ?? 0) + 1;
  }
  return query.call(this, config, ...rest);
};

// The writes (system calls) on sockets to PostgreSQL: pipelined statements of one turn share one.
// A connection's socket is marked when pg connects it, TCP or Unix socket alike.
const connect = pg.Connection.prototype.connect;
pg.Connection.prototype.connect = function markedConnect(...args) {
  const r = connect.apply(this, args);
  if (this.stream) this.stream.cairnPg = true;
  return r;
};
for (const m of ['_write', '_writev']) {
  const orig = net.Socket.prototype[m];
  net.Socket.prototype[m] = function countedWrite(...args) {
    if (this.cairnPg) counts.writes++;
    return orig.apply(this, args);
  };
}

if (out)
  process.on('SIGUSR2', () => {
    writeFileSync(out, JSON.stringify({ seq: ++seq, ...counts }));
  });
