// A stat child (see stat-children.ts): a process of its own, so that it may change its working
// directory into each folder it compares and stat the entries by name. Started with an IPC
// channel; each message is one task, answered with its findings; it exits when the parent
// disconnects (or goes away).
import { checkFolders, type StatChildTask } from './check-folders.js';

let cache: Buffer | null = null;

process.on('message', (task: StatChildTask) => {
  // One buffer the size of the whole cache file; only this child's records are read into it
  // (the untouched pages of a large allocation are never made resident).
  if (!cache || cache.length !== task.length) cache = Buffer.allocUnsafeSlow(task.length);
  process.send!(checkFolders(cache, task.records, task.root, task.scannedAtMs, task.file, true));
});
process.on('disconnect', () => process.exit(0));
