/** The job-side API (what `cairn/sdk` would export): log params and metrics, find inputs, checkpoint. */
export {
  COMPLETE_FILE,
  checkpointDir,
  inputEnvName,
  inputPath,
  latestCheckpoint,
  logMetric,
  logMetrics,
  logParam,
  logParams,
  onPreempt,
  outputDir,
  saveCheckpoint,
} from './run.js';
export { readTable } from './table.js';
export { linearOnnx } from './onnx/linear.js';
