import YAML, { isMap, isSeq, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import type { ColumnProfile, TableProfile } from './profile.js';

/** Text columns with at most this many distinct values get an `allowed` check. */
const ALLOWED_MAX = 20;
const ROWS_SLACK = 0.5;

/**
 * `cairn data suite infer`: a starting suite, as commented YAML, that the data it was inferred
 * from passes. It records what the data IS (observed types, bounds, value sets), which is a
 * guess at what it MUST be; the comments say so, and every bound is meant to be reviewed.
 */
export function inferSuite(profile: TableProfile, opts: { name?: string } = {}): string {
  const rows = profile.rows;
  const cols = profile.columns;
  const checks: Array<{ value: Record<string, unknown>; comment: string; flow: 'all' | 'inner' | 'none' }> = [];

  checks.push({
    value: { row_count: { min: Math.floor(rows * (1 - ROWS_SLACK)), max: Math.ceil(rows * (1 + ROWS_SLACK)) } },
    comment: ` Rows: ${fmt(rows)} when inferred; these bounds allow ±${ROWS_SLACK * 100} %.`,
    flow: 'inner',
  });
  checks.push({
    value: { schema: { columns: Object.fromEntries(cols.map((c) => [c.name, c.type])), exact: true } },
    comment: ' The observed types; `exact: true` also fails on columns added later.',
    flow: 'none',
  });
  const full = cols.filter((c) => rows > 0 && c.nulls === 0);
  if (full.length)
    checks.push({
      value: { not_null: full.map((c) => c.name) },
      comment: ' Columns without a single NULL.',
      flow: 'all',
    });
  for (const c of cols.filter(isKey)) {
    checks.push({
      value: { unique: [c.name] },
      comment: ` Every ${c.name} value occurs once (${fmt(c.count)} distinct values).`,
      flow: 'all',
    });
  }
  for (const c of cols) {
    // NaN and ±Infinity lie outside any range, so a column holding them gets none.
    if (c.kind !== 'numeric' || typeof c.min !== 'number' || typeof c.max !== 'number' || c.nonFinite) continue;
    checks.push({
      value: { range: { column: c.name, min: c.min, max: c.max } },
      comment: ` The smallest and largest ${c.name} seen; widen them to what is plausible.`,
      flow: 'inner',
    });
  }
  for (const c of cols) {
    if (c.kind !== 'text' || !c.frequencies || c.distinct > ALLOWED_MAX || isKey(c)) continue;
    const values: Array<string | null> = c.frequencies.map((f) => f.value);
    if (c.nulls > 0) values.push(null);
    checks.push({
      value: { allowed: { column: c.name, values } },
      comment: ` All ${c.distinct} values of ${c.name} seen${c.nulls > 0 ? ', and NULL' : ''}, most frequent first.`,
      flow: 'inner',
    });
  }

  const doc = new YAML.Document({ suite: opts.name ?? 'inferred', checks: checks.map((c) => c.value) });
  doc.commentBefore = [
    ` A starting suite inferred by Cairn from a profile of ${fmt(rows)} rows and ${cols.length} columns.`,
    ' It describes the data as it was, which the data passes by construction; review each',
    ' check and loosen or tighten it to the rules the data must follow.',
  ].join('\n');
  const seq = (doc.contents as YAMLMap).get('checks', true) as unknown as YAMLSeq;
  seq.items.forEach((item, i) => {
    const spec = checks[i]!;
    const node = item as Node;
    node.commentBefore = spec.comment;
    if (!isMap(node)) return;
    const inner = node.items[0]?.value as Node | undefined;
    if (spec.flow === 'all' && inner && (isMap(inner) || isSeq(inner))) inner.flow = true;
    if (spec.flow === 'inner' && inner && isMap(inner)) {
      // The check's parameters on one line, except a long value list.
      const list = inner.get('values', true) as Node | undefined;
      if (list && isSeq(list)) list.flow = true;
      if (!list || (list as YAMLSeq).items.length <= 8) inner.flow = true;
    }
    if (spec.flow === 'none' && inner && isMap(inner)) {
      const columns = inner.get('columns', true) as Node | undefined;
      if (columns && isMap(columns) && columns.items.length <= 6) columns.flow = true;
    }
  });
  return doc.toString({ lineWidth: 0 });
}

/** Known to hold each of its values once (exactly counted), and more than one of them. */
function isKey(c: ColumnProfile): boolean {
  return c.distinctExact && c.count > 1 && c.distinct === c.count && c.kind !== 'boolean';
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
