import type { PiiKind } from '../pii/patterns.js';
import { SpecReader, type FieldSpec, type ItemSpec, type TextAt } from '../../core/yaml-doc.js';

/**
 * A validation suite (docs/DATAPREP.md): `checks` for tables, `files` for folders of files.
 * Every check has a severity (error fails the command, warn only reports) and `mostly`, the
 * fraction of rows (or files) that must pass for the check to pass.
 */
export type Severity = 'error' | 'warn';

export interface CheckCommon {
  kind: string;
  /** Unique within the suite; defaults to `<kind>` or `<kind>(<column>)`. */
  name: string;
  severity: Severity;
  mostly: number;
  line: number;
}

export type TableCheck = CheckCommon &
  (
    | { kind: 'row_count'; min?: number; max?: number }
    | { kind: 'schema'; columns: Record<string, string>; exact?: boolean; nullable?: Record<string, boolean> }
    | { kind: 'not_null'; columns: string[] }
    | { kind: 'unique'; columns: string[] }
    | { kind: 'range'; column: string; min?: number; max?: number }
    | { kind: 'allowed'; column: string; values: Array<string | number | boolean | null> }
    | { kind: 'regex'; column: string; pattern: string }
    | { kind: 'freshness'; column: string; maxAgeMs: number }
    | { kind: 'sql'; predicate: string; at?: TextAt }
    | { kind: 'pii'; columns?: string[]; kinds: PiiKind[] }
    | { kind: 'drift'; reference: string; columns?: string[]; psiMax: number; ksMax: number }
  );

export type FileCheck = CheckCommon &
  (
    | { kind: 'types'; allowUnknown: boolean }
    | { kind: 'size'; min?: number; max?: number }
    | { kind: 'decodable' }
    | { kind: 'duplicates' }
    | {
        kind: 'labels';
        from: 'folder' | 'manifest';
        manifest?: string;
        column?: string;
        allowed?: string[];
        required: boolean;
      }
    | { kind: 'pii'; extensions: string[]; kinds: PiiKind[] }
  );

export interface Suite {
  name: string;
  /** The file it was read from (as named to the parser), for errors that point into it. */
  file: string;
  checks: TableCheck[];
  files: FileCheck[];
}

const PII_KINDS = ['email', 'phone', 'card', 'iban'] as const;
const common: Record<string, FieldSpec> = {
  name: { type: 'string' },
  severity: { type: 'string', oneOf: ['error', 'warn'] },
  mostly: { type: 'fraction' },
};

export const TABLE_CHECKS: Record<TableCheck['kind'], ItemSpec> = {
  row_count: { fields: { min: { type: 'integer' }, max: { type: 'integer' } } },
  schema: {
    fields: {
      columns: { type: 'map<string>', required: true },
      exact: { type: 'boolean' },
      nullable: { type: 'map<boolean>' },
    },
  },
  not_null: { shorthand: 'columns', fields: { columns: { type: 'string[]', required: true } } },
  unique: { shorthand: 'columns', fields: { columns: { type: 'string[]', required: true } } },
  range: { fields: { column: { type: 'string', required: true }, min: { type: 'number' }, max: { type: 'number' } } },
  allowed: { fields: { column: { type: 'string', required: true }, values: { type: 'scalar[]', required: true } } },
  regex: { fields: { column: { type: 'string', required: true }, pattern: { type: 'string', required: true } } },
  freshness: { fields: { column: { type: 'string', required: true }, max_age: { type: 'duration', required: true } } },
  sql: { shorthand: 'predicate', fields: { predicate: { type: 'string', required: true } } },
  pii: { fields: { columns: { type: 'string[]' }, kinds: { type: 'string[]' } } },
  drift: {
    fields: {
      reference: { type: 'string', required: true },
      columns: { type: 'string[]' },
      psi_max: { type: 'number' },
      ks_max: { type: 'number' },
    },
  },
};

export const FILE_CHECKS: Record<FileCheck['kind'], ItemSpec> = {
  types: { fields: { allow_unknown: { type: 'boolean' } } },
  size: { fields: { min: { type: 'size' }, max: { type: 'size' } } },
  decodable: { fields: {} },
  duplicates: { fields: {} },
  labels: {
    fields: {
      from: { type: 'string', oneOf: ['folder', 'manifest'], required: true },
      manifest: { type: 'string' },
      column: { type: 'string' },
      allowed: { type: 'string[]' },
      required: { type: 'boolean' },
    },
  },
  pii: { fields: { extensions: { type: 'string[]' }, kinds: { type: 'string[]' } } },
};

