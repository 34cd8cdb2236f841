import type { PiiKind } from '../pii/patterns.js';
import { SpecReader, type ItemSpec, type ParsedItem, type TextAt } from '../../core/yaml-doc.js';

/** A cleaning recipe (docs/DATAPREP.md): `steps` for tables, `files` for folders of files. */
export type TableStep = { line: number } & (
  | { kind: 'drop_duplicates'; columns?: string[] }
  | { kind: 'filter'; predicate: string; at?: TextAt }
  | { kind: 'cast'; columns: Record<string, string>; onError: 'null' | 'reject' }
  | { kind: 'fill_null'; values: Record<string, string | number | boolean | null> }
  | { kind: 'drop_null'; columns?: string[] }
  | { kind: 'trim'; columns?: string[] }
  | { kind: 'normalize'; columns?: string[]; case?: 'lower' | 'upper'; unicode?: boolean; whitespace?: boolean }
  | { kind: 'drop_columns'; columns: string[] }
  | { kind: 'pseudonymize'; columns: string[] }
  | { kind: 'redact_pii'; columns?: string[]; kinds: PiiKind[] }
  | { kind: 'rename'; columns: Record<string, string> }
  | { kind: 'select'; columns: string[] }
  | { kind: 'derive'; columns: Record<string, string> }
  | { kind: 'sql'; query: string; at?: TextAt }
);

export type FileStep = { line: number } & (
  | { kind: 'select'; include?: string[]; exclude?: string[] }
  | { kind: 'drop_duplicates' }
  | { kind: 'drop_invalid'; checks: Array<'types' | 'decodable' | 'size'>; min?: number; max?: number }
  | { kind: 'redact_pii'; extensions: string[]; kinds: PiiKind[] }
);

export interface Recipe {
  name: string;
  /** The file it was read from (as named to the parser), for errors that point into it. */
  file: string;
  steps: TableStep[];
  files: FileStep[];
}

const PII_KINDS = ['email', 'phone', 'card', 'iban'] as const;

export const TABLE_STEPS: Record<TableStep['kind'], ItemSpec> = {
  drop_duplicates: { shorthand: 'columns', fields: { columns: { type: 'string[]' } } },
  filter: { shorthand: 'predicate', fields: { predicate: { type: 'string', required: true } } },
  cast: {
    fields: {
      columns: { type: 'map<string>', required: true },
      on_error: { type: 'string', oneOf: ['null', 'reject'] },
    },
  },
  fill_null: { shorthand: 'values', fields: { values: { type: 'map<scalar>', required: true } } },
  drop_null: { shorthand: 'columns', fields: { columns: { type: 'string[]' } } },
  trim: { shorthand: 'columns', fields: { columns: { type: 'string[]' } } },
  normalize: {
    fields: {
      columns: { type: 'string[]' },
      case: { type: 'string', oneOf: ['lower', 'upper'] },
      unicode: { type: 'boolean' },
      whitespace: { type: 'boolean' },
    },
  },
  drop_columns: { shorthand: 'columns', fields: { columns: { type: 'string[]', required: true } } },
  pseudonymize: { shorthand: 'columns', fields: { columns: { type: 'string[]', required: true } } },
  redact_pii: { fields: { columns: { type: 'string[]' }, kinds: { type: 'string[]' } } },
  rename: { shorthand: 'columns', fields: { columns: { type: 'map<string>', required: true } } },
  select: { shorthand: 'columns', fields: { columns: { type: 'string[]', required: true } } },
  derive: { shorthand: 'columns', fields: { columns: { type: 'map<string>', required: true } } },
  sql: { shorthand: 'query', fields: { query: { type: 'string', required: true } } },
};

export const FILE_STEPS: Record<FileStep['kind'], ItemSpec> = {
  select: { fields: { include: { type: 'string[]' }, exclude: { type: 'string[]' } } },
  drop_duplicates: { fields: {} },
  drop_invalid: { fields: { checks: { type: 'string[]' }, min: { type: 'size' }, max: { type: 'size' } } },
  redact_pii: { fields: { extensions: { type: 'string[]' }, kinds: { type: 'string[]' } } },
};

