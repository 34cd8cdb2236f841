import { Command, Option } from 'commander';
import { CLIENT_VERSION } from '../../app/version.js';
import type { BoundCommand, CommandSpec, GroupSpec } from './define.js';

/** The commander program for a command table: parsing and help come from the declarations. */
export function buildProgramFrom(table: readonly (BoundCommand | GroupSpec)[]): Command {
  const program = new Command('cairn')
    .description('Versioned data, reproducible training and a forensic audit trail for ML engineers')
    .version(CLIENT_VERSION, '-V, --version')
    .option('--json', 'print one JSON document on stdout (no progress bars)')
    .option('--workspace <dir>', 'use the workspace in <dir> instead of searching from the current directory')
    .exitOverride();
  program.configureOutput({ outputError: () => {} });
  const byPath = new Map<string, Command>([['', program]]);
  for (const entry of table) {
    const words = ('spec' in entry ? entry.spec.path : entry.path).split(' ');
    const parent = byPath.get(words.slice(0, -1).join(' '));
    if (!parent) throw new Error(`command table: "${words.join(' ')}" comes before its group`);
    const cmd =
      'spec' in entry
        ? declare(parent, words.at(-1)!, entry.spec).action(lazy(entry))
        : parent.command(words.at(-1)!).description(entry.description);
    byPath.set(words.join(' '), cmd);
  }
  return program;
}

function declare(parent: Command, name: string, s: CommandSpec): Command {
  const cmd = parent.command(name, { isDefault: s.isDefault === true }).description(s.description);
  for (const a of s.args) {
    const variadic = a.replace('?', '').endsWith('...');
    const bare = a.replace('?', '').replace('...', '');
    const shown = a.endsWith('?') ? `[${bare}${variadic ? '...' : ''}]` : `<${bare}${variadic ? '...' : ''}>`;
    cmd.argument(shown, s.argHelp?.[bare]);
  }
  for (const o of Object.values(s.options)) {
    const opt = new Option(o.flags, o.description);
    if (o.choices) opt.choices(o.choices);
    if (o.parse) opt.argParser(o.parse);
    if (o.default !== undefined) opt.default(o.default);
    if (o.required) opt.makeOptionMandatory(true);
    cmd.addOption(opt);
  }
  return cmd;
}

type Opts = Record<string, unknown>;

/** Loads the handler on use and calls it with the positional arguments and all options. */
function lazy(entry: BoundCommand) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const positional = args.slice(0, -2);
    const opts = cmd.optsWithGlobals() as Opts;
    const mod = await entry.load();
    await (mod.run as (...a: unknown[]) => Promise<void>)(...positional, opts);
  };
}
