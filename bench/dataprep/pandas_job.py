#!/usr/bin/python3
"""The pandas side of the `dataprep` benchmark (bench/suites/dataprep.mjs).

Does the same work as `cairn data profile` + `cairn data validate --suite` + `cairn data split`,
in one process, with pandas (Debian python3-pandas) and the standard library only:

  read      pd.read_csv (types inferred over the whole file, as pandas does; the date and time
            columns named by --parse-dates are parsed), or pd.read_pickle (--format pickle: the
            flights, which pandas cannot read as Parquet here: no pyarrow / fastparquet)
  profile   per column: count, nulls, exact distinct, min, max; numeric: mean, sample stddev,
            quantiles (1 5 10 ... 95 99 %) and a histogram on the 5 %-quantile edges; numeric and
            temporal: quantiles; top 10 values and (<= 1,000 distinct) the whole frequency table,
            except for near-unique float and time columns (as Cairn's profile)
  validate  the suite's checks (JSON from bench/dataprep/checks.mjs), with Cairn's semantics:
            evaluated / failed per check, `mostly`, PII with the same patterns and checksums
            (Luhn, IBAN mod 97), drift (PSI / KS / Cohen's d, TVD) against the profile above
  split     the documented hash of docs/DATAPREP.md "Split assignment": SHA-256 of
            "cairn-split-v1" US seed US key-text, the first 13 hex digits / 16^13, first split
            whose cumulative ratio exceeds it; key text = per key column "1" + the value as DuckDB
            writes it ("0" for NULL), joined by U+001F. Leakage: key texts present in both splits.
  write     each split with DataFrame.to_pickle (the fastest writer available: no Parquet engine)

Prints nothing but one JSON object (to --result or stdout) with the phase timings, the check
results, the split sizes and ru_maxrss.

usage: pandas_job.py --input F --format csv|pickle --suite S.json --out DIR
                     [--key a,b] [--parse-dates a,b] [--date-columns a] [--ratios train=0.8,test=0.2]
                     [--seed 0] [--now ISO] [--result R.json]
"""
import argparse
import hashlib
import json
import math
import os
import re
import resource
import sys
import time

import numpy as np
import pandas as pd

QUANTILE_AT = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
EDGE_AT = [round((i + 1) * 0.05, 2) for i in range(19)]
SKETCH_AT = sorted(set(QUANTILE_AT + EDGE_AT))
TOP = 10
FREQUENCY_CAP = 1000
EXACT_DISTINCT_BELOW = 10000
NEAR_UNIQUE = 0.9
PSI_EPSILON = 1e-4

# src/dataprep/pii/patterns.ts, verbatim (Python's re and RE2 agree on these: leftmost-first,
# no look-around, no back-references).
PII = {
    'email': (r'[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}', None),
    'phone': (r'(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4}|\(?[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4})', None),
    'card': (r'[0-9](?:[ -]?[0-9]){12,18}', 'luhn'),
    'iban': (r'[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}', 'iban'),
}
ALL_KINDS = ['email', 'phone', 'card', 'iban']


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


IBAN_SHAPE = re.compile(r'^[A-Z]{2}[0-9]{2}[A-Z0-9]+$')


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


# ------------------------------------------------------------------------------------------------
# types

def kind_of(s):
    if pd.api.types.is_bool_dtype(s):
        return 'boolean'
    if pd.api.types.is_numeric_dtype(s):
        return 'numeric'
    if pd.api.types.is_datetime64_any_dtype(s):
        return 'temporal'
    return 'text'


def duck_type(s, name, date_columns):
    """The DuckDB type a column's values have (the schema check's view)."""
    if pd.api.types.is_bool_dtype(s):
        return 'BOOLEAN'
    if pd.api.types.is_integer_dtype(s):
        return 'BIGINT'
    if pd.api.types.is_float_dtype(s):
        return 'DOUBLE'
    if pd.api.types.is_datetime64_any_dtype(s):
        if name in date_columns:
            v = s.dropna()
            return 'DATE' if bool((v == v.dt.normalize()).all()) else 'TIMESTAMP'
        return 'TIMESTAMP'
    return 'VARCHAR'


