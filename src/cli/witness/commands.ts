// `cairn witness …`: run a C2SP tlog-witness that cosigns other logs' checkpoints (docs/AUDIT.md §8).
import { spec, required, text } from '../table/define.js';

export const witnessServe = spec({
  path: 'witness serve',
  args: [],
  description: 'run a witness (C2SP tlog-witness): cosign checkpoints of the logs it knows, refuse forks',
  options: {
    listen: text('--listen <host:port>', 'where to listen', '127.0.0.1:7380'),
    dataDir: required('--data-dir <dir>', 'its key, the logs it witnesses and what it last cosigned of each'),
    name: text('--name <name>', 'its name on first start (a schema-less URL, e.g. witness.example.com/w1)'),
  },
});

export const witnessAddLog = spec({
  path: 'witness add-log',
  args: ['origin', 'vkey'],
  description: 'let the witness cosign a log: its origin and verifier key (from `cairn audit checkpoint`)',
  options: {
    dataDir: required('--data-dir <dir>', "the witness's data dir"),
  },
});
