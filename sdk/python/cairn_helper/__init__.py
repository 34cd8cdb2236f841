"""Helpers for training jobs that Cairn runs (standard library only, Python 3.8+).

Usage::

    import os
    import cairn_helper as cairn

    cairn.log_params({"lr": 0.01, "batch_size": 64})

    start = 0
    ckpt = cairn.latest_checkpoint()          # resume after preemption / requeue
    if ckpt:
        start = load(os.path.join(ckpt, "model.pt"))

    cairn.on_preempt(lambda: save(step))      # SIGTERM: save within the grace period, exit 143

    for step in range(start, 10000):
        loss = train_step()
        cairn.log_metric("loss", loss, step=step)
        if step % 1000 == 0:
            with cairn.save_checkpoint(step) as d:
                save_model(os.path.join(d, "model.pt"))

    save_model(os.path.join(cairn.output_dir(), "model.pt"))
    data = cairn.input_path("train")          # a declared input (CAIRN_INPUT_TRAIN)

Inside a run Cairn sets CAIRN_RUN_ID, CAIRN_OUTPUT_DIR, CAIRN_CHECKPOINT_DIR,
CAIRN_METRICS_FILE and CAIRN_INPUT_<NAME>. Each logged item becomes one JSON line
appended to CAIRN_METRICS_FILE (opened with O_APPEND, one write() per call, so lines
from several processes never interleave); Cairn ingests the file while the job runs
(docs/COMPUTE.md, "Logging params and metrics").

Outside a run (no CAIRN_METRICS_FILE) the same script runs standalone, like MLflow's
local mode: params and metrics go to a local file, <CAIRN_LOCAL_DIR or ./cairn-local>/
<UTC time>-<pid>/metrics.jsonl (one folder per process, named once on stderr; in the
same JSON-lines format, so `cairn`'s own parser reads it), or nowhere when
CAIRN_LOCAL_DIR is set to the empty string. Values are checked the same way in both
places. output_dir() and checkpoint_dir() then fall back to ./outputs and
./checkpoints. The environment is read on every call.

read_table(name_or_path) reads a Cairn table (a declared input, a version folder such as
a checkout, or one file: CSV, TSV, JSON Lines, JSON array, Parquet) into pandas when it is
installed, else pyarrow, else a list of dicts (text formats only).

Install it anywhere with `pip install ./sdk/python` (from a Cairn clone or the npm
package's folder: `cairn sdk paths python`); inside `cairn run` it is on PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
import unicodedata
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

__all__ = [
    "log_param",
    "log_params",
    "log_metric",
    "log_metrics",
    "output_dir",
    "checkpoint_dir",
    "input_path",
    "input_env_name",
    "latest_checkpoint",
    "save_checkpoint",
    "on_preempt",
    "read_table",
    "local_metrics_file",
    "COMPLETE_FILE",
]

COMPLETE_FILE = "COMPLETE"
NAME_MAX = 200

# Reentrant: an on_preempt callback may log while the interrupted main thread holds it.
_lock = threading.RLock()
_fd = None  # (path, fd) of the open metrics file
_preempt_callbacks = []
_preempting = False


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise ValueError('"name" must be a string, not %r' % (name,))
    if any(unicodedata.category(c) == "Cs" for c in name):
        raise ValueError('"name" must be well-formed Unicode: %r' % (name,))
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError('"name" must not contain control characters: %r' % (name,))
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError('"name" must be 1 to %d characters: %r' % (NAME_MAX, name[:80]))


def _check_value(name: str, value: Any) -> float:
    # bool is an int and str converts with float(): both are almost always mistakes here.
    # Anything else float() accepts (numpy scalars, one-element tensors) is taken.
    if isinstance(value, (bool, str, bytes)):
        raise ValueError('metric %r: "value" must be a finite number, not %r' % (name, value))
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError('metric %r: "value" must be a finite number, not %r' % (name, value)) from None
    if not math.isfinite(v):
        raise ValueError('metric %r: "value" must be a finite number, not %r' % (name, value))
    return v


def _check_step(step: Any) -> Optional[int]:
    if step is None:
        return None
    if isinstance(step, bool):
        raise ValueError('"step" must be an integer >= 0 or None, not %r' % (step,))
    try:
        s = operator.index(step)  # int, numpy integers; not floats
    except TypeError:
        raise ValueError('"step" must be an integer >= 0 or None, not %r' % (step,)) from None
    if s < 0 or s > 2 ** 53 - 1:
        raise ValueError('"step" must be an integer >= 0 or None, not %r' % (step,))
    return s


def _now() -> str:
    t = time.time()
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def _dumps(obj: Any) -> str:
    # allow_nan=False: NaN and Infinity are not JSON and Cairn refuses them.
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_local = None  # (CAIRN_LOCAL_DIR as read, the file) once a standalone process logged


def local_metrics_file() -> Optional[str]:
    """Where a standalone process (outside `cairn run`) logs, or None inside a run or when
    CAIRN_LOCAL_DIR is the empty string. The folder is made on first use."""
    global _local
    if os.environ.get("CAIRN_METRICS_FILE"):
        return None
    base = os.environ.get("CAIRN_LOCAL_DIR", "cairn-local")
    if base == "":
        return None
    with _lock:
        if _local is None or _local[0] != base:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            d = os.path.abspath(os.path.join(base, "%s-%d" % (stamp, os.getpid())))
            os.makedirs(d, exist_ok=True)
            _local = (base, os.path.join(d, "metrics.jsonl"))
            sys.stderr.write("cairn_helper: not inside `cairn run`; logging to %s\n" % _local[1])
        return _local[1]


def _append(lines: List[str]) -> None:
    """Appends whole lines with a single write(), so concurrent writers never interleave."""
    global _fd
    if not lines:
        return
    path = os.environ.get("CAIRN_METRICS_FILE") or local_metrics_file()
    if not path:
        return
    data = "".join(lines).encode("utf-8")
    with _lock:
        if _fd is None or _fd[0] != path:
            if _fd is not None:
                os.close(_fd[1])
                _fd = None
            _fd = (path, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        fd = _fd[1]
        n = os.write(fd, data)
        # A regular file takes the whole buffer unless the disk is full; finish the rest.
        while n < len(data):
            n += os.write(fd, data[n:])


def _param_line(name: str, value: Any) -> str:
    _check_name(name)
    try:
        text = _dumps(value)
    except ValueError as e:
        raise ValueError("param %r: %s" % (name, e)) from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("param %r: value must be well-formed Unicode" % (name,)) from None
    return '{"kind":"param","name":%s,"value":%s}\n' % (_dumps(name), text)


def _metric_line(name: str, value: Any, step: Any, stamp: str) -> str:
    _check_name(name)
    v = _check_value(name, value)
    s = _check_step(step)
    return _dumps({"kind": "metric", "name": name, "value": v, "step": s, "time": stamp}) + "\n"


def log_param(name: str, value: Any) -> None:
    """Records a parameter: any JSON value (the last value logged for a name wins)."""
    _append([_param_line(name, value)])


def log_params(params: Mapping[str, Any]) -> None:
    """Records several parameters from a dict; all are checked before any is written."""
    _append([_param_line(k, v) for k, v in params.items()])


def log_metric(name: str, value: float, step: Optional[int] = None) -> None:
    """Records one point: value a finite number, step an integer >= 0 or None."""
    _append([_metric_line(name, value, step, _now())])


def log_metrics(values: Mapping[str, float], step: Optional[int] = None) -> None:
    """Records several metrics at the same step and time; all are checked first."""
    stamp = _now()
    _append([_metric_line(k, v, step, stamp) for k, v in values.items()])


def _dir(variable: str, fallback: str) -> str:
    d = os.environ.get(variable) or os.path.abspath(fallback)
    os.makedirs(d, exist_ok=True)
    return d


def output_dir() -> str:
    """Where the run's outputs go (CAIRN_OUTPUT_DIR; ./outputs outside a run). Created if missing."""
    return _dir("CAIRN_OUTPUT_DIR", "outputs")