def scalar(v):
    """A JSON value for a numpy / pandas scalar."""
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v))
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v if isinstance(v, (int, str)) else str(v)


# ------------------------------------------------------------------------------------------------
# profile

def profile(df):
    rows = len(df)
    cols = []
    for name in df.columns:
        s = df[name]
        k = kind_of(s)
        v = s.dropna()
        p = {'name': name, 'dtype': str(s.dtype), 'kind': k, 'count': int(len(v)), 'nulls': int(rows - len(v)), 'top': []}
        if len(v) == 0:
            p['distinct'] = 0
            cols.append(p)
            continue
        p['min'] = scalar(v.min())
        p['max'] = scalar(v.max())
        if k == 'numeric':
            x = v.astype('float64')
            p['mean'] = scalar(x.mean())
            p['stddev'] = scalar(x.std(ddof=1))
            q = x.quantile(SKETCH_AT).to_numpy()
            p['quantiles'] = {f'p{int(round(a * 100)):02d}': scalar(q[SKETCH_AT.index(a)]) for a in QUANTILE_AT}
            lo, hi = float(x.min()), float(x.max())
            inner = sorted(set(float(q[SKETCH_AT.index(a)]) for a in EDGE_AT if lo < float(q[SKETCH_AT.index(a)]) < hi))
            edges = [lo] + inner + [hi]
            p['histogram'] = {'edges': edges, 'counts': bin_counts(x.to_numpy(), edges)}
        elif k == 'temporal':
            q = v.quantile(QUANTILE_AT)
            p['quantiles'] = {f'p{int(round(a * 100)):02d}': str(q.iloc[i]) for i, a in enumerate(QUANTILE_AT)}
        continuous = (k == 'numeric' and not pd.api.types.is_integer_dtype(s)) or k == 'temporal'
        if continuous:
            # Near-unique continuous columns: an exact distinct count, but no value table (as Cairn).
            d = int(v.nunique())
            p['distinct'] = d
            if d >= NEAR_UNIQUE * len(v) and d >= EXACT_DISTINCT_BELOW:
                cols.append(p)
                continue
        vc = v.value_counts(sort=True)
        p['distinct'] = int(len(vc))
        near_unique = len(vc) >= NEAR_UNIQUE * len(v) and len(vc) >= EXACT_DISTINCT_BELOW
        if not near_unique:
            p['top'] = [{'value': scalar(i), 'count': int(c)} for i, c in vc.head(TOP).items()]
        if len(vc) <= FREQUENCY_CAP:
            p['frequencies'] = {text_of(i): int(c) for i, c in vc.items()}
        cols.append(p)
    return {'rows': rows, 'columns': cols}


def bin_counts(x, edges):
    """Cairn's bins: bin 0 holds values <= edges[1], bin i values in (edges[i], edges[i+1]]."""
    inner = np.asarray(edges[1:-1], dtype='float64')
    x = x[~np.isnan(x)]
    if len(inner) == 0:
        return [int(len(x))]
    idx = np.searchsorted(inner, x, side='left')
    return np.bincount(idx, minlength=len(inner) + 1).astype(int).tolist()


def text_of(v):
    if isinstance(v, (bool, np.bool_)):
        return 'true' if v else 'false'
    return str(scalar(v))


# ------------------------------------------------------------------------------------------------
# checks

