export { CdcScanner, chunkBuffer } from './fastcdc.js';
export {
  DEFAULT_CHUNK_PARAMS,
  WINDOW_SIZE,
  chunkMasks,
  spreadMask,
  validateChunkParams,
  type ChunkMasks,
  type ChunkParams,
} from './params.js';
export { GEAR_SEED, gearTableU32 } from './gear.js';
