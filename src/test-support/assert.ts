import { isCairnError, type ErrorCode } from '../core/errors.js';

/** Fails unless `p` rejects with a CairnError of `code`; returns the error for more checks. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode) {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err, code)) return err;
    throw new Error(`expected ${code}, got ${String((err as { code?: string }).code)}: ${(err as Error).message}`);
  }
  throw new Error(`expected ${code}, but it succeeded`);
}