def run_checks(df, suite, prof, date_columns, now):
    rows = len(df)
    out = []
    for c in suite['checks']:
        kind = c['kind']
        t0 = time.perf_counter()
        ev, failed, details = 0, 0, None
        if kind == 'row_count':
            ev = 1
            failed = int(('min' in c and rows < c['min']) or ('max' in c and rows > c['max']))
        elif kind == 'schema':
            examined, bad = set(), set()
            for col, want in c['columns'].items():
                examined.add(col)
                if col not in df.columns:
                    bad.add(col)
                elif duck_type(df[col], col, date_columns) != want.upper():
                    bad.add(col)
            if c.get('exact'):
                for col in df.columns:
                    examined.add(col)
                    if col not in c['columns']:
                        bad.add(col)
            for col, nullable in (c.get('nullable') or {}).items():
                examined.add(col)
                if col not in df.columns:
                    bad.add(col)
                elif not nullable and df[col].isna().any():
                    bad.add(col)
            ev, failed = len(examined), len(bad)
        elif kind == 'not_null':
            ev = rows
            failed = int(df[c['columns']].isna().any(axis=1).sum())
        elif kind == 'unique':
            sub = df[c['columns']].dropna()
            ev = len(sub)
            failed = int(sub.duplicated(keep=False).sum())
        elif kind == 'range':
            s = df[c['column']]
            ev = int(s.notna().sum())
            bad = pd.Series(False, index=s.index)
            if 'min' in c:
                bad |= s < c['min']
            if 'max' in c:
                bad |= s > c['max']
            failed = int(bad.sum())
        elif kind == 'allowed':
            s = df[c['column']]
            null_ok = None in c['values']
            values = [x for x in c['values'] if x is not None]
            ev = rows
            listed = s.isin(values)
            failed = int((s.notna() & ~listed).sum()) + (0 if null_ok else int(s.isna().sum()))
        elif kind == 'regex':
            s = df[c['column']].dropna()
            if not pd.api.types.is_string_dtype(s) or pd.api.types.is_bool_dtype(s):
                s = s.map(text_of)
            ev = len(s)
            failed = int((~s.str.fullmatch(c['pattern'])).sum())
        elif kind == 'freshness':
            ev = 1
            newest = df[c['column']].max()
            age = parse_duration(c['max_age'])
            failed = int(pd.isna(newest) or newest < now - age)
        elif kind == 'sql':
            ok = eval(c['pandas'], {'df': df, 'pd': pd, 'np': np})  # noqa: S307 - our own suite file
            ev = rows
            failed = int((~ok.fillna(False).astype(bool)).sum())
        elif kind == 'pii':
            cols = c.get('columns') or [n for n in df.columns if kind_of(df[n]) == 'text']
            kinds = c.get('kinds') or ALL_KINDS
            any_row = pd.Series(False, index=df.index)
            details = {}
            for k in kinds:
                pattern, check = PII[k]
                k_rows = pd.Series(False, index=df.index)
                matches = 0
                for col in cols:
                    s = df[col].dropna()
                    if not pd.api.types.is_string_dtype(s):
                        s = s.astype(str)
                    if check is None:
                        n = s.str.count(pattern)
                    else:
                        cand = s[s.str.contains(pattern)]
                        fn = CONFIRM[check]
                        n = cand.str.findall(pattern).map(lambda xs: sum(1 for x in xs if fn(x))) if len(cand) else pd.Series(dtype='int64')
                    hit = n[n > 0]
                    matches += int(n.sum()) if len(n) else 0
                    k_rows.loc[hit.index] = True
                details[k] = {'rows': int(k_rows.sum()), 'matches': matches}
                any_row |= k_rows
            ev, failed = rows, int(any_row.sum())
        elif kind == 'drift':
            ev, failed, details = drift(df, c, prof)
        else:
            raise SystemExit(f'unknown check kind {kind}')
        mostly = c.get('mostly', 1)
        passed = (ev > 0 and failed / ev <= 1 - mostly + 1e-12) or ev == 0
        out.append({'name': check_name(c), 'kind': kind, 'severity': c.get('severity', 'error'), 'evaluated': int(ev), 'failed': int(failed), 'status': 'passed' if passed else 'failed', 'seconds': time.perf_counter() - t0, **({'details': details} if details else {})})
    return out


def check_name(c):
    if c.get('name'):
        return c['name']
    col = c.get('column') if isinstance(c.get('column'), str) else (c['columns'][0] if isinstance(c.get('columns'), list) and len(c['columns']) == 1 else None)
    return f"{c['kind']}({col})" if col else c['kind']


def parse_duration(text):
    m = re.fullmatch(r'(\d+(?:\.\d+)?)\s*(s|m|h|d|w)', text.strip())
    mult = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}[m.group(2)]
    return pd.Timedelta(seconds=float(m.group(1)) * mult)


def proportions(counts):
    total = sum(counts)
    return [x / total if total > 0 else 0 for x in counts]


def psi(ref, cur):
    p, q = proportions(ref), proportions(cur)
    out = 0.0
    for a, b in zip(p, q):
        a, b = max(a, PSI_EPSILON), max(b, PSI_EPSILON)
        out += (b - a) * math.log(b / a)
    return out