def checkpoint_dir() -> str:
    """Where checkpoints go (CAIRN_CHECKPOINT_DIR; ./checkpoints outside a run). Created if missing."""
    return _dir("CAIRN_CHECKPOINT_DIR", "checkpoints")


def input_env_name(name: str) -> str:
    """CAIRN_INPUT_ + the name upper-cased, every character other than A-Z, a-z, 0-9 as _."""
    return "CAIRN_INPUT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


_MISSING = object()


def input_path(name: str, default: Any = _MISSING) -> Any:
    """The absolute path of a declared input; `default` when it is not set (standalone runs)."""
    p = os.environ.get(input_env_name(name))
    if p:
        return p
    if default is not _MISSING:
        return default
    have = sorted(k for k in os.environ if k.startswith("CAIRN_INPUT_"))
    raise KeyError(
        "no input %r (%s is not set)%s"
        % (name, input_env_name(name), "; this run has " + ", ".join(have) if have else "")
    )


_STEP_DIR = re.compile(r"^step-(\d+)$")


def latest_checkpoint() -> Optional[str]:
    """The newest complete checkpoint folder (one holding COMPLETE), or None.

    Newest = highest n of step-<n>; folders named otherwise rank below those, by the
    modification time of their COMPLETE file. Step numbers decide first because a
    requeued job may run on a node whose clock differs.
    """
    root = os.environ.get("CAIRN_CHECKPOINT_DIR") or os.path.abspath("checkpoints")
    try:
        names = os.listdir(root)
    except OSError:
        return None
    best = None
    for name in names:
        if name.startswith("."):  # temporary folders of saves in progress
            continue
        path = os.path.join(root, name)
        try:
            mtime = os.stat(os.path.join(path, COMPLETE_FILE)).st_mtime
        except OSError:
            continue
        m = _STEP_DIR.match(name)
        key = (int(m.group(1)) if m else -1, mtime, name)
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None


