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

let stdoutGone = false;
let guarded = false;

/** Whether the reader of stdout went away (`cairn … | head`): followers stop, writers skip. */
export function stdoutClosed(): boolean {
  return stdoutGone;
}

/**
 * Output to a reader that has gone is not an error of the command: `cairn audit log | head -1`
 * must print one line and exit quietly, not die on EPIPE with a stack trace. The command runs
 * to its normal end (an audited write commits and its checkpoint is signed) and its exit
 * status stays its own; what it still prints is dropped. Any other failure to write output
 * (a full disk under `>`) is said once, in one line, and fails the command.
 */
export function guardOutput(): void {
  // Once per process (tests may call main() many times in one).
  if (guarded) return;
  guarded = true;
  let reported = false;
  const onError = (stream: 'stdout' | 'stderr') => (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      if (stream === 'stdout') stdoutGone = true;
      return;
    }
    if (stream === 'stdout') stdoutGone = true;
    process.exitCode = 1;
    if (!reported && stream === 'stdout') {
      reported = true;
      process.stderr.write(`cairn: error[IO_ERROR]: cannot write the output: ${err.code ?? err.message}\n`);
    }
  };
  process.stdout.on('error', onError('stdout'));
  process.stderr.on('error', onError('stderr'));
}
