"""The DuckDB-alone and Polars sides of the `dataprep-engines` benchmark (bench/suites/dataprep-engines.mjs).

The same work as `cairn data profile` + `cairn data validate --suite` + `cairn data split`, in one
process, with one engine (pip-installed into bench/.venv by the suite):

  read      CSV: DuckDB read_csv(sample_size = -1) into a table (typed from every row, as Cairn);
            Polars read_csv(try_parse_dates = True) with its default inference from the first 100
            rows (whole-file inference with dates is ~20x slower in Polars 1.44); Parquet as is
  profile   per column: count, nulls, exact distinct, min, max; numeric: mean, sample stddev,
            quantiles and a histogram on the 5 %-quantile edges; a frequency table (top 10, all
            values when <= 1,000 distinct), as bench/dataprep/pandas_job.py does
  validate  the suite's checks (JSON from bench/dataprep/checks.mjs) with Cairn's semantics
            (evaluated / failed, `mostly`, PII with Cairn's patterns and checksums, drift against
            the profile above), translated one to one into the engine's own expressions
  split     the documented hash (docs/DATAPREP.md "Split assignment"); DuckDB computes SHA-256 in
            SQL; Polars has no SHA-256, so the key texts are built in Polars and hashed with
            hashlib (the only Python loop). Key overlap between splits; each split to Parquet.

Prints one JSON object (to --result) with phase timings, check results, split sizes, ru_maxrss.

usage: engines_job.py --engine duckdb|polars --input F --format csv|parquet --suite S.json --out DIR
                      [--key a,b] [--ratios train=0.8,test=0.2] [--seed 0] [--now ISO] --result R.json
"""
import argparse
import datetime as dt
import hashlib
import json
import math
import os
import re
import resource
import sys
import time

QUANTILE_AT = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
EDGE_AT = [round((i + 1) * 0.05, 2) for i in range(19)]
TOP = 10
FREQUENCY_CAP = 1000
PSI_EPSILON = 1e-4

# src/dataprep/pii/patterns.ts, verbatim (RE2, Rust regex and Python agree on these).
PII = {
    'email': (r'[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}', None),
    'phone': (r'(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4}|\(?[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4})', None),
    'card': (r'[0-9](?:[ -]?[0-9]){12,18}', 'luhn'),
    'iban': (r'[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}', 'iban'),
}
ALL_KINDS = ['email', 'phone', 'card', 'iban']
IBAN_SHAPE = re.compile(r'^[A-Z]{2}[0-9]{2}[A-Z0-9]+$')


def luhn_ok(s):
    d = [ord(c) - 48 for c in s if '0' <= c <= '9']
    if len(d) < 13 or len(d) > 19:
        return False
    total = 0
    for i, x in enumerate(reversed(d)):
        if i % 2 == 1:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


def iban_ok(s):
    s = s.replace(' ', '').upper()
    if len(s) < 15 or len(s) > 34 or not IBAN_SHAPE.match(s):
        return False
    rem = 0
    for ch in s[4:] + s[:4]:
        v = ord(ch) - 55 if ch >= 'A' else ord(ch) - 48
        rem = (rem * 100 + v) % 97 if v >= 10 else (rem * 10 + v) % 97
    return rem == 1


CONFIRM = {'luhn': luhn_ok, 'iban': iban_ok}


def check_name(c):
    if c.get('name'):
        return c['name']
    col = c.get('column') if isinstance(c.get('column'), str) else (c['columns'][0] if isinstance(c.get('columns'), list) and len(c['columns']) == 1 else None)
    return f"{c['kind']}({col})" if col else c['kind']


def parse_duration(text):
    m = re.fullmatch(r'(\d+(?:\.\d+)?)\s*(s|m|h|d|w)', text.strip())
    return dt.timedelta(seconds=float(m.group(1)) * {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}[m.group(2)])


def proportions(counts):
    total = sum(counts)
    return [x / total if total > 0 else 0 for x in counts]


def psi(ref, cur):
    out = 0.0
    for a, b in zip(proportions(ref), proportions(cur)):
        a, b = max(a, PSI_EPSILON), max(b, PSI_EPSILON)
        out += (b - a) * math.log(b / a)
    return out


def ks(ref, cur):
    a = b = d = 0.0
    for x, y in zip(proportions(ref), proportions(cur)):
        a += x
        b += y
        d = max(d, abs(a - b))
    return d


