import { eachOwnEvent } from './log-events.js';

/**
 * An event of a verified remote log that says a version's bytes were erased on purpose: the
 * eraser's `dataset.erase` (`ok`), or the `remote.pull` of a workspace that imported the erasure
 * (`params.importedErasures`, so an erasure passes on from remote to remote as versions do).
 * Erasure is by content: every version with the erased root digest lost its bytes.
 */
export interface ErasureVoucher {
  /** `sha256:<hex>` of the erased root. */
  digest: string;
  /** When and by whom it was erased, as the erasing log says. */
  erasedAt: string;
  erasedBy: string;
  /** `sha256:` of the reason's text: the log never holds the text (it may name a data subject). */
  reasonDigest: string | null;
  origin: string;
  workspace: string;
  index: number;
}

/** Vouchers by `sha256:<hex>` root digest; the first seen is kept. */
export type ErasureVouchers = Map<string, ErasureVoucher>;

/** What a `remote.pull` event records per version it brought in as erased (`params.importedErasures`). */
export interface ImportedErasure extends ErasureVoucher {
  dataset: string;
  number: number;
}

type EraseEvent = {
  index?: unknown;
  workspace?: unknown;
  action?: unknown;
  outcome?: unknown;
  time?: unknown;
  actor?: { id?: unknown };
  target?: { digest?: unknown };
  params?: { reasonDigest?: unknown; importedErasures?: unknown };
};

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const RELEVANT = /"action":"(?:dataset\.erase|remote\.pull)"/;

/**
 * Adds the erasure vouchers of one verified log (`entries`: its entry texts in index order). Only
 * `ok` events of the log's own workspace count; a malformed one vouches for nothing. Pure.
 */
export function collectErasureVouchers(
  into: ErasureVouchers,
  log: { workspace: string; origin: string },
  entries: readonly string[],
): void {
  const add = (digest: unknown, erasedAt: unknown, erasedBy: unknown, reason: unknown, index: number) => {
    if (typeof digest !== 'string' || !DIGEST.test(digest) || into.has(digest)) return;
    if (typeof erasedAt !== 'string' || typeof erasedBy !== 'string') return;
    const reasonDigest = typeof reason === 'string' && DIGEST.test(reason) ? reason : null;
    into.set(digest, { digest, erasedAt, erasedBy, reasonDigest, origin: log.origin, workspace: log.workspace, index });
  };
  eachOwnEvent<EraseEvent>(entries, log.workspace, RELEVANT, (e, index) => {
    if (e.outcome !== 'ok') return;
    if (e.action === 'dataset.erase') add(e.target?.digest, e.time, e.actor?.id, e.params?.reasonDigest, index);
    else if (Array.isArray(e.params?.importedErasures))
      for (const x of e.params.importedErasures as unknown[])
        if (x && typeof x === 'object') {
          const i = x as Partial<ImportedErasure>;
          add(i.digest, i.erasedAt, i.erasedBy, i.reasonDigest, index);
        }
  });
}
