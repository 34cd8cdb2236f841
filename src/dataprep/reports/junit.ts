import type { CheckResult, ValidationReport } from '../validation-report.js';
import { escapeMarkup as x } from './escape.js';

/**
 * A validation report as JUnit XML for CI (`--junit <file>`): one testsuite, one testcase per
 * check. Failed error-severity checks are `<failure>`s and checks that could not run are
 * `<error>`s, so the build goes red exactly when the command exits 1; warnings are `<skipped>`
 * with their details in system-out, visible without failing anything.
 */
export function toJUnit(report: ValidationReport): string {
  const isWarning = (c: CheckResult) => c.status !== 'passed' && c.severity === 'warn';
  const failures = report.checks.filter((c) => c.status === 'failed' && c.severity === 'error').length;
  const errors = report.checks.filter((c) => c.status === 'error' && c.severity === 'error').length;
  const skipped = report.checks.filter(isWarning).length;
  const seconds = (report.durationMs / 1000).toFixed(3);
  const counts = `tests="${report.checks.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds}"`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="cairn data validate" ${counts}>`,
    `  <testsuite name="${x(`${report.suite} on ${report.target}`)}" ${counts} timestamp="${x(report.startedAt)}">`,
    '    <properties>',
    ...[
      ['suite', report.suite],
      ['target', report.target],
      ['kind', report.kind],
      ['size', String(report.size)],
      ['format', report.format],
    ].map(([k, v]) => `      <property name="${x(k)}" value="${x(v)}"/>`),
    '    </properties>',
  ];
  for (const c of report.checks) {
    const open = `    <testcase name="${x(c.name)}" classname="${x(`${report.suite}.${c.kind}`)}" time="0"`;
    const body = describe(c);
    if (c.status === 'passed') {
      lines.push(`${open}>`, `      <system-out>${x(body)}</system-out>`, '    </testcase>');
    } else if (isWarning(c)) {
      lines.push(
        `${open}>`,
        `      <skipped message="${x(`warning: ${c.message}`)}"/>`,
        `      <system-out>${x(body)}</system-out>`,
        '    </testcase>',
      );
    } else {
      const tag = c.status === 'error' ? 'error' : 'failure';
      lines.push(
        `${open}>`,
        `      <${tag} message="${x(c.message)}" type="${x(c.kind)}">${x(body)}</${tag}>`,
        '    </testcase>',
      );
    }
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

function describe(c: CheckResult): string {
  const out = [
    `${c.message}`,
    `check ${c.name} (${c.kind}, line ${c.line}, severity ${c.severity}): ${c.status}`,
    `failed ${c.failed} of ${c.evaluated} (${c.percent} %), mostly ${c.mostly}`,
  ];
  if (c.sample.length) out.push('sample:', ...c.sample.map((s) => `  ${JSON.stringify(s)}`));
  if (c.details) out.push(`details: ${JSON.stringify(c.details)}`);
  return out.join('\n');
}
