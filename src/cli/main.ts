import { CommanderError, type Command } from 'commander';
import { CairnError, errorCatalogue, ioError, isCairnError, type ErrorCode } from '../core/errors.js';
import { COMMAND_TABLE } from './command-table.js';
import { buildProgramFrom } from './table/build-program.js';
import { guardOutput } from './output.js';

export function buildProgram(): Command {
  return buildProgramFrom(COMMAND_TABLE);
}

/** The single error boundary of the CLI: every failure becomes a code, a message and an exit status. */
export async function main(argv: string[]): Promise<void> {
  guardOutput();
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err, json);
  }
}

function report(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // Help shown because no command was given (`cairn`, `cairn data`) is a usage error.
    if (err.code === 'commander.help')
      return err.exitCode === 0
        ? 0
        : emit(new CairnError('USAGE', 'no command given', { hint: 'the usage above lists the commands' }), json);
    const msg = err.message.replace(/^error: /, '');
    return emit(new CairnError('USAGE', msg, { hint: 'run `cairn --help` or `cairn <command> --help`' }), json);
  }
  if (isCairnError(err)) return emit(err, json);
  // A file that is missing, unreadable or in the way is the user's to fix, not a bug: every
  // Node system error that escaped its command is an IO_ERROR naming the path.
  const sys = systemError(err);
  if (sys) return emit(sys, json);
  const e = err as Error;
  const wrapped = new CairnError('INTERNAL', e?.message ?? String(err), {
    hint: 'this is a bug in Cairn; please report it with the command you ran (set CAIRN_DEBUG=1 for a stack trace)',
  });
  if (process.env.CAIRN_DEBUG) process.stderr.write(`${e?.stack ?? String(err)}\n`);
  return emit(wrapped, json);
}

const SYSCALL_VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create',
  rmdir: 'remove',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list',
  stat: 'find',
  lstat: 'find',
  copyfile: 'copy',
  symlink: 'link',
  link: 'link',
  chmod: 'change',
  access: 'access',
};

function systemError(err: unknown): CairnError | null {
  const sys = err as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (
    !sys ||
    typeof sys !== 'object' ||
    typeof sys.code !== 'string' ||
    !/^E[A-Z0-9]+$/.test(sys.code) ||
    typeof sys.syscall !== 'string'
  )
    return null;
  return ioError(err, SYSCALL_VERBS[sys.syscall] ?? sys.syscall, sys.path ?? sys.dest ?? '(a file)');
}

/** What to do next, for errors raised without a hint of their own: every error says it. */
const FALLBACK_HINTS: Partial<Record<ErrorCode, string>> = {
  USAGE: 'run `cairn --help` or `cairn <command> --help`',
  INVALID_NAME:
    'use letters, digits, . _ - (and / between dataset name parts), starting each part with a letter or digit',
  INVALID_REF: 'write name, name@v3, name@<tag> or name@sha256:<at least 4 hex characters>',
  INVALID_INPUT: 'fix or remove the named input and run the command again',
  CONFIG_INVALID: 'fix .cairn/config.json (see docs/CONFIG.md)',
  WORKSPACE_NOT_FOUND: 'run `cairn init` in your project folder first',
  WORKSPACE_EXISTS: 'use the existing workspace, or choose another directory',
  NOT_FOUND: 'list datasets with `cairn data ls` and versions with `cairn data log <name>`',
  AMBIGUOUS_REF: 'give more hex digits of the digest',
  ALREADY_EXISTS: 'pass --force to replace it, or choose another name',
  PATH_UNSAFE: 'remove or replace the named path or link, then try again',
  IO_ERROR: 'check that the path exists and that you may read (and write) it',
  LOCAL_CHANGES: 'add them as a new version with `cairn data add`, move them away, or pass --force',
  CORRUPT_OBJECT: 'run `cairn fsck` to see every damaged file and version',
  MISSING_OBJECT: 'run `cairn fsck` to see every damaged file and version',
  PERMISSION_DENIED: 'ask an owner of the workspace for access',
  LOCKED: 'wait for the other command to finish and try again',
  CHECK_FAILED: 'the output above names what failed',
  AUDIT_INCONSISTENT: 'run `cairn audit verify` and restore the metadata from a backup',
  SIGNATURE_INVALID: 'check that you verify with the right key (--key)',
  POLICY_UNMET: 'meet the conditions listed above (cairn model evaluate, cairn model approve), then promote again',
  RUN_FAILED: 'read its output with cairn run logs <id> (and cairn run show <id>)',
  BUDGET_EXCEEDED: 'raise the budget (cairn compute project set), shorten the time limit, or wait for the next period',
  DIVERGED: 'versions are immutable: use another dataset name, or clone the remote and continue from there',
  DB_ERROR: 'check that the metadata database is reachable and has room, then retry',
  UNSUPPORTED: 'upgrade Cairn',
};

function emit(err: CairnError, json: boolean): number {
  const hint = err.hint ?? FALLBACK_HINTS[err.code] ?? 'see docs/CLI.md';
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: err.code, message: err.message, hint, data: err.data } }, null, 2)}\n`,
    );
  } else {
    process.stderr.write(`cairn: error[${err.code}]: ${err.message}\n`);
    process.stderr.write(`hint: ${hint}\n`);
  }
  return errorCatalogue[err.code].exit;
}
