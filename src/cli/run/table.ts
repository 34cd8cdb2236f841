import { CairnError } from '../../core/errors.js';

/** How `run ls` and `run compare` print a table: aligned text, CSV (RFC 4180) or Markdown. */
export type TableFormat = 'text' | 'csv' | 'md';

export function tableFormat(opts: {
  csv?: boolean | undefined;
  md?: boolean | undefined;
  json?: boolean;
}): TableFormat {
  if ([opts.csv, opts.md, opts.json].filter(Boolean).length > 1)
    throw new CairnError('USAGE', 'choose one of --json, --csv and --md');
  return opts.csv ? 'csv' : opts.md ? 'md' : 'text';
}

/** A cell as text: numbers with up to 6 significant digits, nothing for null. */
export function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function renderTable(header: string[], rows: string[][], format: TableFormat): string {
  if (format === 'csv') {
    const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [header, ...rows].map((r) => r.map(q).join(',')).join('\n');
  }
  if (format === 'md') {
    const e = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
    return [
      `| ${header.map(e).join(' | ')} |`,
      `|${header.map(() => '---').join('|')}|`,
      ...rows.map((r) => `| ${r.map(e).join(' | ')} |`),
    ].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
