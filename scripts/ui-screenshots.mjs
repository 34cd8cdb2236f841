#!/usr/bin/env node
// Screenshots of the web UI's main pages for docs/UI.md, taken in Debian's chromium from a
// running `cairn ui` (start it in a workspace built by `cairn demo --keep` first):
//
//   node scripts/ui-screenshots.mjs 'http://127.0.0.1:5000/?token=…' [out-dir (default docs/ui)]
//
// (the link `cairn ui` printed, with its secret)
/* global fetch -- Node 20's */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [link, out = 'docs/ui'] = process.argv.slice(2);
if (!link) throw new Error('usage: node scripts/ui-screenshots.mjs <the link cairn ui printed> [out-dir]');
const token = new URL(link).searchParams.get('token') ?? '';
const base = new URL(link).origin;
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
await page.goto(link);
const api = async (p) => (await fetch(base + '/api/v1' + p, { headers: { authorization: `Bearer ${token}` } })).json();
const flights = (await api('/runs/find?limit=10&filter=' + encodeURIComponent('spec == flight-late'))).runs.map(
  (r) => r.id,
);
const shots = [
  ['overview', '/'],
  ['runs', '/runs'],
  ['runs-grouped', '/runs?group=name&sort=-metrics.train_accuracy'],
  ['compare', `/runs/compare?ids=${flights.join(',')}`],
  ['compare-parcoords', `/runs/compare?ids=${flights.join(',')}&x=time`],
  ['model', '/models/flight-late'],
  ['lineage', '/lineage?ref=model:flight-late@production&direction=up'],
  ['audit', '/audit'],
  ['dataset-version', '/datasets/flights/v1'],
  ['compute', '/compute?show=cpuHours'],
  ['releases', '/releases'],
];
for (const [name, path] of shots) {
  await page.goto(base + path);
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(600);
  if (name === 'audit') {
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.waitForSelector('p.ok[role=status], .error[role=alert]', { timeout: 120_000 });
  }
  if (name === 'model') await page.locator('article.version').nth(1).scrollIntoViewIfNeeded();
  if (name === 'runs-grouped') await page.locator('details.group summary').first().click();
  if (name === 'compare-parcoords') await page.locator('#parcoords').evaluate((e) => e.scrollIntoView());
  if (name === 'dataset-version') {
    await page.locator('details.report', { hasText: 'profile' }).locator('summary').first().click();
    await page.locator('svg.hist').first().scrollIntoViewIfNeeded();
  }
  if (name === 'releases') await page.locator('section.dora').first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(out, `${name}.png`) });
  console.log(join(out, `${name}.png`));
}
await browser.close();
