/**
 * The step blocks kept per (run, metric) for curves (docs/COMPUTE.md "Metrics at scale"):
 * level k holds one row per 2^k-aligned range of steps, [b·2^k, (b+1)·2^k). Shared by the
 * migration that backfills them and the ingestion that keeps them, which must agree.
 *
 * Below MIN a block holds too few points to be worth a row (a metric logged every 10 steps
 * would store more block rows than points); a curve that fine is bucketed from its points,
 * at most 2^MIN × buckets steps. Above MAX (10^12 steps per bucket) curves come from points too.
 */
export const METRIC_BLOCK_MIN_LEVEL = 5;
export const METRIC_BLOCK_MAX_LEVEL = 40;
