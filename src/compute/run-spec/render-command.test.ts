import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunSpec, renderCommand } from './run-spec.js';

// Every rendered command runs under the real /bin/sh: what the shell hands the program is the
// only thing that matters, and a file appearing in the folder means an injection ran.
const root = mkdtempSync(join(tmpdir(), 'cairn-render-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Renders `command` with params.x = value, runs it in a fresh folder; returns its stdout and the folder's files. */
function runWith(
  command: string,
  value: string | number | boolean | null,
): { stdout: string; files: string[]; command: string } {
  const spec = {
    ...parseRunSpec(`name: t\ncommand: x\nparams: { x: 1 }\n`, 'cairn.yaml'),
    command,
    params: { x: value },
  };
  const rendered = renderCommand(spec);
  const cwd = mkdtempSync(join(root, 'job-'));
  const r = spawnSync('/bin/sh', ['-c', rendered], { cwd, encoding: 'utf8' });
  return { stdout: r.stdout, files: readdirSync(cwd), command: rendered };
}

/** Prints each argument between < and >, so word splitting shows. */
const ARGS = `printf '<%s>' `;

const HOSTILE = [
  'a; touch injected',
  '$(touch injected)',
  '`touch injected`',
  "it's; touch injected; echo '",
  'a" ; touch injected ; echo "',
  'x\ntouch injected',
  'x\\',
  '${HOME}$((1+1)) *',
  "'\"'\"'",
  '',
  ' spaces  and\ttabs ',
];

describe('params in the command are shell words, never shell code', () => {
  it('the placeholder alone: the value arrives as exactly one argument and nothing else runs', () => {
    for (const v of HOSTILE) {
      const r = runWith(`${ARGS}{params.x}`, v);
      expect({ v, files: r.files }).toEqual({ v, files: [] });
      expect({ v, stdout: r.stdout }).toEqual({ v, stdout: `<${v}>` });
    }
  });

  it('inside double quotes and inside single quotes the value arrives intact too', () => {
    for (const v of HOSTILE) {
      const dq = runWith(`${ARGS}"pre {params.x} post"`, v);
      expect({ v, files: dq.files, stdout: dq.stdout }).toEqual({ v, files: [], stdout: `<pre ${v} post>` });
      const sq = runWith(`${ARGS}'pre {params.x} post'`, v);
      expect({ v, files: sq.files, stdout: sq.stdout }).toEqual({ v, files: [], stdout: `<pre ${v} post>` });
    }
  });

  it('inside $( ), backquotes and a comment the value cannot run either', () => {
    for (const v of HOSTILE) {
      const sub = runWith(`${ARGS}"$(printf '[%s]' {params.x})"`, v);
      expect({ v, files: sub.files, stdout: sub.stdout }).toEqual({ v, files: [], stdout: `<[${v}]>` });
      const bq = runWith(`${ARGS}"\`printf '[%s]' {params.x}\`"`, v);
      expect({ v, files: bq.files, stdout: bq.stdout }).toEqual({ v, files: [], stdout: `<[${v}]>` });
      const comment = runWith(`echo ran # {params.x}`, v);
      expect({ v, files: comment.files, stdout: comment.stdout }).toEqual({ v, files: [], stdout: 'ran\n' });
    }
  });

  it('plain values are left as they were (run keys of existing runs do not move); null leaves nothing', () => {
    expect(runWith('python3 train.py --lr {params.x}', 0.1).command).toBe('python3 train.py --lr 0.1');
    expect(runWith('train --name {params.x}', 'run-1/a_b.c:d,e@f+g%').command).toBe(
      'train --name run-1/a_b.c:d,e@f+g%',
    );
    expect(runWith('train --flag {params.x}', true).command).toBe('train --flag true');
    expect(runWith(`${ARGS}a {params.x} b`, null).stdout).toBe('<a><b>');
    expect(existsSync(join(root, 'injected'))).toBe(false);
  });
});