def text_of(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, dt.datetime):
        return v.strftime('%Y-%m-%d %H:%M:%S')
    return str(v)


def edges_of(lo, hi, qs):
    return [lo] + sorted(set(q for q in qs if q is not None and lo < q < hi)) + [hi]


def drift_verdict(c, ref, cur_counts, moments=None):
    """PSI / KS of one column against the reference profile entry."""
    psi_max, ks_max = c.get('psi_max', 0.2), c.get('ks_max', 0.1)
    if 'histogram' in ref:
        p, k = psi(ref['histogram']['counts'], cur_counts), ks(ref['histogram']['counts'], cur_counts)
        return p <= psi_max and k <= ks_max, {'psi': p, 'ks': k}
    p = psi(ref['freq_counts'], cur_counts)
    return p <= psi_max, {'psi': p}


def finish(c, ev, failed, t0, details=None):
    mostly = c.get('mostly', 1)
    passed = ev == 0 or failed / ev <= 1 - mostly + 1e-12
    return {'name': check_name(c), 'kind': c['kind'], 'severity': c.get('severity', 'error'), 'evaluated': int(ev), 'failed': int(failed),
            'status': 'passed' if passed else 'failed', 'seconds': time.perf_counter() - t0, **({'details': details} if details else {})}


def float_text(x):
    if math.isinf(x):
        return 'inf' if x > 0 else '-inf'
    r = repr(x)
    if 'e' in r:
        m, e = r.split('e')
        return f"{m}e{e[0]}{e[1:].zfill(2)}" if e[0] in '+-' else f'{m}e+{e.zfill(2)}'
    return r


def ratio_list(text):
    out, acc = [], 0.0
    for part in text.split(','):
        n, r = part.split('=')
        acc += float(r)
        out.append((n, math.ceil(acc * 2 ** 52)))
    return out


# ------------------------------------------------------------------------------------------------
# DuckDB

def q(name):
    return '"' + name.replace('"', '""') + '"'


def lit(v):
    return "'" + str(v).replace("'", "''") + "'"


