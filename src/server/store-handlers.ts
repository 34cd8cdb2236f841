import type { Services } from '../app/services.js';
import type { ServerRuntime } from '../app/server.js';
import type { PlannedObject, PoisonedPack, ServerStore } from '../app/server-store.js';
import { CairnError } from '../core/errors.js';
import type { HandlerInput } from './handlers.js';
import { readerOf, type Reader } from './read-scope.js';
import { listedKey, noObject, storeView } from './store-scope.js';

const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;
import { scrubSecrets } from './secret-shapes.js';

type Handler = (s: Services, i: HandlerInput, rt: ServerRuntime) => Promise<unknown>;

/** The data plane, which `cairn ui` (a workspace serving itself) does not have. */
export function storeOf(rt: ServerRuntime): ServerStore {
  if (!rt.store)
    throw new CairnError(
      'NOT_ON_SERVER',
      'this is `cairn ui` on a workspace: it has no store to push to or pull from',
      {
        hint: 'push to a team server (cairn server start) or a remote (cairn remote add)',
      },
    );
  return rt.store;
}

/** What the caller may read (docs/SERVER.md "What a reader of some projects sees"). */
export async function storeReader(rt: ServerRuntime, principal: HandlerInput['principal']): Promise<Reader> {
  return readerOf(await rt.identity.view(), { principal });
}

/**
 * The data plane's operations. For a reader of some projects (store-scope.ts), listings and
 * downloads carry only the packs of versions they may read, and a plan treats a held pack they
 * may not read as one the store lacks. Planning, committing and handing out download URLs change no
 * metadata, so each is recorded here as its own event (who moved which packs); the import is an
 * audited pull of the store, made as the pushing account.
 */
export const storeHandlers: Record<
  'store.list' | 'store.plan' | 'store.commit' | 'store.download' | 'store.import',
  Handler
> = {
  'store.list': async (_s, i, rt) => {
    const objects = await storeOf(rt).list(String(i.query.prefix ?? ''));
    const r = await storeReader(rt, i.principal);
    const view = await storeView(rt, storeOf(rt), r);
    return { objects: view ? objects.filter((o) => listedKey(o.key, view, r.wholeLog)) : objects };
  },
  'store.plan': async (_s, i, rt) => {
    const objects = i.body.objects as PlannedObject[];
    const view = await storeView(rt, storeOf(rt), await storeReader(rt, i.principal));
    const plan = await storeOf(rt).plan(
      i.principal.name,
      objects,
      view ? { knows: (key) => view.packs.has(key) } : undefined,
    );
    const missing = plan.filter((p) => !p.present);
    await record(rt, 'server.store.plan', {
      packs: objects.length,
      missing: missing.length,
      bytes: objects.filter((o) => missing.some((m) => m.key === o.key)).reduce((n, o) => n + o.size, 0),
      direct: storeOf(rt).direct,
      // Multipart uploads planned, and their parts in all (each a presigned UploadPart).
      multipart: missing.filter((m) => m.parts).length,
      parts: missing.reduce((n, m) => n + (m.parts?.length ?? 0), 0),
    });
    await recordPoisoned(rt, plan);
    return { direct: storeOf(rt).direct, objects: plan };
  },
  'store.commit': async (_s, i, rt) => {
    const uploads = i.body.uploads as string[];
    try {
      const done = await storeOf(rt).commit(i.principal.name, uploads);
      await recordPoisoned(rt, done);
      await record(rt, 'server.store.commit', { uploads: uploads.length, keys: done.map((d) => d.key) });
      return { committed: done.map(({ key, size }) => ({ key, size })) };
    } catch (err) {
      await record(rt, 'server.store.commit', { uploads: uploads.length }, err);
      throw err;
    }
  },
  'store.download': async (_s, i, rt) => {
    const keys = i.body.keys as string[];
    const view = await storeView(rt, storeOf(rt), await storeReader(rt, i.principal));
    // A pack they may not read is answered as one the store lacks (its id is a content digest).
    const hidden = view ? keys.find((k) => PACK_KEY.test(k) && !view.packs.has(k)) : undefined;
    if (hidden !== undefined) throw noObject(hidden);
    const objects = await storeOf(rt).download(keys);
    await record(rt, 'server.store.download', { keys: keys.length, bytes: objects.reduce((n, o) => n + o.size, 0) });
    return { direct: storeOf(rt).direct, objects };
  },
  'store.import': async (s, i, rt) => {
    try {
      return await storeOf(rt).importPushed(s.transfer, i.principal.name, i.body.versions as string[]);
    } catch (err) {
      const poisoned = err instanceof CairnError ? (err.data?.poisoned as PoisonedPack[] | undefined) : undefined;
      if (poisoned)
        await recordPoisoned(
          rt,
          poisoned.map((p) => ({ poisoned: p })),
        );
      throw err;
    }
  },
};

/** One event per held pack found poisoned and removed, naming the account whose upload it was. */
export async function recordPoisoned(rt: ServerRuntime, objects: ReadonlyArray<{ poisoned?: PoisonedPack }>) {
  for (const o of objects)
    if (o.poisoned) await record(rt, 'server.store.poisoned', { ...o.poisoned }, new Error(o.poisoned.reason));
}

export async function record(
  rt: ServerRuntime,
  action:
    | 'server.store.plan'
    | 'server.store.commit'
    | 'server.store.download'
    | 'server.store.write'
    | 'server.store.poisoned',
  params: Record<string, unknown>,
  err?: unknown,
) {
  await rt.recordRequest({
    // Keys and messages can carry what a client put in a path (a pasted token): named, never kept.
    draft: { action, target: { type: 'store', name: storeOf(rt).url }, params: scrubSecrets(params) },
    outcome: err ? 'failed' : 'ok',
    ...(err ? { reason: scrubSecrets((err as Error).message) } : {}),
    context: rt.contextHere(),
  });
}
