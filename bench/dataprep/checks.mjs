// The validation suites of the `dataprep` benchmark, written once and rendered twice: as a
// Cairn suite (YAML, docs/DATAPREP.md "Validation suites") and as JSON for
// bench/dataprep/pandas_job.py, which implements every check kind with the same semantics
// (evaluated / failed counts, `mostly`). `sql` checks carry their predicate twice: DuckDB SQL for
// Cairn and a pandas expression (`pandas`, evaluated with `df`, `pd` and `np` in scope, giving a
// boolean Series that is True where the row passes) for pandas, and a Polars expression
// (`polars`, with `pl` and `dt` = datetime in scope) for bench/dataprep/engines_job.py.
//
// Each check is { kind, ...params } with Cairn's parameter names; `name`, `severity` and `mostly`
// as in the YAML.

import { CATEGORIES, COUNTRIES } from './data.mjs';

/** 20 checks over the generated events table (bench/dataprep/data.mjs). `ref` names the version itself (drift reference). */
export function eventsSuite({ rows, ref }) {
  return {
    suite: 'events',
    checks: [
      { kind: 'row_count', min: Math.floor(rows * 0.9), max: Math.ceil(rows * 1.1) },
      {
        kind: 'schema',
        columns: {
          id: 'BIGINT',
          customer_id: 'BIGINT',
          event_time: 'TIMESTAMP',
          signup_date: 'DATE',
          category: 'VARCHAR',
          country: 'VARCHAR',
          amount: 'DOUBLE',
          score: 'DOUBLE',
          is_active: 'BOOLEAN',
          email: 'VARCHAR',
        },
        exact: true,
        nullable: { id: false, event_time: false },
      },
      { kind: 'not_null', columns: ['id', 'customer_id', 'event_time', 'signup_date', 'category', 'is_active'] },
      { kind: 'not_null', columns: ['email'], mostly: 0.95, name: 'email_mostly_present' },
      { kind: 'unique', columns: ['id'] },
      { kind: 'unique', columns: ['customer_id', 'event_time'], name: 'unique_customer_time' },
      { kind: 'range', column: 'amount', min: 0, max: 1000, mostly: 0.999 },
      { kind: 'range', column: 'score', min: -10, max: 10 },
      { kind: 'range', column: 'customer_id', min: 1, max: 200000 },
      { kind: 'allowed', column: 'category', values: CATEGORIES },
      { kind: 'allowed', column: 'country', values: [...COUNTRIES, null] },
      { kind: 'allowed', column: 'is_active', values: [true, false] },
      { kind: 'regex', column: 'email', pattern: '[a-z0-9._]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}' },
      { kind: 'regex', column: 'country', pattern: '[A-Z]{2}' },
      { kind: 'freshness', column: 'event_time', max_age: '5200w' },
      {
        kind: 'sql',
        name: 'signup_before_event',
        predicate: 'signup_date <= CAST(event_time AS DATE)',
        pandas: "df['signup_date'] <= df['event_time'].dt.normalize()",
        polars: "pl.col('signup_date') <= pl.col('event_time').dt.date()",
      },
      {
        kind: 'sql',
        name: 'category_length',
        predicate: 'length(category) BETWEEN 3 AND 20',
        pandas: "df['category'].str.len().between(3, 20)",
        polars: "pl.col('category').str.len_chars().is_between(3, 20)",
      },
      {
        kind: 'sql',
        name: 'events_in_2024_or_later',
        predicate: "event_time >= TIMESTAMP '2024-01-01 00:00:00'",
        pandas: "df['event_time'] >= pd.Timestamp('2024-01-01 00:00:00')",
        polars: "pl.col('event_time') >= dt.datetime(2024, 1, 1)",
      },
      { kind: 'pii', severity: 'warn' },
      { kind: 'drift', reference: ref, columns: ['amount', 'score', 'customer_id', 'category', 'country'] },
    ],
  };
}

