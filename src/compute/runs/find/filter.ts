import { CairnError } from '../../../core/errors.js';

/**
 * The `--filter` language of `cairn run ls` (docs/RUNS.md "Filters"): comparisons of a run's
 * fields joined by and / or / not and parentheses, e.g. `metrics.acc > 0.9 and params.lr < 0.01`.
 * A small recursive-descent parser into a tree that is evaluated against each run: nothing is
 * ever handed to eval or to SQL.
 */
export type Scalar = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'cmp'; field: string; op: CmpOp; value: Scalar };

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '~';

interface Token {
  type: 'ident' | 'string' | 'number' | 'op' | 'lparen' | 'rparen' | 'end';
  text: string;
  at: number;
}

const OPS = ['==', '!=', '<=', '>=', '<', '>', '=', '~'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === '(' || c === ')') {
      out.push({ type: c === '(' ? 'lparen' : 'rparen', text: c, at });
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) s += src[j++] === '\\' && j < src.length ? src[j++] : src[j - 1];
      if (j >= src.length) throw filterError(src, at, 'this quote is never closed');
      out.push({ type: 'string', text: s, at });
      i = j + 1;
    } else if (/[-+0-9.]/.test(c) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.test(src.slice(i))) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i))!;
      // 2026-12-01 or 2026-12-01T10:00Z: a bare word that starts like a number.
      const w = /^[-+]?[0-9.][A-Za-z0-9_.:+-]*/.exec(src.slice(i))!;
      const text = w[0].length > m[0].length ? w[0] : m[0];
      out.push({ type: text === m[0] ? 'number' : 'ident', text, at });
      i += text.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_./:@-]*/.exec(src.slice(i))!;
      out.push({ type: 'ident', text: m[0], at });
      i += m[0].length;
    } else {
      const op =
        OPS.find((o) => src.startsWith(o, i)) ??
        (src.startsWith('&&', i) || src.startsWith('||', i) ? src.slice(i, i + 2) : c === '!' ? '!' : undefined);
      if (!op) throw filterError(src, at, `unexpected ${JSON.stringify(c)}`);
      out.push({ type: 'op', text: op, at });
      i += op.length;
    }
  }
  out.push({ type: 'end', text: '', at: src.length });
  return out;
}

function filterError(src: string, at: number, message: string): CairnError {
  return new CairnError('USAGE', `--filter: ${message} at column ${at + 1}:\n  ${src}\n  ${' '.repeat(at)}^`, {
    hint: "write comparisons like metrics.acc > 0.9, params.opt == 'adam', status != failed, joined by and / or / not",
    data: { filter: src, column: at + 1 },
  });
}

/** Parses a filter; every mistake is a USAGE error pointing at its column. */
export function parseFilter(src: string): FilterNode {
  const toks = tokenize(src);
  let pos = 0;
  const peek = () => toks[pos]!;
  const word = (t: Token, w: string) => t.type === 'ident' && t.text.toLowerCase() === w;
  const isOp = (t: Token, ...ops: string[]) => t.type === 'op' && ops.includes(t.text);
  const or = (): FilterNode => {
    let left = and();
    while (word(peek(), 'or') || isOp(peek(), '||')) {
      pos++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): FilterNode => {
    let left = not();
    while (word(peek(), 'and') || isOp(peek(), '&&')) {
      pos++;
      left = { kind: 'and', left, right: not() };
    }
    return left;
  };
  const not = (): FilterNode => {
    if (word(peek(), 'not') || isOp(peek(), '!')) {
      pos++;
      return { kind: 'not', operand: not() };
    }
    if (peek().type === 'lparen') {
      pos++;
      const inner = or();
      if (peek().type !== 'rparen') throw filterError(src, peek().at, 'expected ")"');
      pos++;
      return inner;
    }
    return cmp();
  };
  const cmp = (): FilterNode => {
    const f = peek();
    if (f.type !== 'ident' || ['and', 'or', 'not'].includes(f.text.toLowerCase()))
      throw filterError(src, f.at, f.type === 'end' ? 'expected a field name, found the end' : 'expected a field name');
    pos++;
    const o = peek();
    if (o.type !== 'op' || !OPS.includes(o.text))
      throw filterError(src, o.at, `expected a comparison (== != < <= > >= ~) after ${f.text}`);
    pos++;
    const v = peek();
    if (!['ident', 'string', 'number'].includes(v.type)) throw filterError(src, v.at, 'expected a value');
    pos++;
    return { kind: 'cmp', field: f.text, op: (o.text === '=' ? '==' : o.text) as CmpOp, value: literal(v) };
  };
  const tree = or();
  if (peek().type !== 'end') throw filterError(src, peek().at, `unexpected ${JSON.stringify(peek().text)}`);
  return tree;
}

function literal(t: Token): Scalar {
  if (t.type === 'number') return Number(t.text);
  if (t.type === 'string') return t.text;
  const l = t.text.toLowerCase();
  return l === 'true' ? true : l === 'false' ? false : l === 'null' ? null : t.text;
}

/** Every field a filter reads (to load only the params and metrics it needs). */
export function filterFields(n: FilterNode): string[] {
  if (n.kind === 'cmp') return [n.field];
  if (n.kind === 'not') return filterFields(n.operand);
  return [...filterFields(n.left), ...filterFields(n.right)];
}

/**
 * Orders two values: numbers (and numeric text against numbers) by value, text by code points,
 * booleans false < true. Null for values that cannot be ordered (a missing one, or number vs text).
 */
export function compareValues(a: Scalar | undefined, b: Scalar | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const num = (x: Scalar) =>
    typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' && !Number.isNaN(Number(x)) ? Number(x) : null;
  if (typeof a === 'number' || typeof b === 'number') {
    const x = num(a);
    const y = num(b);
    return x === null || y === null ? null : x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    if (typeof a !== typeof b) return null;
    return Number(a) - Number(b);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Evaluates a filter on one run; `get` gives a field's value (undefined when the run lacks it). */
export function matches(n: FilterNode, get: (field: string) => Scalar | undefined): boolean {
  switch (n.kind) {
    case 'and':
      return matches(n.left, get) && matches(n.right, get);
    case 'or':
      return matches(n.left, get) || matches(n.right, get);
    case 'not':
      return !matches(n.operand, get);
    case 'cmp': {
      const v = get(n.field);
      if (n.value === null) {
        const missing = v === null || v === undefined;
        return n.op === '==' ? missing : n.op === '!=' ? !missing : false;
      }
      if (n.op === '~') return v !== null && v !== undefined && String(v).includes(String(n.value));
      const c = compareValues(v, n.value);
      if (c === null)
        return n.op === '!=' && v !== undefined && v !== null ? String(v) !== String(n.value) : n.op === '!=';
      return { '==': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[n.op];
    }
  }
}
