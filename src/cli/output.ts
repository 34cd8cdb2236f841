/** Where a command's result goes: one JSON document on stdout with --json, else human text. */
export interface Output {
  json: boolean;
  /** Human line(s) on stdout; suppressed with --json. */
  say(text: string): void;
  /** Notes for humans on stderr (never parsed by scripts). */
  note(text: string): void;
  /** The machine-readable result (printed only with --json). */
  result(value: unknown): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    say(text) {
      if (!json) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    note(text) {
      process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    result(value) {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
  };
}
