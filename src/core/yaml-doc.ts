import { readFileSync } from 'node:fs';
import YAML, { isMap, isScalar, isSeq, LineCounter, type Node, type Pair } from 'yaml';
import { CairnError, ioError } from './errors.js';

/**
 * Reads a spec file (suite, recipe, run spec) as text: a file that is missing, unreadable or a
 * directory is an IO_ERROR that names it ("cannot read the suite s.yaml: it does not exist").
 */
export function readSpecFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw ioError(err, `read ${what}`, path);
  }
}

/**
 * Reads a declarative YAML document (suite, recipe) against a schema and reports EVERY
 * problem at once, each with its line: "suite.yaml:12: unknown key \"colum\" in range (known:
 * column, min, max, …)". Returns plain typed values; nothing here knows what checks do.
 */
export type FieldType =
  | 'string'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'fraction'
  | 'string[]'
  | 'scalar[]'
  | 'map<string>'
  | 'map<boolean>'
  | 'map<scalar>'
  | 'duration'
  | 'size'
  | 'list';

export interface FieldSpec {
  type: FieldType;
  required?: boolean;
  /** Allowed values for strings. */
  oneOf?: readonly string[];
}

export interface ItemSpec {
  /** What a bare value (not a map) means, e.g. `not_null: [a, b]` → { columns: [a, b] }. */
  shorthand?: string;
  fields: Record<string, FieldSpec>;
}

export interface ParsedItem {
  kind: string;
  line: number;
  params: Record<string, unknown>;
  /** Where each text field's value is written, for errors that point inside it (SQL). */
  at: Record<string, TextAt>;
}

/**
 * Where a text value sits in its file: the position of its first character and, when the
 * value can be mapped back exactly (a one-line plain or quoted scalar without escapes, or a
 * literal block), the file position of each of its lines.
 */
export interface TextAt {
  file: string;
  line: number;
  column: number;
  /** [line, column] in the file of each line of the value. */
  lines?: Array<[number, number]>;
}

/** `file:line:column` of the character at `offset` in a value written at `at`. */
export function locate(at: TextAt, value: string, offset: number | null): string {
  if (offset === null || !at.lines) return `${at.file}:${at.line}:${at.column}`;
  const before = value.slice(0, offset).split('\n');
  const k = before.length - 1;
  const pos = at.lines[k];
  return pos ? `${at.file}:${pos[0]}:${pos[1] + before[k]!.length}` : `${at.file}:${at.line}:${at.column}`;
}

export class SpecReader {
  readonly errors: string[] = [];
  readonly lc = new LineCounter();
  readonly doc: YAML.Document;

  constructor(
    readonly text: string,
    readonly fileName: string,
  ) {
    this.doc = YAML.parseDocument(text, { lineCounter: this.lc, uniqueKeys: true, prettyErrors: false });
    // Without prettyErrors the parser leaves linePos unset; the line (and column) come from
    // the error's offset through the line counter, so a syntax error names where it is.
    for (const e of this.doc.errors) this.errors.push(this.syntaxError(e.pos[0], e.code, e.message.split('\n')[0]!));
  }

  /**
   * A syntax error at its real place. The parser notices an unclosed quote or bracket only
   * where the text ends or the indentation drops, often lines later; the line to fix is where
   * the quote or bracket was opened, so that is the one named.
   */
  private syntaxError(pos: number, code: string, message: string): string {
    let opened: { node: Node; what: string } | null = null;
    if (code === 'MISSING_CHAR' || code === 'BAD_INDENT' || code === 'UNEXPECTED_TOKEN') {
      YAML.visit(this.doc, {
        Node: (_key, node) => {
          const r = node.range;
          if (!r || r[0] > pos || pos > r[2]) return;
          // Only a quote or bracket that is really left open: its text does not end with the closer.
          const src = this.text.slice(r[0], r[1]).trimEnd();
          if (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')) {
            const q = node.type === 'QUOTE_DOUBLE' ? '"' : "'";
            if (src.length < 2 || !src.endsWith(q)) opened = { node, what: `a quoted string (${q})` };
          } else if ((isSeq(node) || isMap(node)) && node.flow && !src.endsWith(isSeq(node) ? ']' : '}'))
            opened = { node, what: isSeq(node) ? 'a [' : 'a {' };
        },
      });
    }
    const found = opened as { node: Node; what: string } | null;
    if (found) {
      const at = this.lc.linePos(found.node.range![0]);
      return `${this.fileName}:${at.line}: ${found.what} opened here (column ${at.col}) is never closed (${message})`;
    }
    const at = this.lc.linePos(pos);
    return `${this.fileName}:${at.line}: ${message} (column ${at.col})`;
  }

