import { createHash } from 'node:crypto';
import type { TableEngine } from '../tables/engine.js';
import { PII_PATTERNS, type PiiKind } from './patterns.js';

/**
 * PII detection, redaction and pseudonymization as DuckDB SQL, so a scan over millions of rows
 * runs inside the engine's one pass. Checksums (Luhn for cards, ISO 13616 mod-97 for IBANs)
 * are macros over list functions; HMAC-SHA256 is composed from sha256() over blobs.
 */
const MACROS = [
  `CREATE OR REPLACE MACRO cairn_digits(s) AS list_transform(string_split(regexp_replace(s, '[^0-9]', '', 'g'), ''), lambda c: c::INTEGER)`,
  `CREATE OR REPLACE MACRO cairn_luhn_d(d) AS len(d) BETWEEN 13 AND 19 AND list_sum(list_transform(range(len(d)), lambda i: CASE WHEN i % 2 = 1 THEN (CASE WHEN d[len(d) - i] * 2 > 9 THEN d[len(d) - i] * 2 - 9 ELSE d[len(d) - i] * 2 END) ELSE d[len(d) - i] END)) % 10 = 0`,
  `CREATE OR REPLACE MACRO cairn_luhn(s) AS cairn_luhn_d(cairn_digits(s))`,
  `CREATE OR REPLACE MACRO cairn_iban_digits(s) AS list_transform(string_split(upper(substr(replace(s, ' ', ''), 5) || substr(replace(s, ' ', ''), 1, 4)), ''), lambda c: CASE WHEN c >= 'A' THEN ascii(c) - 55 ELSE ascii(c) - 48 END)`,
  `CREATE OR REPLACE MACRO cairn_iban_ok(s) AS length(replace(s, ' ', '')) BETWEEN 15 AND 34 AND list_reduce(cairn_iban_digits(s), lambda acc, x: CASE WHEN x >= 10 THEN (acc * 100 + x) % 97 ELSE (acc * 10 + x) % 97 END, 0) = 1`,
];