class Duck:
    def __init__(self, a):
        import duckdb
        self.version = duckdb.__version__
        self.con = duckdb.connect(':memory:', config={'threads': os.cpu_count(), 'preserve_insertion_order': False,
                                                     'memory_limit': f'{max(1, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4 // 1024 ** 3)}GB',
                                                     'temp_directory': os.path.join(a.out, '.duckdb-tmp')})

    def one(self, sql):
        return self.con.execute(sql).fetchone()

    def read(self, path, fmt):
        if fmt == 'parquet':
            self.con.execute(f'CREATE VIEW data AS SELECT * FROM read_parquet({lit(path)})')
        else:
            self.con.execute(f'CREATE TABLE data AS SELECT * FROM read_csv({lit(path)}, header = true, sample_size = -1)')
        self.types = {r[0]: r[1] for r in self.con.execute('DESCRIBE data').fetchall()}
        self.rows = self.one('SELECT count(*) FROM data')[0]

    def kind(self, t):
        if t == 'BOOLEAN':
            return 'boolean'
        if t in ('BIGINT', 'INTEGER', 'DOUBLE', 'FLOAT', 'SMALLINT', 'TINYINT', 'HUGEINT') or t.startswith('DECIMAL'):
            return 'numeric'
        if t.startswith('TIMESTAMP') or t == 'DATE':
            return 'temporal'
        return 'text'

    def profile(self):
        cols, exprs = list(self.types), []
        for i, c in enumerate(cols):
            exprs += [f'count({q(c)})', f'count(DISTINCT {q(c)})', f'min({q(c)})', f'max({q(c)})']
            if self.kind(self.types[c]) == 'numeric':
                exprs += [f'avg({q(c)})', f'stddev_samp({q(c)})', f'quantile_cont({q(c)}, {sorted(set(QUANTILE_AT + EDGE_AT))})']
            else:
                exprs += ['NULL', 'NULL', 'NULL']
        row = self.one(f'SELECT {", ".join(exprs)} FROM data')
        prof = []
        at = sorted(set(QUANTILE_AT + EDGE_AT))
        for i, c in enumerate(cols):
            n, d, lo, hi, mean, sd, qs = row[i * 7:(i + 1) * 7]
            p = {'name': c, 'kind': self.kind(self.types[c]), 'count': n, 'nulls': self.rows - n, 'distinct': d, 'min': lo, 'max': hi, 'mean': mean, 'stddev': sd}
            if qs is not None and n > 0:
                edges = edges_of(float(lo), float(hi), [qs[at.index(x)] for x in EDGE_AT])
                p['histogram'] = {'edges': edges, 'counts': self.bins(c, edges)}
            if d <= FREQUENCY_CAP and p['kind'] != 'temporal':
                vc = self.con.execute(f'SELECT CAST({q(c)} AS VARCHAR), count(*) FROM data WHERE {q(c)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC').fetchall()
                p['frequencies'] = dict(vc)
            elif p['kind'] != 'temporal':
                p['top'] = self.con.execute(f'SELECT {q(c)}, count(*) FROM data WHERE {q(c)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT {TOP}').fetchall()
            prof.append(p)
        return {'rows': self.rows, 'columns': prof}

    def bins(self, c, edges):
        inner = edges[1:-1]
        if not inner:
            return [self.one(f'SELECT count({q(c)}) FROM data')[0]]
        arms = ' '.join(f'WHEN {q(c)} <= {repr(float(e))} THEN {i}' for i, e in enumerate(inner))
        got = dict(self.con.execute(f'SELECT CASE {arms} ELSE {len(inner)} END, count(*) FROM data WHERE {q(c)} IS NOT NULL AND NOT isnan({q(c)}::DOUBLE) GROUP BY 1').fetchall())
        return [got.get(i, 0) for i in range(len(inner) + 1)]

    def check(self, c, prof, now):
        k, t0, rows = c['kind'], time.perf_counter(), self.rows
        if k == 'row_count':
            return finish(c, 1, int(('min' in c and rows < c['min']) or ('max' in c and rows > c['max'])), t0)
        if k == 'schema':
            examined, bad = set(c['columns']), {x for x, want in c['columns'].items() if self.types.get(x) != want.upper()}
            if c.get('exact'):
                examined |= set(self.types)
                bad |= {x for x in self.types if x not in c['columns']}
            for x, nullable in (c.get('nullable') or {}).items():
                examined.add(x)
                if x not in self.types or (not nullable and self.one(f'SELECT count(*) FROM data WHERE {q(x)} IS NULL')[0] > 0):
                    bad.add(x)
            return finish(c, len(examined), len(bad), t0)
        if k == 'not_null':
            return finish(c, rows, self.one(f'SELECT count(*) FROM data WHERE {" OR ".join(f"{q(x)} IS NULL" for x in c["columns"])}')[0], t0)
        if k == 'unique':
            cs = ', '.join(q(x) for x in c['columns'])
            nn = ' AND '.join(f'{q(x)} IS NOT NULL' for x in c['columns'])
            ev, failed = self.one(f'SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM (SELECT count(*) n FROM data WHERE {nn} GROUP BY {cs})')
            return finish(c, ev, failed, t0)
        if k == 'range':
            col, conds = q(c['column']), []
            if 'min' in c:
                conds.append(f'{col} < {c["min"]}')
            if 'max' in c:
                conds.append(f'{col} > {c["max"]}')
            return finish(c, *self.one(f'SELECT count({col}), count(*) FILTER (WHERE {" OR ".join(conds)}) FROM data'), t0)
        if k == 'allowed':
            col, vals = q(c['column']), [v for v in c['values'] if v is not None]
            listed = ', '.join(('true' if v else 'false') if isinstance(v, bool) else lit(v) if isinstance(v, str) else str(v) for v in vals)
            null_bad = '' if None in c['values'] else f' OR {col} IS NULL'
            return finish(c, rows, self.one(f'SELECT count(*) FILTER (WHERE ({col} IS NOT NULL AND {col} NOT IN ({listed})){null_bad}) FROM data')[0], t0)
        if k == 'regex':
            col = q(c['column'])
            return finish(c, *self.one(f'SELECT count({col}), count(*) FILTER (WHERE NOT regexp_full_match(CAST({col} AS VARCHAR), {lit(c["pattern"])})) FROM data'), t0)
        if k == 'freshness':
            newest = self.one(f'SELECT max({q(c["column"])}) FROM data')[0]
            return finish(c, 1, int(newest is None or newest < now - parse_duration(c['max_age'])), t0)
        if k == 'sql':
            return finish(c, rows, self.one(f'SELECT count(*) FILTER (WHERE NOT coalesce({c["predicate"]}, false)) FROM data')[0], t0)
        if k == 'pii':
            return self.pii(c, t0)
        if k == 'drift':
            return self.drift(c, prof, t0)
        raise SystemExit(f'unknown check kind {k}')

    def pii(self, c, t0):
        """One pass: per kind and column the matches of the pattern; checksum kinds confirm candidates in Python."""
        cols = c.get('columns') or [x for x, t in self.types.items() if t == 'VARCHAR']
        kinds = c.get('kinds') or ALL_KINDS
        flags, details = [], {}
        for kd in kinds:
            pattern, confirm = PII[kd]
            if confirm is None:
                flags.append((kd, ' OR '.join(f'regexp_matches({q(x)}, {lit(pattern)})' for x in cols)))
        row = self.one(f'SELECT count(*) FILTER (WHERE {" OR ".join(f"({e})" for _, e in flags) or "false"}), '
                       + ', '.join(f'count(*) FILTER (WHERE {e})' for _, e in flags) + ' FROM data')
        hit_any = row[0]
        for i, (kd, _) in enumerate(flags):
            details[kd] = {'rows': row[i + 1]}
        extra = 0
        for kd in kinds:
            pattern, confirm = PII[kd]
            if confirm is None:
                continue
            fn = CONFIRM[confirm]
            others = ' OR '.join(f'({e})' for _, e in flags) or 'false'
            cand = self.con.execute(f'SELECT ({others}) AS other, list_concat({", ".join(f"coalesce(regexp_extract_all({q(x)}, {lit(pattern)}), [])" for x in cols)}) AS m FROM data WHERE {" OR ".join(f"regexp_matches({q(x)}, {lit(pattern)})" for x in cols)}').fetchall()
            hits = [(o, any(fn(m) for m in ms)) for o, ms in cand]
            details[kd] = {'rows': sum(1 for _, h in hits if h)}
            extra += sum(1 for o, h in hits if h and not o)
        return finish(c, self.rows, hit_any + extra, t0, details)

    def drift(self, c, prof, t0):
        ref_cols = {p['name']: p for p in prof['columns']}
        listed = c.get('columns') or [n for n, p in ref_cols.items() if p['kind'] != 'temporal' and ('histogram' in p or 'frequencies' in p)]
        drifted, details = 0, {}
        for col in listed:
            ref = ref_cols[col]
            if 'histogram' in ref:
                cur = self.bins(col, ref['histogram']['edges'])
            else:
                known = list(ref['frequencies'])
                got = dict(self.con.execute(f'SELECT CAST({q(col)} AS VARCHAR), count(*) FROM data WHERE {q(col)} IS NOT NULL GROUP BY 1').fetchall())
                cur = [got.get(v, 0) for v in known] + [sum(got.values()) - sum(got.get(v, 0) for v in known)]
                ref = {**ref, 'freq_counts': [ref['frequencies'][v] for v in known] + [0]}
            ok, details[col] = drift_verdict(c, ref, cur)
            drifted += 0 if ok else 1
        return finish(c, len(listed), drifted, t0, details)

    def split(self, key, ratios, seed, out):
        parts = ', '.join(f"CASE WHEN {q(x)} IS NULL THEN chr(31) || '0' ELSE chr(31) || '1' END, CAST({q(x)} AS VARCHAR)" for x in key)
        h = f"('0x' || substr(sha256(concat('cairn-split-v1' || chr(31) || '{seed}', {parts})), 1, 13))::BIGINT"
        arms = ' '.join(f'WHEN __v < {b} THEN {i}' for i, (_, b) in enumerate(ratios[:-1]))
        self.con.execute(f'CREATE TEMP TABLE s AS SELECT *, CASE {arms} ELSE {len(ratios) - 1} END AS __split FROM (SELECT *, {h} AS __v FROM data)')
        keys = ', '.join(q(x) for x in key)
        overlap = self.one(f'SELECT count(*) FROM (SELECT {keys} FROM s GROUP BY ALL HAVING count(DISTINCT __split) > 1)')[0]
        rows = {}
        cols = ', '.join(q(x) for x in self.types)
        for i, (name, _) in enumerate(ratios):
            path = os.path.join(out, f'{name}.parquet')
            self.con.execute(f'COPY (SELECT {cols} FROM s WHERE __split = {i}) TO {lit(path)} (FORMAT parquet)')
            rows[name] = self.one(f'SELECT count(*) FROM s WHERE __split = {i}')[0]
        return rows, overlap