export function parseSuite(text: string, fileName: string): Suite {
  const r = new SpecReader(text, fileName);
  const top = r.top(['suite', 'severity', 'checks', 'files']);
  const nameNode = top.get('suite');
  const name = nameNode
    ? String((nameNode.value as { toJSON(): unknown })?.toJSON?.() ?? '')
    : fileName.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
  const sevNode = top.get('severity');
  const defaultSeverity = sevNode ? ((sevNode.value as { toJSON(): unknown }).toJSON() as Severity) : 'error';
  if (sevNode && defaultSeverity !== 'error' && defaultSeverity !== 'warn')
    r.error(sevNode, 'severity must be error or warn');
  const finish = <T extends CheckCommon>(item: { kind: string; line: number; params: Record<string, unknown> }): T => {
    const p = item.params;
    const col =
      typeof p.column === 'string'
        ? p.column
        : Array.isArray(p.columns) && p.columns.length === 1
          ? String(p.columns[0])
          : null;
    const base = {
      kind: item.kind,
      line: item.line,
      name: (p.name as string) ?? (col ? `${item.kind}(${col})` : item.kind),
      severity: (p.severity as Severity) ?? defaultSeverity,
      mostly: (p.mostly as number) ?? 1,
    };
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (!['name', 'severity', 'mostly'].includes(k)) rest[camel(k)] = v;
    return { ...rest, ...base } as T;
  };
  const checks = r.items(top.get('checks'), TABLE_CHECKS, 'checks', common).map((i) => {
    const c = finish<TableCheck>(i);
    if (c.kind === 'pii') c.kinds = validKinds(r, i.line, (i.params.kinds as string[]) ?? [...PII_KINDS]);
    if (c.kind === 'sql' && i.at.predicate) c.at = i.at.predicate;
    if (c.kind === 'drift') {
      c.psiMax = (i.params.psi_max as number) ?? 0.2;
      c.ksMax = (i.params.ks_max as number) ?? 0.1;
    }
    if (c.kind === 'freshness') {
      c.maxAgeMs = i.params.max_age as number;
      delete (c as { maxAge?: number }).maxAge;
    }
    if (c.kind === 'regex') {
      try {
        new RegExp(c.pattern);
      } catch (err) {
        r.errors.push(
          `${fileName}:${i.line}: regex ${JSON.stringify(c.pattern)} is invalid: ${(err as Error).message}`,
        );
      }
    }
    return c;
  });
  const files = r.items(top.get('files'), FILE_CHECKS, 'files', common).map((i) => {
    const c = finish<FileCheck>(i);
    if (c.kind === 'types') c.allowUnknown = (i.params.allow_unknown as boolean) ?? true;
    if (c.kind === 'labels') c.required = (i.params.required as boolean) ?? true;
    if (c.kind === 'pii') {
      c.kinds = validKinds(r, i.line, (i.params.kinds as string[]) ?? [...PII_KINDS]);
      c.extensions = (
        (i.params.extensions as string[]) ?? ['.txt', '.eml', '.md', '.csv', '.json', '.jsonl', '.html', '']
      ).map((e) => e.toLowerCase());
    }
    return c;
  });
  const names = new Set<string>();
  for (const c of [...checks, ...files]) {
    if (names.has(c.name))
      r.errors.push(`${fileName}:${c.line}: two checks are named ${JSON.stringify(c.name)}; give one a \`name\``);
    names.add(c.name);
  }
  if (checks.length + files.length === 0 && r.errors.length === 0)
    r.errors.push(`${fileName}:1: the suite has no checks`);
  r.done('suite');
  return { name, file: fileName, checks, files };
}

function validKinds(r: SpecReader, line: number, kinds: string[]): PiiKind[] {
  for (const k of kinds)
    if (!(PII_KINDS as readonly string[]).includes(k))
      r.errors.push(`${r.fileName}:${line}: unknown PII kind ${JSON.stringify(k)} (known: ${PII_KINDS.join(', ')})`);
  return kinds.filter((k): k is PiiKind => (PII_KINDS as readonly string[]).includes(k));
}

function camel(k: string): string {
  return k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}
