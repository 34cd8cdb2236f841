// The transfer domain (remotes, push, pull, clone). Other domains import it only through this
// file (lint: layers/imports). Minimal for now: what models/ needs to fetch a locked model.
export { pull } from './pull.js';
export { versionPacks } from './state-db.js';
export { openRemote } from './open-remote.js';
export { readState } from './remote-layout.js';
export { loadRemotes, pickRemote } from './remotes-file.js';
