import { vi } from 'vitest';

/** The process state a test file must leave as it found it when it shares its worker process. */
export interface ProcessState {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processState(): ProcessState {
  return { env: { ...process.env }, cwd: process.cwd() };
}

/**
 * Variables Cairn's own code sets for the whole process, the same whatever file runs first: the S3
 * backend turns off the AWS SDK's Node-version warning (src/app/transfer-config.ts). Not a file's doing.
 */
const PROCESS_WIDE = new Set(['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']);

/**
 * What differs from `before` (environment variables, the working directory, fake timers), each
 * undone; empty when nothing does. vitest's own per-file variables (VITEST_*) are not a file's doing.
 */
export function undoLeaks(before: ProcessState): string[] {
  const left: string[] = [];
  const names = new Set([...Object.keys(before.env), ...Object.keys(process.env)]);
  for (const name of [...names].sort()) {
    if (name.startsWith('VITEST') || PROCESS_WIDE.has(name) || before.env[name] === process.env[name]) continue;
    left.push(`environment variable ${name}`);
    if (before.env[name] === undefined) delete process.env[name];
    else process.env[name] = before.env[name];
  }
  if (process.cwd() !== before.cwd) {
    left.push(`working directory ${process.cwd()}`);
    process.chdir(before.cwd);
  }
  if (vi.isFakeTimers()) {
    left.push('fake timers');
    vi.useRealTimers();
  }
  return left;
}