def ks(ref, cur):
    p, q = proportions(ref), proportions(cur)
    a = b = d = 0.0
    for x, y in zip(p, q):
        a += x
        b += y
        d = max(d, abs(a - b))
    return d


def drift(df, c, prof):
    """Against the reference profile (the one just computed: the suites compare the data with itself)."""
    ref_cols = {p['name']: p for p in prof['columns']}
    psi_max, ks_max = c.get('psi_max', 0.2), c.get('ks_max', 0.1)
    listed = c.get('columns') or [n for n in df.columns if n in ref_cols and ref_cols[n]['kind'] != 'temporal' and ('histogram' in ref_cols[n] or 'frequencies' in ref_cols[n])]
    results = {}
    drifted = 0
    for col in listed:
        ref = ref_cols[col]
        s = df[col].dropna()
        if ref['kind'] == 'numeric' and 'histogram' in ref:
            x = s.astype('float64')
            cur = bin_counts(x.to_numpy(), ref['histogram']['edges'])
            p, k = psi(ref['histogram']['counts'], cur), ks(ref['histogram']['counts'], cur)
            m, sd, n = float(x.mean()), float(x.std(ddof=1)), len(x)
            pooled = math.sqrt(((ref['count'] - 1) * ref['stddev'] ** 2 + (n - 1) * sd ** 2) / (ref['count'] + n - 2))
            d = (m - ref['mean']) / pooled if pooled > 0 else 0.0
            ok = p <= psi_max and k <= ks_max
            results[col] = {'psi': p, 'ks': k, 'cohensD': d}
        else:
            freq = ref['frequencies']
            vc = s.map(text_of).value_counts() if not pd.api.types.is_string_dtype(s) else s.value_counts()
            known = list(freq.keys())
            cur = [int(vc.get(v, 0)) for v in known]
            cur.append(int(len(s) - sum(cur)))
            refc = [freq[v] for v in known] + [0]
            p = psi(refc, cur)
            pp, qq = proportions(refc), proportions(cur)
            tvd = sum(abs(a - b) for a, b in zip(pp, qq)) / 2
            ok = p <= psi_max
            results[col] = {'psi': p, 'tvd': tvd}
        drifted += 0 if ok else 1
    return len(listed), drifted, results


# ------------------------------------------------------------------------------------------------
# split

def key_text(df, key, date_columns):
    """Per row: for each key column "1" + the value as DuckDB's CAST(v AS VARCHAR) writes it, or
    "0" for NULL, joined by U+001F."""
    parts = []
    for col in key:
        s = df[col]
        na = s.isna()
        if pd.api.types.is_bool_dtype(s):
            t = s.map({True: 'true', False: 'false'})
        elif pd.api.types.is_integer_dtype(s):
            t = s.astype(str)
        elif pd.api.types.is_float_dtype(s):
            t = s.map(lambda x: float_text(x) if x == x else '')
        elif pd.api.types.is_datetime64_any_dtype(s):
            if col in date_columns:
                t = s.dt.strftime('%Y-%m-%d')
            else:
                frac = s.dt.microsecond != 0
                t = s.dt.strftime('%Y-%m-%d %H:%M:%S')
                if frac.any():
                    t = t.where(~frac, s.dt.strftime('%Y-%m-%d %H:%M:%S.%f').str.rstrip('0'))
        else:
            t = s.astype(str)
        parts.append(('1' + t).where(~na, '0'))
    out = parts[0]
    for p in parts[1:]:
        out = out + '\x1f' + p
    return out


def float_text(x):
    """DuckDB's shortest round-trip form: Python's repr, with DuckDB's spelling of the exponent."""
    if math.isinf(x):
        return 'inf' if x > 0 else '-inf'
    r = repr(x)
    if 'e' in r:
        m, e = r.split('e')
        return f"{m}e{e[0]}{e[1:].zfill(2)}" if e[0] in '+-' else f'{m}e+{e.zfill(2)}'
    return r


