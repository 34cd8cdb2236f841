import type { CheckResult, ValidationReport } from '../validation-report.js';
import { escapeMarkup as h } from './escape.js';

export interface HtmlOptions {
  /** Page title; default "Validation of <target>". */
  title?: string;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:75rem;padding:0 1rem;color:#1d2327;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.meta{color:#555;margin:0 0 1rem}
.summary{display:flex;gap:.75rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:7rem}
.card b{display:block;font-size:1.3rem}
.verdict-ok{background:#e8f5e9;border-color:#81c784}.verdict-bad{background:#fdecea;border-color:#e57373}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e5e5e5;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f7f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.failed>td{background:#fdecea}tr.error>td{background:#fff4e5}tr.warn>td{background:#fffde7}
.badge{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:.8rem;font-weight:600;color:#fff}
.b-passed{background:#2e7d32}.b-failed{background:#c62828}.b-error{background:#ef6c00}.b-warn{background:#9e7b00}
details{margin:.3rem 0}summary{cursor:pointer;color:#0b57d0}
.inner th,.inner td{font-size:.85rem;border:1px solid #e5e5e5}
.null{color:#999;font-style:italic}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{white-space:pre-wrap;word-break:break-all;margin:0}
`;

/**
 * A validation report as one self-contained HTML page (`--html <file>`): no scripts, no
 * external assets, every value from the data or the suite escaped.
 */
export function toHtml(report: ValidationReport, opts: HtmlOptions = {}): string {
  const title = opts.title ?? `Validation of ${report.target}`;
  const passed = report.checks.filter((c) => c.status === 'passed').length;
  const rows = report.checks.map(row).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${h(title)}</h1>
<p class="meta">Suite <code>${h(report.suite)}</code> on <code>${h(report.target)}</code> (${h(report.kind)}, ${h(fmt(report.size))} ${report.kind === 'table' ? 'rows' : 'files'}), started ${h(report.startedAt)}, took ${h(fmt(report.durationMs))} ms.</p>
<div class="summary">
<div class="card ${report.ok ? 'verdict-ok' : 'verdict-bad'}"><b>${report.ok ? 'PASSED' : 'FAILED'}</b>verdict</div>
<div class="card"><b>${fmt(report.checks.length)}</b>checks</div>
<div class="card"><b>${fmt(passed)}</b>passed</div>
<div class="card"><b>${fmt(report.errors)}</b>errors</div>
<div class="card"><b>${fmt(report.warnings)}</b>warnings</div>
</div>
<h2>Checks</h2>
<table>
<thead><tr><th>Status</th><th>Check</th><th>Kind</th><th>Severity</th><th>Line</th><th>Failed</th><th>Evaluated</th><th>%</th><th>Mostly</th><th>Result</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

function row(c: CheckResult): string {
  const cls = c.status === 'passed' ? 'passed' : c.severity === 'warn' ? 'warn' : c.status;
  const badge = c.status === 'passed' ? 'passed' : c.severity === 'warn' ? 'warn' : c.status;
  const label = c.status === 'passed' ? 'passed' : c.severity === 'warn' ? `${c.status} (warn)` : c.status;
  const extra: string[] = [];
  if (c.sample.length)
    extra.push(
      `<details${c.status === 'passed' ? '' : ' open'}><summary>Sample (${c.sample.length} ${c.sample.length === 1 ? 'row' : 'rows'})</summary>${value(c.sample, 0)}</details>`,
    );
  if (c.details && Object.keys(c.details).length)
    extra.push(`<details><summary>Details</summary>${value(c.details, 0)}</details>`);
  return `<tr class="${cls}"><td><span class="badge b-${badge}">${h(label)}</span></td><td><code>${h(c.name)}</code></td><td>${h(c.kind)}</td><td>${h(c.severity)}</td><td class="num">${c.line}</td><td class="num">${h(fmt(c.failed))}</td><td class="num">${h(fmt(c.evaluated))}</td><td class="num">${h(String(c.percent))}</td><td class="num">${h(String(c.mostly))}</td><td>${h(c.message)}${extra.join('')}</td></tr>`;
}

/** Arrays of objects as tables, objects as two-column tables, the rest as escaped text. */
function value(v: unknown, depth: number): string {
  if (v === null || v === undefined) return '<span class="null">null</span>';
  if (typeof v !== 'object') return h(String(v));
  if (depth > 3) return `<pre>${h(JSON.stringify(v))}</pre>`;
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x as object)))];
      const body = v
        .map(
          (x) =>
            `<tr>${cols.map((k) => `<td>${value((x as Record<string, unknown>)[k], depth + 1)}</td>`).join('')}</tr>`,
        )
        .join('');
      return `<table class="inner"><thead><tr>${cols.map((k) => `<th>${h(k)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
    }
    return h(v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', '));
  }
  const entries = Object.entries(v as Record<string, unknown>);
  return `<table class="inner"><tbody>${entries.map(([k, x]) => `<tr><th>${h(k)}</th><td>${value(x, depth + 1)}</td></tr>`).join('')}</tbody></table>`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
