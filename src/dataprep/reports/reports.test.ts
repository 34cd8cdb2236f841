import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import type { CheckResult, ValidationReport } from '../validation-report.js';
import { parseSuite } from '../spec-files/suite.js';
import { openEngine } from '../tables/engine.js';
import { loadTable } from '../tables/load.js';
import { runSuite } from '../tables/validate/run-suite.js';
import { escapeMarkup } from './escape.js';
import { toHtml } from './html.js';
import { toJUnit } from './junit.js';

const HOSTILE = `<script>alert("x")</script> & 'quoted' \u0001\uD800 ]]>`;

const check = (over: Partial<CheckResult>): CheckResult => ({
  name: 'c',
  kind: 'not_null',
  severity: 'error',
  line: 3,
  status: 'passed',
  evaluated: 10,
  failed: 0,
  percent: 0,
  mostly: 1,
  message: 'ok',
  sample: [],
  ...over,
});

const REPORT: ValidationReport = {
  format: 'cairn.validation/v1',
  suite: `suite ${HOSTILE}`,
  target: 'orders@v2',
  kind: 'table',
  size: 10,
  ok: false,
  errors: 2,
  warnings: 1,
  startedAt: '2024-05-12T00:00:00.000Z',
  durationMs: 1234,
  checks: [
    check({ name: 'not_null(id)', message: '0 of 10 rows (0 %) have a NULL in id' }),
    check({
      name: `range(${HOSTILE})`,
      kind: 'range',
      status: 'failed',
      failed: 2,
      percent: 20,
      message: `2 rows outside & "bounds" ${HOSTILE}`,
      sample: [{ [HOSTILE]: HOSTILE, n: 1, z: null }],
    }),
    check({ name: 'missing', kind: 'regex', status: 'error', evaluated: 0, message: 'the table has no column "<b>"' }),
    check({
      name: 'hubs',
      kind: 'allowed',
      severity: 'warn',
      status: 'failed',
      failed: 1,
      percent: 10,
      message: 'warned <i>',
      details: { columns: [{ column: 'a&b', psi: 0.5 }] },
    }),
  ],
};

