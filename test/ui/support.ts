// Helpers for the web UI's browser tests: Debian's chromium driven by playwright-core, a
// workspace built by `cairn demo`, and `cairn ui` / `cairn server start` as child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI } from '../../src/test-support/cli.js';
import { sharedDemo } from '../../src/test-support/shared-demo.js';

export const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';

/** Whether a browser is here; without one the tests skip loudly, or fail under CAIRN_REQUIRE_SERVICES=1. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CAIRN_REQUIRE_SERVICES === '1')
    throw new Error(
      `chromium is required (CAIRN_REQUIRE_SERVICES=1) but ${CHROMIUM} is missing: scripts/install-chromium.sh`,
    );
  process.stderr.write(`\n!!! SKIPPING web UI tests: no chromium at ${CHROMIUM} (apt-get install chromium)\n\n`);
  return false;
}

/** Playwright gives every launch a fresh profile folder of its own (a --user-data-dir it refuses). */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A copy of the demo's workspace (its project folder): the demo runs once per test run and is
 * shared with the compliance tests (CAIRN_TEST_DEMO may name a kept demo folder to copy instead).
 */
export function demoWorkspace(): string {
  return sharedDemo().project;
}

/** A long-running CLI command (cairn ui, cairn server start) with --json: resolves with its first JSON answer. */
export async function serve(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ url: string; token: string; link: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, ...args, '--json'], {
    cwd,
    env: { ...process.env, CAIRN_NO_PROGRESS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const first = await new Promise<{ url: string; token?: string; link?: string }>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        resolve(JSON.parse(out) as { url: string; token?: string; link?: string });
      } catch {
        // not whole yet
      }
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  // cairn ui prints its secret and the link that carries it; cairn server start has neither.
  return { url: first.url, token: first.token ?? '', link: first.link ?? first.url, child, stop };
}

/** Console errors and uncaught exceptions of a page, collected from now on. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