/** 20 checks over flights-3m (date TIMESTAMP, delay BIGINT, distance BIGINT, origin, destination VARCHAR). */
export function flightsSuite({ rows, ref }) {
  const airport = '[A-Z]{3}';
  return {
    suite: 'flights',
    checks: [
      { kind: 'row_count', min: Math.floor(rows * 0.9), max: Math.ceil(rows * 1.1) },
      {
        kind: 'schema',
        columns: { date: 'TIMESTAMP', delay: 'BIGINT', distance: 'BIGINT', origin: 'VARCHAR', destination: 'VARCHAR' },
        exact: true,
        nullable: { date: false, origin: false, destination: false },
      },
      { kind: 'not_null', columns: ['date', 'delay', 'distance', 'origin', 'destination'] },
      { kind: 'not_null', columns: ['delay'], name: 'delay_present', mostly: 0.99 },
      {
        kind: 'unique',
        columns: ['date', 'origin', 'destination', 'delay', 'distance'],
        name: 'unique_flight',
        severity: 'warn',
      },
      { kind: 'unique', columns: ['date', 'origin', 'destination'], name: 'unique_route_minute', severity: 'warn' },
      { kind: 'range', column: 'delay', min: -1440, max: 2880 },
      { kind: 'range', column: 'delay', min: -60, max: 360, mostly: 0.99, name: 'delay_usual' },
      { kind: 'range', column: 'distance', min: 1, max: 6000 },
      { kind: 'regex', column: 'origin', pattern: airport },
      { kind: 'regex', column: 'destination', pattern: airport },
      {
        kind: 'allowed',
        column: 'origin',
        values: [
          'ATL',
          'ORD',
          'DFW',
          'LAX',
          'PHX',
          'IAH',
          'DEN',
          'LAS',
          'DTW',
          'MSP',
          'SLC',
          'STL',
          'CLT',
          'SFO',
          'EWR',
          'BOS',
          'SEA',
          'PHL',
          'LGA',
          'MCO',
        ],
        mostly: 0.3,
        name: 'origin_major_hubs',
        severity: 'warn',
      },
      { kind: 'freshness', column: 'date', max_age: '5200w' },
      {
        kind: 'sql',
        name: 'origin_differs_from_destination',
        predicate: 'origin <> destination',
        pandas: "df['origin'] != df['destination']",
        polars: "pl.col('origin') != pl.col('destination')",
      },
      {
        kind: 'sql',
        name: 'in_2001',
        predicate: "date >= TIMESTAMP '2001-01-01 00:00:00' AND date < TIMESTAMP '2002-01-01 00:00:00'",
        pandas: "(df['date'] >= pd.Timestamp('2001-01-01')) & (df['date'] < pd.Timestamp('2002-01-01'))",
        polars: "(pl.col('date') >= dt.datetime(2001, 1, 1)) & (pl.col('date') < dt.datetime(2002, 1, 1))",
      },
      {
        kind: 'sql',
        name: 'on_the_minute',
        predicate: 'second(date) = 0',
        pandas: "df['date'].dt.second == 0",
        polars: "pl.col('date').dt.second() == 0",
      },
      {
        kind: 'sql',
        name: 'long_flights_not_2h_early',
        predicate: 'distance < 1000 OR delay > -120',
        pandas: "(df['distance'] < 1000) | (df['delay'] > -120)",
        polars: "(pl.col('distance') < 1000) | (pl.col('delay') > -120)",
      },
      { kind: 'pii', severity: 'warn' },
      { kind: 'drift', reference: ref },
      {
        kind: 'drift',
        reference: ref,
        columns: ['delay', 'distance'],
        psi_max: 0.1,
        ks_max: 0.05,
        name: 'drift_numeric_strict',
      },
    ],
  };
}

/** A suite for the spam corpus: the `files:` PII check alone (warn: the corpus is full of addresses). */
export function piiFilesSuiteYaml() {
  return 'suite: pii-scan\nfiles:\n  - pii: { severity: warn }\n';
}

/** Cairn YAML: each check as `- <kind>: {json flow map}` (JSON is valid YAML flow). */
export function toYaml(suite) {
  const lines = [`suite: ${suite.suite}`, 'checks:'];
  for (const c of suite.checks) {
    const { kind, ...params } = c;
    delete params.pandas;
    delete params.polars;
    lines.push(`  - ${kind}: ${JSON.stringify(params)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** JSON for pandas_job.py. */
export function toJson(suite) {
  return `${JSON.stringify(suite, null, 2)}\n`;
}

/** The name Cairn gives a check (src/dataprep/spec-files/suite.ts): name, else kind(col), else kind. */
export function checkName(c) {
  if (c.name) return c.name;
  const col =
    typeof c.column === 'string' ? c.column : Array.isArray(c.columns) && c.columns.length === 1 ? c.columns[0] : null;
  return col ? `${c.kind}(${col})` : c.kind;
}