/** Well-formed XML 1.0, strictly: balanced tags, quoted attributes, only the five entities and numeric references. */
function assertWellFormedXml(xml: string): void {
  expect(xml).not.toMatch(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
  );
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  expect(body).not.toBe(xml);
  const entity = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const stack: string[] = [];
  let roots = 0;
  let at = 0;
  while (at < body.length) {
    token.lastIndex = at;
    const m = token.exec(body);
    if (!m) throw new Error(`not XML at ${at}: ${JSON.stringify(body.slice(at, at + 40))}`);
    at = token.lastIndex;
    const [, close, name, attrs, selfClose, text] = m;
    if (text !== undefined) {
      expect(text, 'text').not.toMatch(entity);
      if (stack.length === 0) expect(text.trim()).toBe('');
      continue;
    }
    expect(attrs ?? '', 'attributes').not.toMatch(entity);
    const names = [...(attrs ?? '').matchAll(/([A-Za-z_][\w.-]*)=/g)].map((a) => a[1]);
    expect(new Set(names).size, 'duplicate attribute').toBe(names.length);
    if (close) expect(stack.pop(), `closing ${name}`).toBe(name);
    else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

describe('the XML checker used here', () => {
  it('rejects what is not well-formed', () => {
    const decl = '<?xml version="1.0" encoding="UTF-8"?>\n';
    expect(() => assertWellFormedXml(`${decl}<a>ok &amp; fine</a>`)).not.toThrow();
    for (const bad of [
      '<a>&</a>',
      '<a><b></a></b>',
      '<a x="<"/>',
      '<a x="1" x="2"/>',
      '<a/><b/>',
      '<a>\u0001</a>',
      '<a x=1/>',
    ]) {
      expect(() => assertWellFormedXml(decl + bad), bad).toThrow();
    }
  });
});

describe('escapeMarkup', () => {
  it('escapes the five markup characters and replaces characters XML forbids', () => {
    expect(escapeMarkup(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
    expect(escapeMarkup('a\u0000b\u0008c\td\ne\uDC00f\uD83D\uDE00')).toBe('a\uFFFDb\uFFFDc\td\ne\uFFFDf\uD83D\uDE00');
    expect(escapeMarkup({ a: '<' })).toBe('{&quot;a&quot;:&quot;&lt;&quot;}');
  });
});

describe('toJUnit', () => {
  it('writes one testsuite with a testcase per check: failures, errors and warnings as skipped', () => {
    const xml = toJUnit(REPORT);
    assertWellFormedXml(xml);
    expect(xml.match(/<testsuite /g)).toHaveLength(1);
    expect(xml.match(/<testcase /g)).toHaveLength(4);
    expect(xml).toContain(
      '<testsuites name="cairn data validate" tests="4" failures="1" errors="1" skipped="1" time="1.234">',
    );
    expect(xml).toContain(
      '<testcase name="not_null(id)" classname="suite &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; \uFFFD\uFFFD ]]&gt;.not_null" time="0">',
    );
    expect(xml).toContain('<failure message="2 rows outside &amp; &quot;bounds&quot; &lt;script&gt;');
    expect(xml).toContain('<error message="the table has no column &quot;&lt;b&gt;&quot;" type="regex">');
    expect(xml).toContain('<skipped message="warning: warned &lt;i&gt;"/>');
    expect(xml).toContain(
      'details: {&quot;columns&quot;:[{&quot;column&quot;:&quot;a&amp;b&quot;,&quot;psi&quot;:0.5}]}',
    );
    expect(xml).not.toContain('<script');
    expect(xml).not.toContain('\u0001');
    // The sample row is in the failure's body, escaped.
    expect(xml).toMatch(/sample:\n {2}\{&quot;&lt;script&gt;/);
  });
});

describe('toHtml', () => {
  it('renders a self-contained page with a summary, highlighted failures and escaped samples', () => {
    const html = toHtml(REPORT);
    expect(html.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|href=/i);
    expect(html).not.toContain('\u0001');
    expect(html).toContain('<title>Validation of orders@v2</title>');
    expect(html).toContain('<div class="card verdict-bad"><b>FAILED</b>verdict</div>');
    expect(html).toContain('<div class="card"><b>2</b>errors</div>');
    expect(html).toContain('<div class="card"><b>1</b>warnings</div>');
    expect(html).toContain(
      '<tr class="failed"><td><span class="badge b-failed">failed</span></td><td><code>range(&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; \uFFFD\uFFFD ]]&gt;)</code>',
    );
    expect(html).toContain('<tr class="error"><td><span class="badge b-error">error</span>');
    expect(html).toContain('<tr class="warn"><td><span class="badge b-warn">failed (warn)</span>');
    expect(html).toContain('<tr class="passed">');
    expect(html).toContain(
      '<details open><summary>Sample (1 row)</summary><table class="inner"><thead><tr><th>&lt;script&gt;',
    );
    expect(html).toContain('<td>1</td><td><span class="null">null</span></td>');
    expect(html).toContain('<th>column</th><th>psi</th></tr></thead><tbody><tr><td>a&amp;b</td><td>0.5</td>');
    expect(toHtml({ ...REPORT, ok: true, errors: 0 }, { title: 'T <&>' })).toContain('<title>T &lt;&amp;&gt;</title>');
  });
});

describe('reports of a real run', () => {
  const tmp = useTempDirs();

  it('escape hostile values that came from the data itself', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'h.csv'), `id,v\n1,"<script>alert('pwn')</script>"\n2,"a & b ""c"""\n,\u0002x\n`);
    const engine = await openEngine({ tempDir: join(dir, 'duck'), threads: 2 });
    try {
      const table = await loadTable(engine, [join(dir, 'h.csv')], 'csv');
      const suite = parseSuite(
        `suite: hostile\nchecks:\n  - not_null: [id]\n  - regex: { column: v, pattern: '[a-z]+' }\n`,
        'h.yaml',
      );
      const report = await runSuite(engine, table, suite, { target: 'h@v1', now: new Date('2024-01-01T00:00:00Z') });
      expect(report.checks.map((c) => [c.name, c.failed])).toEqual([
        ['not_null(id)', 1],
        ['regex(v)', 3],
      ]);
      const xml = toJUnit(report);
      assertWellFormedXml(xml);
      expect(xml).toContain(
        '{&quot;id&quot;:1,&quot;v&quot;:&quot;&lt;script&gt;alert(&#39;pwn&#39;)&lt;/script&gt;&quot;}',
      );
      expect(xml).toContain('{&quot;id&quot;:null,&quot;v&quot;:&quot;\\u0002x&quot;}');
      const html = toHtml(report);
      expect(html).not.toMatch(/<script/i);
      expect(html).toContain('<td>&lt;script&gt;alert(&#39;pwn&#39;)&lt;/script&gt;</td>');
      expect(html).toContain('<td>a &amp; b &quot;c&quot;</td>');
      expect(html).toContain('<td>\uFFFDx</td>');
    } finally {
      engine.close();
    }
  });
});
