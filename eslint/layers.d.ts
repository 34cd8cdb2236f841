// Types of eslint/layers.js for the tests that check docs/ARCHITECTURE.md against it.
export declare const LAYERS: Record<
  | 'core'
  | 'meta'
  | 'storage'
  | 'audit'
  | 'datasets'
  | 'dataprep'
  | 'transfer'
  | 'compute'
  | 'models'
  | 'lineage'
  | 'store-admin'
  | 'sdk'
  | 'demo'
  | 'app'
  | 'cli',
  number
>;
export declare const DOMAINS: Set<string>;
export declare function layerViolation(fromRel: string, toRel: string): string | null;
export declare const layersPlugin: unknown;
