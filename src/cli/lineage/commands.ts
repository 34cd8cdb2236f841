// The lineage commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag } from '../table/define.js';

export const lineage = spec({
  path: 'lineage',
  args: ['ref'],
  description: 'where a version (or model:name@alias) came from (--up) and what was built from it (--down)',
  options: {
    up: flag('--up', 'only ancestors'),
    down: flag('--down', 'only descendants'),
    mermaid: flag('--mermaid', 'print a Mermaid flowchart'),
    dot: flag('--dot', 'print Graphviz DOT'),
  },
});
