import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layersPlugin } from './eslint/layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/.data/**', 'bench/.work/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    // Tool configs must default-export by convention.
    files: ['*.config.ts', '*.config.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // Functions a newcomer can read in one screen: split a longer one into a pure plan and a
    // thin shell, or one function per kind (docs/ARCHITECTURE.md).
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.case.ts', 'src/test-support/**', 'src/meta/migrations/**'],
    rules: { 'max-lines-per-function': ['error', { max: 80, IIFEs: true }] },
  },
  {
    // The layers of docs/ARCHITECTURE.md: imports point down; domains are entered through index.ts.
    files: ['src/**/*.ts'],
    plugins: { layers: layersPlugin },
    rules: { 'layers/imports': 'error' },
  },
  {
    // Only the audit log may mint write transactions (see src/meta/write-tx.ts).
    files: ['src/**/*.ts'],
    ignores: ['src/audit/log/**', 'src/meta/write-tx-factory.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/write-tx-factory.js'],
              message: 'Only src/audit/log/ may create write transactions; use AuditLog.audited().',
            },
          ],
        },
      ],
    },
  },
  {
    // Domain code reads through ReadDb and writes only in the audited transaction (WriteTx): the
    // writable Kysely handle is unreachable from it. Bookkeeping that is not audited state uses
    // BookkeepingDb, allowed only in the files listed in the next block.
    files: ['src/{datasets,dataprep,transfer,compute,models,lineage,store-admin,sdk,demo,compliance}/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/write-tx-factory.js'],
              message: 'Only src/audit/log/ may create write transactions; use AuditLog.audited().',
            },
          ],
          paths: [
            {
              name: 'kysely',
              importNames: ['Kysely', 'Transaction'],
              message: 'Domain code reads through ReadDb (src/meta/read-db.ts) and writes in the audited transaction.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
        {
          selector: "ImportSpecifier[imported.name='BookkeepingDb']",
          message:
            'BookkeepingDb is for bookkeeping that is not audited state; list the file in eslint.config.js if it is.',
        },
      ],
    },
  },
  {
    // The bookkeeping writes: a run's backend id and queue reason, metric points and offsets,
    // webhook leases and retry times.
    files: [
      'src/compute/runs/deps.ts',
      'src/compute/metrics/ingest.ts',
      'src/compute/metrics/summary.ts',
      'src/compute/metrics/blocks.ts',
      'src/models/deployments/types.ts',
      'src/models/deployments/outbox.ts',
    ],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/write-tx-factory.js'],
              message: 'Only src/audit/log/ may create write transactions; use AuditLog.audited().',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    // CommonJS helpers loaded by child processes with require() (scripts/s3rver-multipart-shim.cjs).
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
