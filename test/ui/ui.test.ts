// The web UI in a real headless Chromium, on a workspace the demo built: every page, the charts,
// keyboard use, accessibility (axe), escaping of HTML in data, and promotion by role on a server.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { chromiumAvailable, demoWorkspace, launch, serve, watchErrors } from './support.js';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
// What the functions run in the page touch (this project compiles without the DOM library).
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: {
  querySelector(selector: string): (Canvas & { textContent: string | null }) | null;
  activeElement: { textContent: string | null } | null;
};
declare const window: Record<string, unknown>;

const XSS = '<img src=x onerror="window.__pwned=1">';

const ok = <T>(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): T => {
  const r = cli([...args, '--json'], { cwd, env });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.json as T;
};

describe.skipIf(!chromiumAvailable())('web UI in Chromium', () => {
  let ws = '';
  let browser: Browser;
  let ui: Awaited<ReturnType<typeof serve>>;
  let ctx: BrowserContext;
  let flightRuns: string[] = [];
  let xssRun = '';

  beforeAll(async () => {
    ws = demoWorkspace();
    // A run whose param and tag hold HTML: the UI must show it as text.
    mkdirSync(join(ws, 'xss'), { recursive: true });
    writeFileSync(
      join(ws, 'xss', 'cairn.yaml'),
      `name: xss\ncommand: "true"\nparams:\n  html: ${JSON.stringify(XSS)}\nresources:\n  time: 1m\n`,
    );
    xssRun = ok<{ id: string }>(ws, ['run', 'submit', 'xss/cairn.yaml', '--tag', `team=${XSS}`]).id;
    // A small table in two versions, profiled both times (v2 adds a column and rows, and a file
    // whose name holds HTML), for the schema diff; a budget for /compute's burn.
    mkdirSync(join(ws, 'tiny'), { recursive: true });
    writeFileSync(join(ws, 'tiny', 'rows.csv'), 'a,b\n1,x\n2,y\n3,\n');
    ok(ws, ['data', 'add', 'tiny', '--name', 'tiny', '-m', 'three rows']);
    ok(ws, ['data', 'profile', 'tiny@v1', '--file', 'rows.csv']);
    writeFileSync(join(ws, 'tiny', 'rows.csv'), 'a,b,c\n1,x,1.5\n2,y,2\n3,,3\n4,z,4\n5,z,5\n');
    writeFileSync(join(ws, 'tiny', `${XSS}.txt`), 'hostile name\n');
    ok(ws, ['data', 'add', 'tiny', '--name', 'tiny', '-m', 'five rows, column c']);
    ok(ws, ['data', 'profile', 'tiny@v2', '--file', 'rows.csv']);
    ok(ws, ['compute', 'project', 'set', 'ops', '--budget', '40', '--period', 'month']);
    const listing = ok<{ runs: Array<{ id: string }> }>(ws, ['run', 'ls', '--filter', 'spec == flight-late']);
    flightRuns = listing.runs.map((r) => r.id);
    ui = await serve(['ui', '--port', '0'], ws, { CAIRN_ACTOR: 'demo@cairn.example' });
    browser = await launch();
    // Bypassing the page's CSP lets axe be injected, and proves escaping on its own: with the
    // policy off, only the renderer stands between data and script.
    ctx = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    // As a person does: open the link cairn ui printed; it trades the secret for a cookie.
    const first = await ctx.newPage();
    await first.goto(ui.link);
    expect(new URL(first.url()).search).toBe('');
    await first.close();
  }, 900_000);

  afterAll(async () => {
    await ctx?.close();
    await browser?.close();
    await ui?.stop();
    if (ws) rmSync(dirname(ws), { recursive: true, force: true });
  }, 180_000);

  const open = async (path: string): Promise<{ page: Page; errors: string[] }> => {
    const page = await ctx.newPage();
    const errors = watchErrors(page);
    await page.goto(ui.url + path);
    await page.waitForLoadState('networkidle');
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    return { page, errors };
  };

  const axe = async (page: Page) => {
    await page.addScriptTag({ path: AXE });
    const r = (await page.evaluate(() =>
      (window.axe as { run: (o: unknown) => Promise<unknown> }).run({
        resultTypes: ['violations'],
      }),
    )) as { violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> };
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  };

  it(
    'every page loads without console errors, shows the known records and passes axe',
    { timeout: 600_000 },
    async () => {
      const pages: Array<[string, string[]]> = [
        ['/', ['Start here', 'flight-late', 'Verify the audit log']],
        ['/runs', ['flight-late', 'runs match']],
        [`/runs/compare?ids=${flightRuns.join(',')}`, ['Compare 3 runs', 'Params that differ', 'epochs']],
        [`/runs/${flightRuns[0]}`, ['completed', 'Params', 'Logs']],
        ['/models', ['flight-late']],
        [
          '/models/flight-late',
          ['flight-late@v2', 'FAILED', 'non_regression', '95 % CI', 'Alias timeline', 'rollback'],
        ],
        ['/datasets', ['flights', 'emails']],
        ['/datasets/flights', ['flights@v1', 'vega-datasets flights-3m']],
        ['/datasets/flights/v1', ['profile', 'validation', 'row_count', 'Failing rows']],
        ['/datasets/flights%2Ftrain/v1', ['leakage', 'Splits', 'train', 'Leakage:']],
        ['/datasets/tiny?from=tiny@v1&to=tiny@v2', ['Rows: 3 → 5 (+2)', 'added', XSS]],
        ['/runs?group=name', ['groups by spec name', 'flight-late', 'xss']],
        ['/lineage?ref=model:flight-late@production&direction=up', ['flights@v1', 'flights-clean@v1', 'trained']],
        ['/audit', ['Verify now', 'model.promote']],
        ['/compute', ['Usage by project', 'ops', 'Budgets and their burn']],
        ['/compute?show=cpuHours', ['CPU-hours by project, per day']],
        ['/releases', ['DORA', 'flight-late@v3', 'production', 'Deployments per week', 'Change failure rate']],
      ];
      for (const [path, texts] of pages) {
        const { page, errors } = await open(path);
        const text = await page.locator('main').innerText();
        for (const t of texts) expect(text, `${path} shows ${t}`).toContain(t);
        expect(errors, `${path}: console errors`).toEqual([]);
        expect(await axe(page), `${path}: serious accessibility violations`).toEqual([]);
        await page.close();
      }
    },
  );

  it('unknown ids and pages get a clear "not found" page, not a blank one', { timeout: 60_000 }, async () => {
    for (const path of [
      '/runs/no-such-run',
      '/runs/compare?ids=no-such-run',
      '/models/no-such-model',
      '/datasets/nope',
      '/datasets/nope/v9',
      '/datasets/tiny?from=tiny@v1&to=tiny@v9',
      '/no/such/page',
    ]) {
      const { page } = await open(path);
      await expect(page.getByRole('heading', { name: 'Not found' })).toBeTruthy();
      expect(await page.locator('.notfound').innerText(), path).toMatch(/Not found/);
      await page.close();
    }
  });

  it('compare draws its curves and the scatter (canvas with pixels drawn)', { timeout: 60_000 }, async () => {
    const { page, errors } = await open(`/runs/compare?ids=${flightRuns.join(',')}&log=1`);
    await page.waitForSelector('.chart canvas');
    const inked = (sel: string) =>
      page.evaluate((s) => {
        const c = document.querySelector(s)!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
        return { n, w: c.width, h: c.height };
      }, sel);
    const line = await inked('.chart canvas');
    expect(line.w).toBeGreaterThan(300);
    expect(line.n).toBeGreaterThan(500);
    const scatter = await inked('canvas.scatter');
    expect(scatter.n).toBeGreaterThan(100);
    // Three runs, three series in the legend.
    expect(await page.locator('.u-legend .u-series').count()).toBe(4);
    expect(errors).toEqual([]);
    await page.close();
  });

  it(
    'groups runs by spec name and by tag: folded groups with counts and the best value',
    { timeout: 90_000 },
    async () => {
      const { page, errors } = await open('/runs?group=name&sort=-metrics.train_accuracy');
      const groups = page.locator('details.group');
      const names = await groups.locator('summary strong').allInnerTexts();
      expect(names).toContain('flight-late');
      expect(names).toContain('xss');
      const flight = groups.filter({ has: page.locator('summary strong', { hasText: /^flight-late$/ }) });
      const summary = await flight.locator('summary').innerText();
      expect(summary).toContain(`${flightRuns.length} runs`);
      // The best of the group is the highest accuracy among its runs, as the API reports them.
      const accs = ok<{ runs: Array<{ values: Record<string, number> }> }>(ws, [
        'run',
        'ls',
        '--filter',
        'spec == flight-late',
        '--columns',
        'metrics.train_accuracy',
      ]).runs.map((r) => r.values['metrics.train_accuracy']!);
      expect(summary).toContain(`best metrics.train_accuracy: ${String(+Math.max(...accs).toPrecision(4))}`);
      // Folded until opened, from the keyboard too.
      expect(await flight.getAttribute('open')).toBeNull();
      await flight.locator('summary').focus();
      await page.keyboard.press('Enter');
      expect(await flight.getAttribute('open')).not.toBeNull();
      expect(await flight.locator('tbody tr').count()).toBe(flightRuns.length);
      expect(await axe(page)).toEqual([]);
      // By a tag whose value holds HTML: the group's name is text.
      const byTag = await open('/runs?group=tag:team');
      expect(await byTag.page.locator('details.group summary strong').allInnerTexts()).toEqual(
        expect.arrayContaining([XSS, '(no tag)']),
      );
      expect(await byTag.page.locator('main img').count()).toBe(0);
      expect(await byTag.page.evaluate(() => window.__pwned)).toBeUndefined();
      expect([...errors, ...byTag.errors]).toEqual([]);
      await page.close();
      await byTag.page.close();
    },
  );

  it(
    'compare: time on the x axis, parallel coordinates with reorderable axes, usage as recorded',
    { timeout: 90_000 },
    async () => {
      const ids = flightRuns.join(',');
      // The API buckets a stepped metric by time when asked.
      const curves = (await (
        await fetch(`${ui.url}/api/v1/runs/curves?ids=${ids}&name=train_accuracy&x=time`, {
          headers: { authorization: `Bearer ${ui.token}` },
        })
      ).json()) as Array<{ by: string; buckets: Array<{ times: [string, string] | null }> }>;
      expect(curves.map((c) => c.by)).toEqual(flightRuns.map(() => 'time'));
      expect(curves.every((c) => c.buckets.length > 0 && c.buckets.every((b) => b.times !== null))).toBe(true);
      const { page, errors } = await open(`/runs/compare?ids=${ids}&x=time`);
      await page.waitForSelector('.chart canvas');
      expect(await page.getByRole('radio', { name: 'time' }).isChecked()).toBe(true);
      expect(await page.locator('.chart .u-legend').first().innerText()).toContain('seconds since the first point');
      await page.getByRole('radio', { name: 'step' }).check();
      await expect.poll(() => page.url()).not.toContain('x=time');
      // One line per run across the axes; every line drawn.
      const paths = page.locator('svg.parcoords path.run');
      expect(await paths.count()).toBe(flightRuns.length);
      for (const d of await paths.evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? '')))
        expect(d).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
      const order = () => page.locator('ol.axis-order li span').allInnerTexts();
      const before = await order();
      expect(before.length).toBeGreaterThan(2);
      await page.getByRole('button', { name: `Move ${before[0]} right` }).click();
      expect(await order()).toEqual([before[1], before[0], ...before.slice(2)]);
      expect(await page.locator('svg.parcoords g.axis text.axis-name').first().textContent()).toContain(before[1]);
      // No GPU here: the page says so instead of drawing a flat line, and shows the totals.
      expect(await page.locator('#usage ~ p[role=note]').first().innerText()).toMatch(
        /No GPU utilization was recorded/,
      );
      expect(await page.locator('table.usage tbody tr').count()).toBe(flightRuns.length);
      expect(await page.locator('table.usage tbody').innerText()).toMatch(/\d+(\.\d+)? (KiB|MiB|GiB)/);
      expect(await axe(page)).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    },
  );

  it('draws histograms, the budget burn and the DORA charts', { timeout: 90_000 }, async () => {
    const v1 = await open('/datasets/flights/v1');
    await v1.page.locator('details.report', { hasText: 'profile' }).locator('summary').first().click();
    expect(await v1.page.locator('svg.hist rect').count()).toBeGreaterThan(5);
    const cpu = await open('/compute?show=cpuHours');
    expect(await cpu.page.locator('figure.bars rect.bar:not(.zero)').count()).toBeGreaterThan(0);
    const meter = cpu.page.locator('meter');
    expect(await meter.getAttribute('aria-label')).toMatch(/^ops: [\d.]+ of 40 GPU-hours$/);
    const rel = await open('/releases');
    const flight = rel.page.locator('section.dora', { hasText: 'flight-late' });
    const deploys = flight.locator('figure.bars', { hasText: 'Deployments per week' });
    expect(await deploys.locator('rect.bar:not(.zero)').count()).toBeGreaterThan(0);
    expect([...v1.errors, ...cpu.errors, ...rel.errors]).toEqual([]);
    for (const p of [v1, cpu, rel]) await p.page.close();
  });

  it('HTML in data is shown as text, never run', { timeout: 60_000 }, async () => {
    const { page, errors } = await open(`/runs/${xssRun}`);
    expect(await page.locator('main').innerText()).toContain(XSS);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    const cmp = await open(`/runs/compare?ids=${xssRun},${flightRuns[0]}`);
    expect(await cmp.page.locator('main').innerText()).toContain(XSS);
    expect(await cmp.page.evaluate(() => window.__pwned)).toBeUndefined();
    const diff = await open('/datasets/tiny?from=tiny@v1&to=tiny@v2');
    expect(await diff.page.locator('main').innerText()).toContain(`${XSS}.txt`);
    expect(await diff.page.locator('main img').count()).toBe(0);
    expect(await diff.page.evaluate(() => window.__pwned)).toBeUndefined();
    expect([...errors, ...cmp.errors, ...diff.errors]).toEqual([]);
    await page.close();
    await cmp.page.close();
    await diff.page.close();
  });

  it(
    'works from the keyboard: skip link, navigation, selecting runs and comparing them',
    { timeout: 60_000 },
    async () => {
      const { page } = await open('/');
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
      // Tab to the Runs link in the navigation and follow it.
      for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Runs') break;
      }
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/runs$/);
      await page.waitForSelector('table.runs');
      // Select two runs with the space bar, then reach Compare and press it.
      const boxes = page.locator('table.runs input[type=checkbox]');
      await boxes.nth(0).focus();
      await page.keyboard.press('Space');
      await boxes.nth(1).focus();
      await page.keyboard.press('Space');
      await page.getByRole('button', { name: /Compare 2 selected/ }).focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/runs\/compare\?ids=/);
      expect(await page.locator('h1').innerText()).toBe('Compare 2 runs');
      await page.close();
    },
  );

  it('verify now runs the audit check from the page', { timeout: 120_000 }, async () => {
    const { page } = await open('/audit');
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.waitForSelector('p.ok[role=status]', { timeout: 100_000 });
    expect(await page.locator('p.ok[role=status]').innerText()).toMatch(/^Intact: \d+ entries/);
    await page.close();
  });

  it(
    'on a team server, a viewer is not offered promote (and is refused), an approver promotes',
    { timeout: 180_000 },
    async () => {
      await ui.stop();
      // The demo's workspace becomes a server's data dir; its people come from tokens now.
      ok(ws, ['server', 'user', 'add', 'alice', '--role', 'approver', '--data-dir', ws]);
      ok(ws, ['server', 'user', 'add', 'victor', '--role', 'viewer', '--data-dir', ws]);
      const alice = ok<{ token: string }>(ws, ['server', 'token', 'create', '--user', 'alice', '--data-dir', ws]).token;
      const victor = ok<{ token: string }>(ws, [
        'server',
        'token',
        'create',
        '--user',
        'victor',
        '--data-dir',
        ws,
      ]).token;
      const server = await serve(['server', 'start', '--data-dir', ws, '--listen', '127.0.0.1:0'], ws);
      try {
        const signIn = async (token: string) => {
          const c = await browser.newContext();
          const page = await c.newPage();
          const errors = watchErrors(page);
          await page.goto(`${server.url}/models/flight-late`);
          await page.getByLabel('API token').fill(token);
          await page.getByRole('button', { name: 'Sign in' }).click();
          await page.waitForSelector('article.version');
          await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
          return { c, page, errors };
        };
        const v = await signIn(victor);
        expect(await v.page.locator('header .who').innerText()).toContain('victor · viewer');
        expect(await v.page.getByRole('button', { name: /Promote to production/ }).count()).toBe(0);
        expect(await v.page.getByRole('button', { name: /Approve/ }).count()).toBe(0);
        // The server refuses anyway.
        const refused = await v.page.evaluate(async (t) => {
          const r = await fetch('/api/v1/model-versions/promotions', {
            method: 'POST',
            headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
            body: JSON.stringify({ ref: 'flight-late@v3', alias: 'production' }),
          });
          return { status: r.status, body: (await r.json()) as { error: { code: string } } };
        }, victor);
        expect(refused.status).toBe(403);
        expect(refused.body.error.code).toBe('PERMISSION_DENIED');
        await v.c.close();

        const a = await signIn(alice);
        expect(await a.page.locator('header .who').innerText()).toContain('alice · approver');
        const v3 = a.page.locator('article.version', { has: a.page.getByRole('heading', { name: 'flight-late@v3' }) });
        await v3.getByRole('button', { name: 'Promote to production' }).click();
        await a.page.waitForSelector('p.ok[role=status]');
        expect(await a.page.locator('p.ok[role=status]').innerText()).toContain(
          'promoted flight-late@v3 to production',
        );
        await a.page.waitForFunction(() => document.querySelector('.timeline')?.textContent?.includes('by alice'));
        // The unauthenticated first look (one 401 the browser logs) is what brings the sign-in form.
        const first401 = a.errors.findIndex((e) => e.includes('status of 401'));
        expect(a.errors.filter((_, i) => i !== first401)).toEqual([]);
        await a.c.close();
        const shown = ok<{ aliases: string[] }>(ws, ['model', 'show', 'flight-late@v3'], { CAIRN_SERVER: '' });
        expect(shown.aliases).toContain('production');
      } finally {
        await server.stop();
      }
    },
  );
});
