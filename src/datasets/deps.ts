import type { AuditActor } from '../audit/event.js';
import type { AuditLog } from '../audit/log/audit-log.js';
import type { Clock } from '../core/time.js';
import type { ReadDb } from '../meta/read-db.js';
import type { BlobIndex } from '../storage/blob-index.js';
import type { LocalPackDir } from '../storage/objects/local-packs.js';
import type { PackReader } from '../storage/pack/reader.js';
import type { WorkerPool } from '../storage/workers/pool.js';

/** The ports the dataset service uses; the workspace (app/) provides them. */
export interface DatasetDeps {
  meta: { db: ReadDb };
  audit: AuditLog;
  index: BlobIndex;
  reader: PackReader;
  packs: LocalPackDir;
  pool: WorkerPool;
  clock: Clock;
  actor(): AuditActor;
  cacheDir: string;
  locksDir: string;
  config: { storage: { pack_size_mib: number } };
}