  line(node: Node | Pair | null | undefined): number {
    const n = (node as Pair)?.key ?? node;
    const r = (n as Node)?.range;
    return r ? this.lc.linePos(r[0]).line : 0;
  }

  error(node: Node | Pair | null | undefined, msg: string): void {
    this.errors.push(`${this.fileName}:${this.line(node)}: ${msg}`);
  }

  /** The top-level map's pairs, checking that only `known` keys appear. */
  top(known: readonly string[]): Map<string, Pair> {
    const out = new Map<string, Pair>();
    const root = this.doc.contents;
    if (!isMap(root)) {
      if (this.errors.length === 0) this.errors.push(`${this.fileName}:1: expected a map at the top level`);
      return out;
    }
    for (const p of root.items) {
      const key = isScalar(p.key) ? String(p.key.value) : '?';
      if (!known.includes(key)) this.error(p, `unknown key ${JSON.stringify(key)} (known: ${known.join(', ')})`);
      else out.set(key, p);
    }
    return out;
  }

  /** A list of one-key maps `- kind: params`, each validated by `specs[kind]`. */
  items(
    pair: Pair | undefined,
    specs: Record<string, ItemSpec>,
    context: string,
    common: Record<string, FieldSpec>,
  ): ParsedItem[] {
    if (!pair) return [];
    const seq = pair.value as Node;
    if (!isSeq(seq)) {
      this.error(pair, `${context} must be a list`);
      return [];
    }
    const out: ParsedItem[] = [];
    for (const item of seq.items as Node[]) {
      if (!isMap(item) || item.items.length !== 1) {
        this.error(item, `each entry of ${context} is one map like \`- ${Object.keys(specs)[0]}: {...}\``);
        continue;
      }
      const p = item.items[0]!;
      const kind = isScalar(p.key) ? String(p.key.value) : '?';
      const spec = specs[kind];
      if (!spec) {
        this.error(
          p,
          `unknown ${context.replace(/s$/, '')} ${JSON.stringify(kind)} (known: ${Object.keys(specs).join(', ')})`,
        );
        continue;
      }
      const at: Record<string, TextAt> = {};
      const params = this.fields(p, p.value as Node, { ...spec.fields, ...common }, kind, spec.shorthand, at);
      if (params) out.push({ kind, line: this.line(p), params, at });
    }
    return out;
  }

  /** Validates a map of fields (or a shorthand scalar/list) against `fields`. */
  fields(
    owner: Pair,
    node: Node | null,
    fields: Record<string, FieldSpec>,
    context: string,
    shorthand?: string,
    at?: Record<string, TextAt>,
  ): Record<string, unknown> | null {
    const params: Record<string, unknown> = {};
    if (node === null || (isScalar(node) && node.value === null)) {
      // `- duplicates:` with no parameters
    } else if (
      isMap(node) &&
      !(
        shorthand &&
        fields[shorthand]!.type.startsWith('map<') &&
        node.items.every((fp) => !(String(isScalar(fp.key) ? fp.key.value : '') in fields))
      )
    ) {
      for (const fp of node.items) {
        const key = isScalar(fp.key) ? String(fp.key.value) : '?';
        const f = fields[key];
        if (!f) {
          this.error(fp, `unknown key ${JSON.stringify(key)} in ${context} (known: ${Object.keys(fields).join(', ')})`);
          continue;
        }
        const v = this.value(fp, fp.value as Node, f, `${context}.${key}`);
        if (v !== undefined) params[key] = v;
        if (at && typeof v === 'string') at[key] = this.textAt(fp.value as Node);
      }
    } else if (shorthand) {
      const v = this.value(owner, node, fields[shorthand]!, `${context}`);
      if (v !== undefined) params[shorthand] = v;
      if (at && typeof v === 'string') at[shorthand] = this.textAt(node);
    } else {
      this.error(owner, `${context} takes a map of parameters`);
      return null;
    }
    for (const [k, f] of Object.entries(fields)) {
      if (f.required && params[k] === undefined) this.error(owner, `${context} needs ${JSON.stringify(k)}`);
    }
    return params;
  }