/** Unknown kinds are reported, not thrown, so that one pass names every mistake in the file. */
type KindsOf = (line: number, ks: string[] | undefined) => PiiKind[];

export function parseRecipe(text: string, fileName: string): Recipe {
  const r = new SpecReader(text, fileName);
  const top = r.top(['recipe', 'steps', 'files']);
  const nameNode = top.get('recipe');
  const name = nameNode
    ? String((nameNode.value as { toJSON(): unknown })?.toJSON?.() ?? '')
    : fileName.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
  const kindsOf: KindsOf = (line, ks) => {
    const list = ks ?? [...PII_KINDS];
    for (const k of list)
      if (!(PII_KINDS as readonly string[]).includes(k))
        r.errors.push(`${fileName}:${line}: unknown PII kind ${JSON.stringify(k)} (known: ${PII_KINDS.join(', ')})`);
    return list.filter((k): k is PiiKind => (PII_KINDS as readonly string[]).includes(k));
  };
  const steps = r.items(top.get('steps'), TABLE_STEPS, 'steps', {}).map((i) => tableStep(i, kindsOf));
  const files = r
    .items(top.get('files'), FILE_STEPS, 'files', {})
    .map((i) => fileStep(i, kindsOf, (msg) => r.errors.push(`${fileName}:${i.line}: ${msg}`)));
  if (steps.length + files.length === 0 && r.errors.length === 0)
    r.errors.push(`${fileName}:1: the recipe has no steps`);
  r.done('recipe');
  return { name, file: fileName, steps, files };
}

function tableStep(i: ParsedItem, kindsOf: KindsOf): TableStep {
  const p = i.params;
  switch (i.kind) {
    case 'cast':
      return {
        kind: 'cast',
        line: i.line,
        columns: p.columns as Record<string, string>,
        onError: (p.on_error as 'null' | 'reject') ?? 'null',
      };
    case 'redact_pii':
      return {
        kind: 'redact_pii',
        line: i.line,
        ...(p.columns ? { columns: p.columns as string[] } : {}),
        kinds: kindsOf(i.line, p.kinds as string[] | undefined),
      };
    case 'filter':
      return {
        kind: 'filter',
        line: i.line,
        predicate: p.predicate as string,
        ...(i.at.predicate ? { at: i.at.predicate } : {}),
      };
    case 'sql':
      return { kind: 'sql', line: i.line, query: p.query as string, ...(i.at.query ? { at: i.at.query } : {}) };
    default:
      return { kind: i.kind, line: i.line, ...p } as TableStep;
  }
}

function fileStep(i: ParsedItem, kindsOf: KindsOf, problem: (msg: string) => void): FileStep {
  const p = i.params;
  if (i.kind === 'drop_invalid') {
    const checks = (p.checks as string[] | undefined) ?? ['types', 'decodable'];
    for (const c of checks)
      if (!['types', 'decodable', 'size'].includes(c))
        problem(`drop_invalid.checks: unknown check ${JSON.stringify(c)} (known: types, decodable, size)`);
    return {
      kind: 'drop_invalid',
      line: i.line,
      checks: checks as Array<'types' | 'decodable' | 'size'>,
      ...(p.min !== undefined ? { min: p.min as number } : {}),
      ...(p.max !== undefined ? { max: p.max as number } : {}),
    };
  }
  if (i.kind === 'redact_pii') {
    return {
      kind: 'redact_pii',
      line: i.line,
      extensions: ((p.extensions as string[]) ?? ['.txt', '.eml', '.md', '']).map((e) => e.toLowerCase()),
      kinds: kindsOf(i.line, p.kinds as string[] | undefined),
    };
  }
  if (i.kind === 'select') {
    if (!p.include && !p.exclude) problem('select needs include or exclude globs');
    return {
      kind: 'select',
      line: i.line,
      ...(p.include ? { include: p.include as string[] } : {}),
      ...(p.exclude ? { exclude: p.exclude as string[] } : {}),
    };
  }
  return { kind: 'drop_duplicates', line: i.line };
}
