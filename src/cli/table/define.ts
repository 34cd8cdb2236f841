import type { GlobalOptions } from '../context.js';

/**
 * The typed command table (after vitest's cli-config.ts): each command declares its arguments
 * and options once, as data. Parsing and help are built from the declaration (build-program.ts)
 * and the handler's option type is derived from it (`OptionsOf<typeof spec>`), so the compiler
 * checks that a handler reads only options its command declares, with the declared types.
 */

/** A commander argument parser: the raw text and the value so far (for repeatable options). */
export type Parse<T> = (value: string, previous: T) => T;

export interface OptionSpec<T> {
  flags: string;
  description: string;
  default?: T;
  // Method syntax on purpose: a parser of T must also fit OptionSpec<unknown> in the table.
  parse?(value: string, previous: T): T;
  choices?: readonly string[];
  required?: boolean;
  /** Phantom field: the parsed value's type. Never set at run time. */
  readonly __value?: T;
}

/** A positional argument: `name` required, `name?` optional, `name...` variadic. */
export type ArgName = string;

export interface CommandSpec {
  /** Words from the program name down, e.g. "data add". */
  path: string;
  args: readonly ArgName[];
  description: string;
  options: Readonly<Record<string, OptionSpec<unknown>>>;
  /** Descriptions of positional arguments shown in help, by argument name. */
  argHelp?: Readonly<Record<string, string>>;
  /** Runs when the group is called without a subcommand (`cairn run [spec]`). */
  isDefault?: boolean;
}

type ArgValue<A extends string> = A extends `${string}...${string}`
  ? string[]
  : A extends `${string}?`
    ? string | undefined
    : string;

type ArgValues<A> = A extends readonly [infer H extends string, ...infer R] ? [ArgValue<H>, ...ArgValues<R>] : [];

export type ArgsOf<S extends CommandSpec> = ArgValues<S['args']>;

export type OptionsOf<S extends CommandSpec> = {
  -readonly [K in keyof S['options']]: S['options'][K] extends OptionSpec<infer T> ? T : never;
} & GlobalOptions;

export type Handler<S extends CommandSpec> = (...args: [...ArgsOf<S>, OptionsOf<S>]) => Promise<void>;

/** Declares a command; `const` keeps argument names literal so their types can be derived. */
export function spec<const S extends CommandSpec>(s: S): S {
  return s;
}

export interface BoundCommand {
  spec: CommandSpec;
  load(): Promise<{ run: (...args: never[]) => Promise<void> }>;
}

export interface GroupSpec {
  path: string;
  description: string;
}

/**
 * Joins a declaration to its handler module. The module is imported on use: `cairn data status`
 * must not pay for loading every other command (start-up time is part of its budget).
 */
export function bind<S extends CommandSpec>(s: S, load: () => Promise<{ run: Handler<S> }>): BoundCommand {
  return { spec: s, load: load as unknown as BoundCommand['load'] };
}

export function group(path: string, description: string): GroupSpec {
  return { path, description };
}

// Option builders: each fixes the parsed value's type from the flags' shape.

export function flag(flags: string, description: string): OptionSpec<boolean | undefined> {
  return { flags, description };
}

export function text(flags: string, description: string): OptionSpec<string | undefined>;
export function text(flags: string, description: string, fallback: string): OptionSpec<string>;
export function text(flags: string, description: string, fallback?: string): OptionSpec<string | undefined> {
  return fallback === undefined ? { flags, description } : { flags, description, default: fallback };
}

export function required(flags: string, description: string): OptionSpec<string> {
  return { flags, description, required: true };
}

export function choice<const C extends readonly string[]>(
  flags: string,
  description: string,
  choices: C,
): OptionSpec<C[number] | undefined>;
export function choice<const C extends readonly string[]>(
  flags: string,
  description: string,
  choices: C,
  fallback: C[number],
): OptionSpec<C[number]>;
export function choice(flags: string, description: string, choices: readonly string[], fallback?: string) {
  return fallback === undefined ? { flags, description, choices } : { flags, description, choices, default: fallback };
}

export function parsed<T>(flags: string, description: string, parse: Parse<T>): OptionSpec<T | undefined>;
export function parsed<T>(flags: string, description: string, parse: Parse<T>, fallback: T): OptionSpec<T>;
export function parsed<T>(flags: string, description: string, parse: Parse<T>, fallback?: T) {
  return fallback === undefined ? { flags, description, parse } : { flags, description, parse, default: fallback };
}

/** A repeatable option collected into a list (empty when not given). */
export function list(flags: string, description: string): OptionSpec<string[]> {
  return { flags, description, parse: collect, default: [] };
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** `--no-x`: true unless given (commander's negatable flag). */
export function negated(flags: string, description: string): OptionSpec<boolean> {
  return { flags, description };
}