def _fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(d):
    for dirpath, _dirnames, filenames in os.walk(d):
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                _fsync_path(p)
        _fsync_path(dirpath)


@contextlib.contextmanager
def save_checkpoint(step: int) -> Iterator[str]:
    """Context manager: yields a temporary folder to write checkpoint `step` into.

    On a clean exit the folder gets COMPLETE (written last) and is renamed to
    <checkpoint_dir>/step-<step>, replacing an existing one; a job killed mid-save never
    leaves a folder latest_checkpoint() would pick. On an exception it is deleted.

        with save_checkpoint(step) as d:
            torch.save(model.state_dict(), os.path.join(d, "model.pt"))
    """
    s = _check_step(step)
    if s is None:
        raise ValueError("checkpoint step must be an integer >= 0")
    root = checkpoint_dir()
    final = os.path.join(root, "step-%d" % s)
    tmp = os.path.join(root, ".tmp-step-%d-%d-%s" % (s, os.getpid(), secrets.token_hex(4)))
    os.mkdir(tmp)
    try:
        yield tmp
        _fsync_tree(tmp)
        with open(os.path.join(tmp, COMPLETE_FILE), "w") as f:
            f.write(json.dumps({"step": s, "time": _now()}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_path(tmp)
        if os.path.exists(final):
            # rename() cannot replace a non-empty folder: move the old one aside first.
            old = os.path.join(root, ".old-step-%d-%d-%s" % (s, os.getpid(), secrets.token_hex(4)))
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_path(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _on_sigterm(signum, frame):
    global _preempting
    if _preempting:  # a second SIGTERM while the callbacks run changes nothing
        return
    _preempting = True
    do_exit = False
    failed = False
    for cb, ex in list(_preempt_callbacks):
        do_exit = do_exit or ex
        try:
            cb()
        except Exception:
            failed = True
            import traceback

            sys.stderr.write("cairn: preemption callback failed:\n" + traceback.format_exc())
    if do_exit or failed:
        # 128 + SIGTERM, as if the signal had killed us: the run did not finish. SystemExit
        # (not os._exit) so `finally` blocks and atexit hooks still run.
        sys.exit(128 + signal.SIGTERM)


def on_preempt(callback: Callable[[], Any], exit: bool = True) -> None:
    """Runs callback() when the job gets SIGTERM (cancel, time limit, preemption).

    The grace period before SIGKILL is the time to save a checkpoint. Afterwards the
    process exits with status 143, unless every registered callback passed exit=False
    (then the job decides, e.g. by stopping its loop at the next step). Callbacks run
    once, in registration order, in the main thread (call on_preempt from there).

    Callbacks run inside a signal handler, i.e. wherever the main thread happened to be:
    if it was in the middle of a print(), a print() in the callback raises "reentrant
    call" (and the job still exits 143). Prefer os.write(2, ...) for messages there.
    """
    if not _preempt_callbacks:
        signal.signal(signal.SIGTERM, _on_sigterm)
    _preempt_callbacks.append((callback, exit))


_TABLE_EXTS = (".parquet", ".pq", ".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json")


def _table_files(path: str) -> List[str]:
    if os.path.isfile(path):
        return [path]
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.lower().endswith(_TABLE_EXTS) and not f.startswith("."):
                found.append(os.path.join(dirpath, f))
    if not found:
        raise ValueError("%s holds no table file (%s)" % (path, ", ".join(_TABLE_EXTS)))
    exts = {os.path.splitext(f)[1].lower() for f in found}
    if len(exts) > 1:
        raise ValueError("%s mixes table formats (%s); name one file" % (path, ", ".join(sorted(exts))))
    return found


def _rows_from_text(files: List[str]) -> List[Dict[str, Any]]:
    import csv

    rows: List[Dict[str, Any]] = []
    for f in files:
        ext = os.path.splitext(f)[1].lower()
        with open(f, newline="", encoding="utf-8") as fh:
            if ext in (".csv", ".tsv", ".tab"):
                rows.extend(dict(r) for r in csv.DictReader(fh, delimiter="," if ext == ".csv" else "\t"))
            elif ext == ".json":
                data = json.load(fh)
                if not isinstance(data, list):
                    raise ValueError("%s is not a JSON array of records" % f)
                rows.extend(data)
            else:
                rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def read_table(name_or_path: str) -> Any:
    """Reads a Cairn table: a declared input's name (inside a run), a folder (a version's
    checkout or input: every table file in it, one format) or one file.

    Returns a pandas DataFrame when pandas is installed, else a pyarrow Table when pyarrow
    is, else a list of dicts (CSV/TSV values as text; Parquet then needs pyarrow: write the
    table with `cairn data clean|split --format csv` to read it with the standard library).
    """
    path = input_path(name_or_path, None)
    if path is None:
        if not os.path.exists(name_or_path):
            raise FileNotFoundError(
                "no input %r (%s is not set) and no such file or folder" % (name_or_path, input_env_name(name_or_path))
            )
        path = name_or_path
    files = _table_files(path)
    ext = os.path.splitext(files[0])[1].lower()
    parquet = ext in (".parquet", ".pq")
    try:
        import pandas as pd  # type: ignore[import-not-found]

        if parquet:
            return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        if ext in (".csv", ".tsv", ".tab"):
            sep = "," if ext == ".csv" else "\t"
            return pd.concat([pd.read_csv(f, sep=sep) for f in files], ignore_index=True)
        return pd.DataFrame(_rows_from_text(files))
    except ImportError:
        pass
    try:
        import pyarrow as pa  # type: ignore[import-not-found]

        if parquet:
            import pyarrow.parquet as pq  # type: ignore[import-not-found]

            return pa.concat_tables([pq.read_table(f) for f in files])
        if ext in (".csv", ".tsv", ".tab"):
            import pyarrow.csv as pacsv  # type: ignore[import-not-found]

            opts = pacsv.ParseOptions(delimiter="," if ext == ".csv" else "\t")
            return pa.concat_tables([pacsv.read_csv(f, parse_options=opts) for f in files])
        return pa.Table.from_pylist(_rows_from_text(files))
    except ImportError:
        pass
    if parquet:
        raise ImportError(
            "reading Parquet needs pandas or pyarrow (pip install pyarrow); "
            "or write the table as CSV with `cairn data clean|split --format csv`"
        )
    return _rows_from_text(files)
