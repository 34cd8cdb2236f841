// Pipelines (docs/PIPELINES.md): `cairn repro [stage]` and `cairn dag`.
import { spec, flag, text } from '../table/define.js';

const file = text('-f, --file <path>', 'the pipeline file (a cairn.yaml with stages:)', 'cairn.yaml');

export const repro = spec({
  path: 'repro',
  args: ['stage?'],
  description: "run a pipeline's stale stages in dependency order (independent ones at once); pins them in cairn.lock",
  argHelp: { stage: 'only this stage and the stages it needs (default: all)' },
  options: {
    file,
    force: flag('--force', 'run every stage even when a finished run has its run key'),
    dryRun: flag('--dry-run', 'only say which stages are stale; run nothing'),
  },
});

export const dag = spec({
  path: 'dag',
  args: [],
  description: "draw a pipeline's stages and what they read",
  options: {
    file,
    mermaid: flag('--mermaid', 'as a Mermaid flowchart'),
    dot: flag('--dot', 'as Graphviz DOT'),
  },
});