export async function installPiiMacros(engine: TableEngine): Promise<void> {
  for (const m of MACROS) await engine.run(m);
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function pattern(kind: PiiKind) {
  const p = PII_PATTERNS.find((x) => x.kind === kind);
  if (!p) throw new Error(`unknown PII kind ${kind}`);
  return p;
}

/**
 * The shortest text each pattern can match (`a@b.cc`; `+1 2 3 45`-like phones; 13 card digits;
 * a 15-character IBAN): shorter values are skipped without running the pattern at all.
 */
const MIN_LENGTH: Record<PiiKind, number> = { email: 6, phone: 6, card: 13, iban: 15 };

/**
 * SQL: how many confirmed matches of `kind` the text expression `col` holds.
 *
 * `alongside` are the kinds counted in the same scan of the same column (default: `kind` alone).
 * Most values hold no match, so each count is guarded by tests that rule a value out cheaply:
 *
 * - its length (`MIN_LENGTH`);
 * - emails: a literal `@` (a substring search, no pattern) — every email match holds exactly one;
 * - phones, cards, IBANs counted together: ONE pattern, the alternation of theirs, which matches
 *   a value exactly when one of them does. The guard is the same text in each kind's count,
 *   so DuckDB evaluates it once per value (common subexpressions), and a value none of the
 *   kinds matches costs one pattern instead of three;
 * - then the kind's own yes/no match, before any list of matches is built.
 *
 * An email match holds exactly one `@` (no character class of the pattern admits one), and
 * matches do not overlap, so a value with one `@` that matches holds exactly one match: the
 * list of matches is built only for values with several `@`. Every guard is implied by a
 * match, so the counts are those of `regexp_extract_all` alone.
 */
export function piiCountSql(col: string, kind: PiiKind, alongside: readonly PiiKind[] = [kind]): string {
  const p = pattern(kind);
  const text = `CAST(${col} AS VARCHAR)`;
  const re = sqlString(p.source);
  const all = `regexp_extract_all(${text}, ${re})`;
  if (kind === 'email') {
    const ats = `length(${text}) - length(replace(${text}, '@', ''))`;
    return `CASE WHEN length(${text}) >= ${MIN_LENGTH.email} AND contains(${text}, '@') AND regexp_matches(${text}, ${re}) THEN (CASE WHEN ${ats} = 1 THEN 1 ELSE len(${all}) END) ELSE 0 END`;
  }
  const count =
    p.checksum === 'luhn'
      ? `len(list_filter(${all}, lambda x: cairn_luhn(x)))`
      : p.checksum === 'iban-mod97'
        ? `len(list_filter(${all}, lambda x: cairn_iban_ok(x)))`
        : `len(${all})`;
  const gate = digitKindsGate(text, alongside);
  return `CASE WHEN length(${text}) >= ${MIN_LENGTH[kind]}${gate ? ` AND ${gate}` : ''} AND regexp_matches(${text}, ${re}) THEN ${count} ELSE 0 END`;
}

/** The shared guard of the non-email kinds counted together (null for fewer than two). */
function digitKindsGate(text: string, kinds: readonly PiiKind[]): string | null {
  const ordered = PII_PATTERNS.filter((x) => x.kind !== 'email' && kinds.includes(x.kind));
  if (ordered.length < 2) return null;
  const shortest = Math.min(...ordered.map((x) => MIN_LENGTH[x.kind]));
  const either = ordered.map((x) => `(?:${x.source})`).join('|');
  return `(length(${text}) >= ${shortest} AND regexp_matches(${text}, ${sqlString(either)}))`;
}

/** SQL: `col` with every confirmed match of the given kinds replaced by its token. */
export function redactSql(col: string, kinds: readonly PiiKind[] = ['email', 'phone', 'card', 'iban']): string {
  let expr = `CAST(${col} AS VARCHAR)`;
  // Checksum kinds first: their digit runs must be judged before phone numbers eat them.
  const ordered = [...kinds].sort(
    (a, b) => Number(pattern(b).checksum !== null) - Number(pattern(a).checksum !== null),
  );
  for (const kind of ordered) {
    const p = pattern(kind);
    if (p.checksum) {
      const check = p.checksum === 'luhn' ? 'cairn_luhn(x)' : 'cairn_iban_ok(x)';
      const re = sqlString(p.source);
      // Replace by position, as the JavaScript side does: split the text around the candidates
      // and put each back, or its token where the checksum holds. (Replacing every occurrence
      // of a confirmed value would also rewrite it inside longer digit runs.)
      const found = `list_append(list_transform(regexp_extract_all(${expr}, ${re}), lambda x: CASE WHEN ${check} THEN ${sqlString(p.token)} ELSE x END), '')`;
      expr = `array_to_string(list_transform(list_zip(regexp_split_to_array(${expr}, ${re}), ${found}), lambda p: p[1] || p[2]), '')`;
    } else {
      expr = `regexp_replace(${expr}, ${sqlString(p.source)}, ${sqlString(p.token)}, 'g')`;
    }
  }
  return expr;
}

/**
 * SQL for HMAC-SHA256(key, UTF-8 of col) as lowercase hex (RFC 2104). The key enters the SQL
 * text only as its two pads; the SQL is never logged or stored.
 */
export function hmacSql(col: string, key: Buffer): string {
  const block = 64;
  let k = key.length > block ? createHash('sha256').update(key).digest() : key;
  k = Buffer.concat([k, Buffer.alloc(block - k.length)]);
  const ipad = Buffer.from(k.map((b) => b ^ 0x36)).toString('hex');
  const opad = Buffer.from(k.map((b) => b ^ 0x5c)).toString('hex');
  return `CASE WHEN ${col} IS NULL THEN NULL ELSE sha256(unhex('${opad}') || unhex(sha256(unhex('${ipad}') || encode(CAST(${col} AS VARCHAR))))) END`;
}