  /** Where a scalar's text is written (see TextAt). */
  textAt(node: Node): TextAt {
    const r = node.range!;
    const start = this.lc.linePos(r[0]);
    const at: TextAt = { file: this.fileName, line: start.line, column: start.col };
    if (!isScalar(node) || typeof node.value !== 'string') return at;
    const value = node.value;
    if (node.type === 'PLAIN' || node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') {
      const from = r[0] + (node.type === 'PLAIN' ? 0 : 1);
      if (!value.includes('\n') && this.text.slice(from, from + value.length) === value) {
        const p = this.lc.linePos(from);
        at.lines = [[p.line, p.col]];
      }
    } else if (node.type === 'BLOCK_LITERAL') {
      // Content starts on the line after the `|` header, each line indented alike.
      const src = this.text.slice(r[0], r[1]).split('\n').slice(1);
      const indent = Math.min(...src.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
      const lines = value.split('\n');
      if (Number.isFinite(indent) && lines.every((l, k) => !l || src[k]?.slice(indent) === l))
        at.lines = lines.map((_, k) => [start.line + 1 + k, indent + 1]);
    }
    return at;
  }

  value(owner: Pair, node: Node | null, f: FieldSpec, context: string): unknown {
    const js = node && 'toJSON' in node ? (node as { toJSON(): unknown }).toJSON() : null;
    const bad = (what: string) => {
      this.error(owner, `${context} must be ${what}`);
      return undefined;
    };
    switch (f.type) {
      case 'string':
        if (typeof js !== 'string') return bad('text');
        if (f.oneOf && !f.oneOf.includes(js)) return bad(`one of ${f.oneOf.join(', ')}`);
        return js;
      case 'number':
        return typeof js === 'number' && Number.isFinite(js) ? js : bad('a number');
      case 'integer':
        return Number.isInteger(js) ? js : bad('a whole number');
      case 'fraction':
        return typeof js === 'number' && js >= 0 && js <= 1 ? js : bad('a number from 0 to 1');
      case 'boolean':
        return typeof js === 'boolean' ? js : bad('true or false');
      case 'string[]':
        if (typeof js === 'string') return [js];
        return Array.isArray(js) && js.every((x) => typeof x === 'string') ? js : bad('a list of names');
      case 'list':
        // Structured entries the caller checks itself (e.g. smoke-test cases).
        return Array.isArray(js) ? js : bad('a list');
      case 'scalar[]':
        return Array.isArray(js) && js.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))
          ? js
          : bad('a list of values');
      case 'map<string>':
        return js &&
          typeof js === 'object' &&
          !Array.isArray(js) &&
          Object.values(js).every((x) => typeof x === 'string')
          ? js
          : bad('a map of names to text');
      case 'map<boolean>':
        return js &&
          typeof js === 'object' &&
          !Array.isArray(js) &&
          Object.values(js).every((x) => typeof x === 'boolean')
          ? js
          : bad('a map of names to true/false');
      case 'map<scalar>':
        return js &&
          typeof js === 'object' &&
          !Array.isArray(js) &&
          Object.values(js).every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))
          ? js
          : bad('a map of names to values');
      case 'duration': {
        const m = typeof js === 'string' ? /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(js.trim()) : null;
        if (!m) return bad('a duration like 30m, 12h or 7d');
        return Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as 's']!;
      }
      case 'size': {
        if (typeof js === 'number' && js >= 0) return js;
        const m = typeof js === 'string' ? /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(js.trim()) : null;
        if (!m) return bad('a size like 512, 10KB or 2MiB');
        const unit = (m[2] ?? 'B').toLowerCase();
        const mult: Record<string, number> = {
          b: 1,
          kb: 1e3,
          mb: 1e6,
          gb: 1e9,
          kib: 1024,
          mib: 1024 ** 2,
          gib: 1024 ** 3,
        };
        return Math.round(Number(m[1]) * mult[unit]!);
      }
    }
  }

  /** Throws one error listing every problem found. */
  done(kind: string): void {
    if (this.errors.length) {
      throw new CairnError('INVALID_INPUT', `${this.fileName} is not a valid ${kind}:\n  ${this.errors.join('\n  ')}`, {
        data: { problems: this.errors },
      });
    }
  }
}
