import type { LineCodec } from './predict.js';

/**
 * Multiclass evaluation (suite `task: multiclass`): labels are text (or numbers, compared as
 * text: 3 and "3" are one class), features may be anything JSON holds (strings included), and
 * the predictor answers each row with a label.
 *
 * The rest of the evaluation (batch, latency, champions, bootstrap) handles rows as numbers,
 * so here a row is its index: the "feature" the pipeline passes for row i is i, this codec
 * sends that row's own values as `{"features": [...]}` and turns the answer — `{"label": x}`
 * or a bare JSON string, number or boolean — into the class's code. A label the data never
 * had gets a new code (it can only be wrong).
 */
export interface ClassTable {
  /** Class text → code; codes 0.. in the order of `names`. */
  codes: Map<string, number>;
  names: string[];
}

export function classTable(labels: readonly unknown[]): ClassTable {
  const names = [...new Set(labels.map((v) => String(v)))].sort();
  return { codes: new Map(names.map((n, i) => [n, i])), names };
}

export function codeOf(t: ClassTable, label: string): number {
  let c = t.codes.get(label);
  if (c === undefined) {
    c = t.names.length;
    t.names.push(label);
    t.codes.set(label, c);
  }
  return c;
}

export function labelCodec(raw: readonly unknown[][], table: ClassTable): LineCodec {
  return {
    noun: 'label',
    lines(features, rows, cols) {
      const out: string[] = [];
      for (let i = 0; i < rows; i++) out.push(`${JSON.stringify({ features: raw[features[i * cols]!] ?? [] })}\n`);
      return out.join('');
    },
    parse(line) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        return null;
      }
      if (v && typeof v === 'object' && !Array.isArray(v)) v = (v as { label?: unknown }).label;
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return null;
      return codeOf(table, String(v));
    },
  };
}