def split_positions(keys, seed):
    prefix = f'cairn-split-v1\x1f{seed}\x1f'.encode()
    sha = hashlib.sha256
    return np.fromiter((int(sha(prefix + k.encode()).hexdigest()[:13], 16) for k in keys), dtype=np.int64, count=len(keys))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--input', required=True)
    ap.add_argument('--format', choices=['csv', 'pickle', 'parquet'], default='csv')
    # pandas 3 + pyarrow (bench/suites/dataprep-engines.mjs): the pyarrow CSV reader and Parquet output
    ap.add_argument('--csv-engine', default=None)
    ap.add_argument('--write', choices=['pickle', 'parquet'], default='pickle')
    ap.add_argument('--suite', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--key', default='')
    ap.add_argument('--parse-dates', default='')
    ap.add_argument('--date-columns', default='')
    ap.add_argument('--ratios', default='train=0.8,test=0.2')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--now', default=None)
    ap.add_argument('--result', default=None)
    a = ap.parse_args()
    date_columns = set(filter(None, a.date_columns.split(',')))
    now = pd.Timestamp(a.now).tz_localize(None) if a.now else pd.Timestamp.utcnow().tz_localize(None)
    with open(a.suite) as f:
        suite = json.load(f)
    t = {}
    t0 = time.perf_counter()

    # read
    if a.format == 'csv':
        df = pd.read_csv(a.input, parse_dates=list(filter(None, a.parse_dates.split(','))), **({'engine': a.csv_engine} if a.csv_engine else {}))
    elif a.format == 'parquet':
        df = pd.read_parquet(a.input)
    else:
        df = pd.read_pickle(a.input)
    t['read'] = time.perf_counter() - t0

    # profile
    t1 = time.perf_counter()
    prof = profile(df)
    t['profile'] = time.perf_counter() - t1

    # validate
    t1 = time.perf_counter()
    checks = run_checks(df, suite, prof, date_columns, now)
    t['validate'] = time.perf_counter() - t1

    # split
    t1 = time.perf_counter()
    ratios = [(n, float(r)) for n, r in (x.split('=') for x in a.ratios.split(','))]
    key = [k for k in a.key.split(',') if k] or list(df.columns)
    keys = key_text(df, key, date_columns)
    v = split_positions(keys.tolist(), a.seed)
    t['hash'] = time.perf_counter() - t1
    cum, acc = [], 0.0
    for _, r in ratios:
        acc += r
        cum.append(acc)
    idx = np.full(len(df), len(ratios) - 1, dtype=np.int64)
    for i in reversed(range(len(ratios) - 1)):
        idx[v < math.ceil(cum[i] * 2 ** 52)] = i
    parts = [df[idx == i] for i in range(len(ratios))]
    key_sets = [set(keys[idx == i]) for i in range(len(ratios))]
    overlap = sum(len(key_sets[i] & key_sets[j]) for i in range(len(ratios)) for j in range(i + 1, len(ratios)))
    t['split'] = time.perf_counter() - t1

    # write
    t1 = time.perf_counter()
    os.makedirs(a.out, exist_ok=True)
    sizes = []
    for (name, _), part in zip(ratios, parts):
        path = os.path.join(a.out, f'{name}.{"parquet" if a.write == "parquet" else "pkl"}')
        if a.write == 'parquet':
            part.to_parquet(path)
        else:
            part.to_pickle(path)
        sizes.append(os.path.getsize(path))
    t['write'] = time.perf_counter() - t1
    t['total'] = time.perf_counter() - t0

    result = {
        'pandas': pd.__version__,
        'numpy': np.__version__,
        'python': sys.version.split()[0],
        'rows': len(df),
        'dtypes': {c: str(df[c].dtype) for c in df.columns},
        'seconds': t,
        'profile': {'rows': prof['rows'], 'columns': [{k: p.get(k) for k in ('name', 'kind', 'count', 'nulls', 'distinct', 'min', 'max', 'mean')} for p in prof['columns']]},
        'checks': checks,
        'split': {'key': key, 'rows': {n: int(len(p)) for (n, _), p in zip(ratios, parts)}, 'bytes': dict(zip([n for n, _ in ratios], sizes)), 'keyOverlap': overlap},
        'maxrssKiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    text = json.dumps(result, default=str)
    if a.result:
        with open(a.result, 'w') as f:
            f.write(text + '\n')
    else:
        print(text)


if __name__ == '__main__':
    main()
