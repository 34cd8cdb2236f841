export { HASH_SIZE, emptyRoot, isHash, leafHash, leafHashOfText, nodeHash } from './hash.js';
export { naiveRoot } from './naive.js';
export { rangeHash } from './range.js';
export type { PerfectNodeLookup } from './range.js';
export { consistencyProof, inclusionProof, rootFromInclusion, verifyConsistency, verifyInclusion } from './proofs.js';
export type { RangeHasher } from './proofs.js';
export { Frontier } from './frontier.js';
export type { FrontierJSON, PerfectNode } from './frontier.js';
