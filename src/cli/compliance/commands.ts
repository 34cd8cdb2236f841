// The compliance commands' declarations (docs/COMPLIANCE.md): arguments and options, once (see ../table/define.ts).
import { flag, spec, text, required } from '../table/define.js';

export const dossier = spec({
  path: 'dossier',
  args: ['ref'],
  description:
    'write the EU AI Act Annex IV technical documentation of a model version (Markdown, HTML, JSON, inclusion proofs)',
  options: {
    out: required('--out <dir>', 'a new or empty folder'),
  },
});

export const dataHold = spec({
  path: 'data hold',
  args: ['ref'],
  description:
    'put a legal hold (or, with --retain-until, a retention period) on a version: erasure is refused while it lasts',
  options: {
    reason: required('--reason <text>', 'why (kept in the metadata; the log keeps its SHA-256)'),
    retainUntil: text(
      '--retain-until <date>',
      'a retention period ending at this date (YYYY-MM-DD, end of day UTC) or ISO time',
    ),
  },
});

export const dataReleaseHold = spec({
  path: 'data release-hold',
  args: ['ref'],
  description: "lift a version's legal holds (retention periods lapse instead)",
  options: {
    reason: required('--reason <text>', 'why the hold ends'),
    id: text('--id <hold>', 'only this hold (see cairn data holds)'),
  },
});

export const dataHolds = spec({
  path: 'data holds',
  args: ['ref?'],
  description: 'legal holds and retention periods, of one version or all (released and lapsed ones too)',
  options: {},
});

export const dataErase = spec({
  path: 'data erase',
  args: ['ref'],
  description:
    'erase the bytes of a version, or with --subject the files of one data subject in every version holding them (GDPR Art. 17); keep the record and a verifiable log, and list everything built from it',
  options: {
    reason: text('--reason <text>', 'why (kept in the metadata; the log keeps its SHA-256); required unless --dry-run'),
    subject: text(
      '--subject <id>',
      "erase only this subject's files, from <dataset>[@version] and every version derived from it",
    ),
    key: text(
      '--key <pattern>',
      "with --subject: the subject's files, a path pattern with {subject} (e.g. 'users/{subject}/**')",
    ),
    scan: flag(
      '--scan',
      'with --subject (an e-mail, phone, card number or IBAN): find it with the PII scanner in tables (rows removed) and texts (files removed)',
    ),
    column: text('--column <name>', "with --subject: remove the table rows whose <name> column is the subject's id"),
    localOnly: flag(
      '--local-only',
      "erase here only: leave the erased bytes on the workspace's remotes (a later run without it deletes them)",
    ),
    dryRun: flag('--dry-run', 'with --subject: show the plan (files, rows, versions, impact) and change nothing'),
  },
});
