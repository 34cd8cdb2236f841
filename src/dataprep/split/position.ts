import { createHash } from 'node:crypto';
import { CairnError } from '../../core/errors.js';
import { ident } from '../tables/engine.js';
import { cumulativeRatios, type SplitRatio } from './ratios.js';

/**
 * The split hash of docs/DATAPREP.md ("Split assignment"), once in JavaScript and once in
 * DuckDB SQL. Both must give the same position for the same key, bit for bit: the tests prove
 * it, and anyone can recompute a split without Cairn.
 */
export const SPLIT_HASH_DOMAIN = 'cairn-split-v1';
const US = '\u001f';
/** 16^13 = 2^52: a 13-hex-digit integer divided by it is exact in a double. */
export const POSITION_SCALE = 2 ** 52;

/** Seeds are written in decimal into the hash input, so they must be exact integers. */
export function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) {
    throw new CairnError('USAGE', `--seed must be a whole number, not ${String(seed)}`, {
      hint: 'pass e.g. --seed 0 (the default) or --seed 42',
      data: { seed: String(seed) },
    });
  }
  return seed;
}

/** The key text of a row: each value rendered as text (null for NULL), prefixed `1`, or `0` for NULL. */
export function splitKeyText(values: ReadonlyArray<string | null>): string {
  return values.map((v) => (v === null ? '0' : `1${v}`)).join(US);
}

/** The integer of step 3: the first 13 hex digits of the hash (0 ≤ v < 2^52). */
export function splitHashInt(seed: number, keyText: string): number {
  const h = createHash('sha256')
    .update(`${SPLIT_HASH_DOMAIN}${US}${checkSeed(seed)}${US}${keyText}`, 'utf8')
    .digest('hex');
  return Number.parseInt(h.slice(0, 13), 16);
}

/** A key's position u in [0, 1). */
export function splitPosition(seed: number, keyText: string): number {
  return splitHashInt(seed, keyText) / POSITION_SCALE;
}

/** Index of the split a position falls in: the first whose cumulative ratio exceeds u. */
export function splitIndexOf(u: number, ratios: readonly SplitRatio[]): number {
  const cum = cumulativeRatios(ratios);
  const i = cum.findIndex((c) => u < c);
  return i < 0 ? ratios.length - 1 : i;
}

/** SQL (BIGINT) for the integer of step 3 over the key columns. */
export function splitHashIntSql(seed: number, keyColumns: readonly string[]): string {
  if (keyColumns.length === 0) throw new CairnError('USAGE', 'a split key needs at least one column');
  // concat() skips NULLs, so each part is its separator and flag, then the value's text (absent
  // for NULL): the same bytes as splitKeyText, built without a temporary string per part.
  const parts = keyColumns.map(
    (c) => `CASE WHEN ${ident(c)} IS NULL THEN chr(31) || '0' ELSE chr(31) || '1' END, CAST(${ident(c)} AS VARCHAR)`,
  );
  const input = `concat('${SPLIT_HASH_DOMAIN}' || chr(31) || '${checkSeed(seed)}', ${parts.join(', ')})`;
  return `('0x' || substr(sha256(${input}), 1, 13))::BIGINT`;
}

/** SQL (DOUBLE) for the position u of a row. */
export function splitPositionSql(seed: number, keyColumns: readonly string[]): string {
  return `(CAST(${splitHashIntSql(seed, keyColumns)} AS DOUBLE) / ${POSITION_SCALE}.0::DOUBLE)`;
}

/**
 * SQL for the split index from the hash integer `v`. u < c ⇔ v < c·2^52 ⇔ v < ⌈c·2^52⌉ for
 * an integer v, and c·2^52 is exact in a double, so comparing integers reproduces the
 * JavaScript comparison of doubles without trusting the engine to parse a decimal literal.
 */
export function splitIndexSql(v: string, ratios: readonly SplitRatio[]): string {
  const cum = cumulativeRatios(ratios);
  const arms = cum.slice(0, -1).map((c, i) => `WHEN ${v} < ${Math.ceil(c * POSITION_SCALE)} THEN ${i}`);
  return `(CASE ${arms.join(' ')} ELSE ${ratios.length - 1} END)`;
}

/**
 * A JavaScript value as DuckDB's CAST(value AS VARCHAR) writes it, for the types Cairn loads
 * (BIGINT and the other integers, DOUBLE, BOOLEAN, DATE, TIMESTAMP, VARCHAR). With it a key's
 * text can be rebuilt from typed values outside DuckDB. Returns null for null.
 */
export function sqlText(value: unknown, type: string): string | null {
  if (value === null || value === undefined) return null;
  const t = type.toUpperCase();
  if (t === 'VARCHAR' || t === 'TEXT' || t === 'STRING') return String(value);
  if (t === 'BOOLEAN' || t === 'BOOL') return value ? 'true' : 'false';
  if (/^(BIGINT|INTEGER|INT|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|UHUGEINT)$/.test(t)) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return value;
    throw new Error(`not an integer: ${String(value)}`);
  }
  if (t === 'DOUBLE' || t === 'FLOAT8') return doubleText(Number(value));
  if (t === 'DATE') return dateText(value);
  if (t === 'TIMESTAMP' || t === 'DATETIME') return timestampText(value);
  throw new Error(`sqlText does not know DuckDB's text form of ${type}`);
}

/**
 * DuckDB writes doubles in their shortest round-trip digits, positional when the decimal
 * exponent is in [-4, 15] (with `.0` when integral), else as d.ddde±XX.
 */
export function doubleText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let body: string;
  if (exp < -4 || exp > 15) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp < 0) {
    body = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    body = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return neg ? `-${body}` : body;
}

function civil(value: unknown): Date {
  const d = value instanceof Date ? value : new Date(String(value));
  if (Number.isNaN(d.getTime())) throw new Error(`not a time: ${String(value)}`);
  const y = d.getUTCFullYear();
  if (y < 1 || y > 9999) throw new Error(`years outside 1..9999 are not supported: ${String(value)}`);
  return d;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function dateText(value: unknown): string {
  const d = civil(value);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** A JS Date carries milliseconds; DuckDB drops trailing zeros of the fraction and a zero fraction. */
function timestampText(value: unknown): string {
  const d = civil(value);
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? '' : `.${pad(ms, 3).replace(/0+$/, '')}`;
  return `${dateText(d)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`;
}
