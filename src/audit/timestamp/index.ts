export { requestTimestamp, verifyTimestamp } from './rfc3161.js';
export type { TimestampConfig } from './rfc3161.js';
