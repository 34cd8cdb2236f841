// Which way a metric is better, from its name alone: shared by `run compare` and the web UI's
// groups (no imports, so the UI bundle can take it without the database layer).

/** Metric names that are better low; everything else is better high (docs/RUNS.md "Compare"). */
const LOWER_IS_BETTER = new Set(
  'loss err error errors mse mae rmse mape nll perplexity ppl latency time seconds wer cer fpr fnr brier'.split(' '),
);

/** A word of the name, split at anything but letters and digits: val_loss, train/error_rate. */
export function betterByName(name: string): 'higher' | 'lower' {
  return name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((w) => LOWER_IS_BETTER.has(w))
    ? 'lower'
    : 'higher';
}