# ------------------------------------------------------------------------------------------------
# Polars

POLARS_TYPES = {'Int64': 'BIGINT', 'Int32': 'INTEGER', 'Float64': 'DOUBLE', 'Boolean': 'BOOLEAN', 'Date': 'DATE', 'String': 'VARCHAR'}


class Polars:
    def __init__(self, a):
        import polars as pl
        self.pl = pl
        self.version = pl.__version__

    def read(self, path, fmt):
        pl = self.pl
        # Polars' default inference (the first 100 rows): with infer_schema_length=None and
        # try_parse_dates its reader is ~20x slower (7.4 s for 250,000 rows here).
        self.df = pl.read_parquet(path) if fmt == 'parquet' else pl.read_csv(path, try_parse_dates=True)
        self.types = {c: ('TIMESTAMP' if str(t).startswith('Datetime') else POLARS_TYPES.get(str(t), str(t))) for c, t in self.df.schema.items()}
        self.rows = self.df.height

    def kind(self, t):
        return Duck.kind(self, t)

    def profile(self):
        pl, df = self.pl, self.df
        at = sorted(set(QUANTILE_AT + EDGE_AT))
        exprs = []
        for c in df.columns:
            col = pl.col(c)
            exprs += [col.count().alias(f'{c}|n'), col.drop_nulls().n_unique().alias(f'{c}|d'), col.min().alias(f'{c}|lo'), col.max().alias(f'{c}|hi')]
            if self.kind(self.types[c]) == 'numeric':
                exprs += [col.mean().alias(f'{c}|mean'), col.std().alias(f'{c}|sd')]
                exprs += [col.quantile(x, 'linear').alias(f'{c}|q{x}') for x in at]
        r = df.select(exprs).row(0, named=True)
        prof = []
        for c in df.columns:
            p = {'name': c, 'kind': self.kind(self.types[c]), 'count': r[f'{c}|n'], 'nulls': self.rows - r[f'{c}|n'], 'distinct': r[f'{c}|d'], 'min': r[f'{c}|lo'], 'max': r[f'{c}|hi']}
            if p['kind'] == 'numeric' and p['count'] > 0:
                p['mean'], p['stddev'] = r[f'{c}|mean'], r[f'{c}|sd']
                edges = edges_of(float(p['min']), float(p['max']), [r[f'{c}|q{x}'] for x in EDGE_AT])
                p['histogram'] = {'edges': edges, 'counts': self.bins(c, edges)}
            if p['kind'] != 'temporal':
                vc = df.get_column(c).drop_nulls().value_counts(sort=True)
                if p['distinct'] <= FREQUENCY_CAP:
                    p['frequencies'] = {text_of(v): n for v, n in vc.iter_rows()}
                else:
                    p['top'] = vc.head(TOP).rows()
            prof.append(p)
        return {'rows': self.rows, 'columns': prof}

    def bins(self, c, edges):
        pl = self.pl
        inner = edges[1:-1]
        s = self.df.get_column(c).drop_nulls().cast(pl.Float64).drop_nans()
        if not inner:
            return [s.len()]
        b = pl.Series(inner).cast(pl.Float64)
        # bin i holds values in (edges[i], edges[i+1]]: the count of inner edges strictly below the value
        got = s.to_frame('x').select(pl.col('x').cut(b.to_list(), left_closed=False, labels=[str(i) for i in range(len(inner) + 1)]).value_counts()).unnest('x')
        m = {int(k): n for k, n in got.iter_rows()}
        return [m.get(i, 0) for i in range(len(inner) + 1)]

    def expr(self, c):
        """The sql checks' predicates as Polars expressions (checks.mjs carries them as `polars`)."""
        pl = self.pl
        return eval(c['polars'], {'pl': pl, 'dt': dt})  # noqa: S307 - our own suite file

    def check(self, c, prof, now):
        pl, df = self.pl, self.df
        k, t0, rows = c['kind'], time.perf_counter(), self.rows
        if k == 'row_count':
            return finish(c, 1, int(('min' in c and rows < c['min']) or ('max' in c and rows > c['max'])), t0)
        if k == 'schema':
            examined, bad = set(c['columns']), {x for x, want in c['columns'].items() if self.types.get(x) != want.upper()}
            if c.get('exact'):
                examined |= set(self.types)
                bad |= {x for x in self.types if x not in c['columns']}
            for x, nullable in (c.get('nullable') or {}).items():
                examined.add(x)
                if x not in self.types or (not nullable and df.get_column(x).null_count() > 0):
                    bad.add(x)
            return finish(c, len(examined), len(bad), t0)
        if k == 'not_null':
            return finish(c, rows, df.select(pl.any_horizontal([pl.col(x).is_null() for x in c['columns']]).sum()).item(), t0)
        if k == 'unique':
            sub = df.select(c['columns']).drop_nulls()
            return finish(c, sub.height, sub.is_duplicated().sum(), t0)
        if k == 'range':
            col, conds = pl.col(c['column']), []
            if 'min' in c:
                conds.append(col < c['min'])
            if 'max' in c:
                conds.append(col > c['max'])
            ev, failed = df.select(col.count().alias('ev'), pl.any_horizontal(conds).fill_null(False).sum().alias('bad')).row(0)
            return finish(c, ev, failed, t0)
        if k == 'allowed':
            col, vals = pl.col(c['column']), [v for v in c['values'] if v is not None]
            bad = col.is_not_null() & ~col.is_in(vals)
            if None not in c['values']:
                bad = bad | col.is_null()
            return finish(c, rows, df.select(bad.sum()).item(), t0)
        if k == 'regex':
            col = pl.col(c['column']).cast(pl.String)
            ev, failed = df.select(col.count().alias('ev'), (~col.str.contains(f'^(?:{c["pattern"]})$')).sum().alias('bad')).row(0)
            return finish(c, ev, failed, t0)
        if k == 'freshness':
            newest = df.get_column(c['column']).max()
            return finish(c, 1, int(newest is None or newest < now - parse_duration(c['max_age'])), t0)
        if k == 'sql':
            return finish(c, rows, df.select((~self.expr(c).fill_null(False)).sum()).item(), t0)
        if k == 'pii':
            return self.pii(c, t0)
        if k == 'drift':
            return self.drift(c, prof, t0)
        raise SystemExit(f'unknown check kind {k}')

    def pii(self, c, t0):
        pl, df = self.pl, self.df
        cols = c.get('columns') or [x for x, t in self.types.items() if t == 'VARCHAR']
        kinds = c.get('kinds') or ALL_KINDS
        flags, details = {}, {}
        for kd in kinds:
            pattern, confirm = PII[kd]
            contains = pl.any_horizontal([pl.col(x).str.contains(pattern).fill_null(False) for x in cols])
            if confirm is None:
                flags[kd] = contains
                continue
            fn = CONFIRM[confirm]
            found = pl.concat_list([pl.col(x).str.extract_all(pattern).fill_null(pl.lit([], dtype=pl.List(pl.String))) for x in cols])
            # Confirm only the candidate rows in Python (a handful): their row numbers become a mask.
            cand = df.with_row_index('__i').filter(contains).select('__i', found.alias('m'))
            ok_rows = [i for i, ms in cand.iter_rows() if any(fn(m) for m in ms)]
            flags[kd] = pl.int_range(pl.len()).is_in(ok_rows)
        got = df.select([pl.any_horizontal(list(flags.values())).sum().alias('__any')] + [e.sum().alias(k) for k, e in flags.items()]).row(0, named=True)
        for kd in kinds:
            details[kd] = {'rows': got[kd]}
        return finish(c, self.rows, got['__any'], t0, details)

    def drift(self, c, prof, t0):
        pl = self.pl
        ref_cols = {p['name']: p for p in prof['columns']}
        listed = c.get('columns') or [n for n, p in ref_cols.items() if p['kind'] != 'temporal' and ('histogram' in p or 'frequencies' in p)]
        drifted, details = 0, {}
        for col in listed:
            ref = ref_cols[col]
            if 'histogram' in ref:
                cur = self.bins(col, ref['histogram']['edges'])
            else:
                known = list(ref['frequencies'])
                vc = {text_of(v): n for v, n in self.df.get_column(col).drop_nulls().value_counts().iter_rows()}
                cur = [vc.get(v, 0) for v in known] + [sum(vc.values()) - sum(vc.get(v, 0) for v in known)]
                ref = {**ref, 'freq_counts': [ref['frequencies'][v] for v in known] + [0]}
            ok, details[col] = drift_verdict(c, ref, cur)
            drifted += 0 if ok else 1
        return finish(c, len(listed), drifted, t0, details)

    def key_text(self, key):
        pl = self.pl
        parts = []
        for x in key:
            t, col = self.types[x], pl.col(x)
            if t == 'BOOLEAN':
                s = pl.when(col).then(pl.lit('true')).otherwise(pl.lit('false'))
            elif t == 'DOUBLE':
                s = col.map_elements(float_text, return_dtype=pl.String)
            elif t == 'DATE':
                s = col.dt.strftime('%Y-%m-%d')
            elif t == 'TIMESTAMP':
                # DuckDB drops a zero fraction and trailing zeros of a fraction
                s = pl.when(col.dt.microsecond() == 0).then(col.dt.strftime('%Y-%m-%d %H:%M:%S')).otherwise(col.dt.strftime('%Y-%m-%d %H:%M:%S.%6f').str.strip_chars_end('0'))
            else:
                s = col.cast(pl.String)
            parts.append(pl.when(col.is_null()).then(pl.lit('0')).otherwise(pl.lit('1') + s))
        return pl.concat_str(parts, separator='\x1f')

    def split(self, key, ratios, seed, out):
        pl, df = self.pl, self.df
        keys = df.select(self.key_text(key).alias('k')).get_column('k')
        prefix = f'cairn-split-v1\x1f{seed}\x1f'.encode()
        sha = hashlib.sha256
        v = pl.Series('__v', [int(sha(prefix + k.encode()).hexdigest()[:13], 16) for k in keys], dtype=pl.Int64)
        idx = pl.when(pl.col('__v') < ratios[0][1]).then(0)
        for i, (_, b) in enumerate(ratios[1:-1], start=1):
            idx = idx.when(pl.col('__v') < b).then(i)
        idx = idx.otherwise(len(ratios) - 1) if len(ratios) > 1 else pl.lit(0)
        sp = pl.DataFrame({'k': keys, '__v': v}).select('k', idx.alias('s'))
        overlap = sp.group_by('k').agg(pl.col('s').n_unique().alias('n')).filter(pl.col('n') > 1).height
        rows = {}
        s = sp.get_column('s')
        for i, (name, _) in enumerate(ratios):
            part = df.filter(s == i)
            part.write_parquet(os.path.join(out, f'{name}.parquet'))
            rows[name] = part.height
        return rows, overlap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--engine', choices=['duckdb', 'polars'], required=True)
    ap.add_argument('--input', required=True)
    ap.add_argument('--format', choices=['csv', 'parquet'], default='csv')
    ap.add_argument('--suite', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--key', default='')
    ap.add_argument('--ratios', default='train=0.8,test=0.2')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--now', default=None)
    ap.add_argument('--result', required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    now = dt.datetime.fromisoformat(a.now.replace('Z', '')) if a.now else dt.datetime.utcnow()
    with open(a.suite) as f:
        suite = json.load(f)
    t, t0 = {}, time.perf_counter()
    eng = Duck(a) if a.engine == 'duckdb' else Polars(a)
    t['import'] = time.perf_counter() - t0
    t1 = time.perf_counter()
    eng.read(a.input, a.format)
    t['read'] = time.perf_counter() - t1
    t1 = time.perf_counter()
    prof = eng.profile()
    t['profile'] = time.perf_counter() - t1
    t1 = time.perf_counter()
    checks = [eng.check(c, prof, now) for c in suite['checks']]
    t['validate'] = time.perf_counter() - t1
    t1 = time.perf_counter()
    key = [k for k in a.key.split(',') if k] or list(eng.types)
    rows, overlap = eng.split(key, ratio_list(a.ratios), a.seed, a.out)
    t['split'] = time.perf_counter() - t1
    t['total'] = time.perf_counter() - t0
    result = {'engine': a.engine, 'version': eng.version, 'python': sys.version.split()[0], 'rows': eng.rows, 'types': eng.types, 'seconds': t,
              'profile': {'rows': prof['rows'], 'columns': [{k: p.get(k) for k in ('name', 'kind', 'count', 'nulls', 'distinct')} for p in prof['columns']]},
              'checks': checks, 'split': {'key': key, 'rows': rows, 'keyOverlap': overlap},
              'maxrssKiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    with open(a.result, 'w') as f:
        f.write(json.dumps(result, default=str) + '\n')


if __name__ == '__main__':
    main()
