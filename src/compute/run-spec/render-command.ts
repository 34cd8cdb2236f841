import { CairnError } from '../../core/errors.js';
import type { RunSpec } from './run-spec.js';

/** Characters that mean nothing to a POSIX shell in a word (no `=`: a leading `A=b` is an assignment). */
const SAFE_WORD = /^[A-Za-z0-9_@%+:,./-]+$/;

/** A value as one POSIX shell word: left as it is when nothing in it is special, else single-quoted. */
export function shellWord(value: string): string {
  return SAFE_WORD.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Where a placeholder stands in the command, as the shell will read it. */
type Context = 'plain' | 'double' | 'single' | 'comment';

interface Frame {
  kind: Context | 'subst';
  /** For `$( )`: open parentheses inside it, so `)` of `$(( ))` or `( )` does not close it. */
  depth: number;
  /** How many backquote levels enclose this frame (each level re-reads backslashes). */
  bq: number;
  /** The frame a backquote opened (closing it drops it and everything above). */
  opensBq?: boolean;
}

/**
 * The quoting context at each `{params.name}` of a command, by a small POSIX sh lexer:
 * quotes, backslashes, `$( )`, backquotes and comments. It only needs to know the context,
 * never to parse the command, so an odd command (an unclosed quote) only makes the shell fail,
 * never lets a value out of its quotes: inside an unclosed quote the value is quoted for it.
 */
function contexts(
  command: string,
  placeholder: RegExp,
): Array<{ start: number; end: number; name: string; ctx: Context; bq: number }> {
  const out: Array<{ start: number; end: number; name: string; ctx: Context; bq: number }> = [];
  const stack: Frame[] = [{ kind: 'plain', depth: 0, bq: 0 }];
  const top = () => stack[stack.length - 1]!;
  let i = 0;
  while (i < command.length) {
    const f = top();
    placeholder.lastIndex = i;
    const m = placeholder.exec(command);
    if (m && m.index === i) {
      const ctx: Context = f.kind === 'subst' ? 'plain' : f.kind;
      out.push({ start: i, end: i + m[0].length, name: m[1]!, ctx, bq: f.bq });
      i += m[0].length;
      continue;
    }
    const c = command[i]!;
    const prev = i > 0 ? command[i - 1]! : '\n';
    if (f.kind === 'single') {
      if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (f.kind === 'comment') {
      if (c === '\n') stack.pop();
      i++;
      continue;
    }
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '`') {
      // Inside backquotes the next unescaped one closes them; elsewhere one opens them.
      if (f.bq > 0) stack.length = stack.findLastIndex((x) => x.opensBq && x.bq === f.bq);
      else stack.push({ kind: 'plain', depth: 0, bq: 1, opensBq: true });
      i++;
      continue;
    }
    if (c === '$' && command[i + 1] === '(') {
      stack.push({ kind: 'subst', depth: 0, bq: f.bq });
      i += 2;
      continue;
    }
    if (f.kind === 'double') {
      if (c === '"') stack.pop();
      i++;
      continue;
    }
    // plain or $( ): quotes, comments, parentheses.
    if (c === "'") stack.push({ kind: 'single', depth: 0, bq: f.bq });
    else if (c === '"') stack.push({ kind: 'double', depth: 0, bq: f.bq });
    else if (c === '#' && /[\s;&|()`]/.test(prev)) stack.push({ kind: 'comment', depth: 0, bq: f.bq });
    else if (f.kind === 'subst' && c === '(') f.depth++;
    else if (f.kind === 'subst' && c === ')') {
      if (f.depth === 0) stack.pop();
      else f.depth--;
    }
    i++;
  }
  return out;
}

/** `value` written so that the shell reads it back verbatim in context `ctx`. */
function quoteFor(value: string, ctx: Context, bq: number): string {
  let s: string;
  if (ctx === 'single') s = value.replaceAll("'", `'\\''`);
  else if (ctx === 'double') s = value.replace(/[\\"$`]/g, (ch) => `\\${ch}`);
  // A comment is inert, but a newline would end it and run the rest.
  else if (ctx === 'comment') s = shellWord(value).replace(/[\r\n]/g, ' ');
  else s = shellWord(value);
  // Inside backquotes the shell first turns \\, \` and \$ into \, ` and $, then parses.
  for (let level = 0; level < bq; level++) s = s.replace(/[\\`$]/g, (ch) => `\\${ch}`);
  return s;
}

const PLACEHOLDER = /\{params\.([A-Za-z0-9_.-]+)\}/y;

/**
 * The command with each `{params.name}` replaced by its value as the shell will read it back
 * verbatim (docs/COMPUTE.md "Run specs"): as one word where it stands alone, escaped for the
 * quotes around it inside "…" or '…', and never as shell code. A value with nothing special in
 * it is written as it is, so commands (and run keys) of plain values do not change. null
 * leaves nothing; an unknown param is an error, not an empty string.
 */
export function renderCommand(spec: Pick<RunSpec, 'command' | 'params'>): string {
  const cmd = spec.command;
  let out = '';
  let at = 0;
  for (const p of contexts(cmd, PLACEHOLDER)) {
    if (!(p.name in spec.params))
      throw new CairnError('INVALID_INPUT', `the command uses {params.${p.name}}, which the spec does not define`, {
        hint: `add it under params: or pass --set params.${p.name}=…`,
      });
    const v = spec.params[p.name];
    out += cmd.slice(at, p.start) + (v === null ? '' : quoteFor(String(v), p.ctx, p.bq));
    at = p.end;
  }
  return out + cmd.slice(at);
}
