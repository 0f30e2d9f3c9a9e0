"""The benchmark runner: runs a suite's cases and writes the report.

``python -m benchmarks run --suite NAME`` imports ``benchmarks.suites.NAME``
(the contract is in :mod:`benchmarks._api`), runs every case ``--repeat``
times and writes, into ``--out``:

* ``records.csv`` / ``records.json``: one flat record per run (``records.json``
  also holds a header: command line, time, host, versions, device);
* ``summary.md``: per metric, a table problem x solver of mean +- std, then
  the skipped cases with their reasons, the errors and the warnings;
* the suite's figures, when it defines ``figures(records, out_dir)``.

A case that raises :class:`~benchmarks._api.Skip` is recorded as
``"skipped"`` with its reason; any other exception is recorded as
``"error"`` and the run goes on, but the command exits with status 1.

``--out`` is created and proved writable (a probe file) before anything
runs; a bad one exits with status 2 and one line on stderr.  Ctrl-C stops
the run at once (the running case is not recorded); what was measured is
written (records, ``summary.md`` saying the run was interrupted, figures)
with further Ctrl-Cs deferred until that is done, and the command exits
with status 130.  Ctrl-C before any case ran writes nothing.
"""

import argparse
import contextlib
import csv
import datetime
import importlib
import json
import math
import os
import pkgutil
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

from ._api import Context, Skip

__all__ = ["FIXED_FIELDS", "OutDirError", "run_cases", "run_suite", "write_report",
           "list_suites", "load_suite", "prepare_out_dir", "main"]

# Columns every record has, in this order; then the case params, then the metrics.
FIXED_FIELDS = ("suite", "problem", "solver", "repeat", "status", "reason", "wall_s", "warnings")
_STATUSES = ("ok", "skipped", "error")
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


# -- suites --------------------------------------------------------------------------------
def suite_names():
    """Names of the modules in ``benchmarks/suites`` (not imported)."""
    from . import suites

    return sorted(m.name for m in pkgutil.iter_modules(suites.__path__)
                  if not m.name.startswith("_"))


def load_suite(name):
    """Import ``benchmarks.suites.<name>``; a readable error if there is no such suite."""
    if name not in suite_names():
        raise LookupError(f"no suite {name!r}; available: {', '.join(suite_names()) or 'none'}")
    module = importlib.import_module(f"{__package__}.suites.{name}")
    if not callable(getattr(module, "cases", None)):
        raise LookupError(f"suite {name!r} defines no cases(ctx) function")
    return module


def list_suites():
    """``[(name, description)]``; a suite that fails to import is listed with the error."""
    out = []
    for name in suite_names():
        try:
            module = importlib.import_module(f"{__package__}.suites.{name}")
            out.append((name, str(getattr(module, "DESCRIPTION", "(no DESCRIPTION)"))))
        except Exception as exc:  # a suite being written must not hide the others
            out.append((name, f"(cannot be imported: {type(exc).__name__}: {exc})"))
    return out


# -- progress ------------------------------------------------------------------------------
class _Progress:
    """tqdm when it is installed, else one line per case on stderr."""

    def __init__(self, n_cases, n_runs, suite, enabled=True):
        self.n_cases, self.enabled, self.t0 = n_cases, enabled, time.perf_counter()
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=n_runs, desc=suite, unit="run", file=sys.stderr,
                                dynamic_ncols=True)

    def start(self, i, case):
        if self.bar is not None:
            self.bar.set_postfix_str(f"{case.problem} | {case.solver}", refresh=True)

    def run_done(self):
        if self.bar is not None:
            self.bar.update(1)

    def case_done(self, i, case, status, n_runs, seconds, skipped_runs=0):
        if self.bar is not None:
            self.bar.update(skipped_runs)
        elif self.enabled:
            elapsed = time.perf_counter() - self.t0
            runs = f"{n_runs} run{'s' if n_runs != 1 else ''}"
            print(f"[{i + 1}/{self.n_cases}] {case.problem} | {case.solver}: {status} "
                  f"({runs}, {seconds:.2f} s; elapsed {elapsed:.1f} s)", file=sys.stderr,
                  flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# -- Ctrl-C --------------------------------------------------------------------------------
class _SigintGuard:
    """SIGINT handling of a command-line run (a context manager).

    While the cases run, SIGINT raises :class:`KeyboardInterrupt` as usual.
    After :meth:`shield` (the run stopped, or finished, and the results are
    being written) further SIGINTs are counted and deferred, with a note on
    stderr, so that a second Ctrl-C cannot cut the report short.  The previous
    handler is restored on exit.  Outside the main thread, or when SIGINT is
    ignored, it changes nothing.
    """

    def __init__(self, out_dir=None):
        self.out_dir = out_dir
        self.count = 0  # SIGINTs received, raised or deferred
        self.shielded = False
        self._previous = None

    def _handle(self, signum, frame):
        self.count += 1
        if not self.shielded:
            raise KeyboardInterrupt
        where = f" to {self.out_dir}" if self.out_dir else ""
        try:  # os.write, not print: the handler may run in the middle of a print to stderr
            os.write(2, f"\nCtrl-C deferred: still writing the results{where}; "
                        f"please wait\n".encode(errors="replace"))
        except OSError:
            pass

    def shield(self):
        self.shielded = True

    def __enter__(self):
        global _ACTIVE_GUARD
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
                _ACTIVE_GUARD = self
        return self

    def __exit__(self, *exc):
        global _ACTIVE_GUARD
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
            _ACTIVE_GUARD = None
        return False


_ACTIVE_GUARD = None


def _shield_sigint():
    """From now on, defer Ctrl-C (when a :class:`_SigintGuard` is active): results are
    being written.  Returns whether one is active."""
    if _ACTIVE_GUARD is not None:
        _ACTIVE_GUARD.shield()
    return _ACTIVE_GUARD is not None


# -- running -------------------------------------------------------------------------------
def _as_metric(name, value):
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r} is not a number: {value!r}") from None


def _check_metrics(metrics, case):
    if not isinstance(metrics, dict):
        raise TypeError(f"run() returned {type(metrics).__name__}, not a dict of metrics")
    clash = sorted(set(metrics) & (set(FIXED_FIELDS) | set(case.params)))
    if clash:
        raise ValueError(f"metric names {clash} clash with record fields or case params")
    return {str(k): _as_metric(k, v) for k, v in metrics.items()}


def _warning_text(caught):
    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0] if str(w.message) else ''}"
        if text not in seen:
            seen.append(text)
    text = "; ".join(seen)
    return text if len(text) <= 300 else text[:297] + "..."


def run_cases(cases, ctx, *, progress=True):
    """Run each case ``ctx.repeat`` times; returns ``(records, metrics, interrupted)``:
    the flat records, the metric names in first-seen order, and whether Ctrl-C
    stopped the run.

    A Skip or an error ends that case's repeats (recorded once).  When one run
    takes longer than ``ctx.max_time`` the remaining repeats of that case are
    not run (the record's reason says so).  Ctrl-C stops the run and returns
    what was measured so far.
    """
    records, metric_order = [], []
    interrupted = False
    bar = None
    try:
        cases = list(cases)
        bar = _Progress(len(cases), len(cases) * ctx.repeat, ctx.suite, enabled=progress)
        for i, case in enumerate(cases):
            bar.start(i, case)
            case_t0 = time.perf_counter()
            status, n_runs = "ok", 0
            for rep in range(ctx.repeat):
                base = {"suite": ctx.suite, "problem": str(case.problem),
                        "solver": str(case.solver), "repeat": rep}
                reason, metrics = "", {}
                t0 = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        bad = sorted(set(case.params) & set(FIXED_FIELDS))
                        if bad:
                            raise ValueError(f"case params {bad} clash with record fields")
                        metrics = _check_metrics(case.run(), case)
                        status = "ok"
                        metric_order += [k for k in metrics if k not in metric_order]
                    except Skip as exc:
                        status, reason = "skipped", str(exc) or "skipped (no reason given)"
                    except Exception as exc:
                        status, reason = "error", f"{type(exc).__name__}: {exc}"
                        print(f"\nerror in {case.problem} | {case.solver} (repeat {rep}):",
                              file=sys.stderr)
                        traceback.print_exc(file=sys.stderr)
                wall = time.perf_counter() - t0
                n_runs += 1
                more = rep + 1 < ctx.repeat
                if status == "ok" and more and wall > ctx.max_time:
                    left = (f"repeat {rep + 1}" if rep + 2 == ctx.repeat
                            else f"repeats {rep + 1}..{ctx.repeat - 1}")
                    reason = (f"{left} not run: this run took {wall:.1f} s > --max-time "
                              f"{ctx.max_time:g} s")
                params = {k: v for k, v in case.params.items() if k not in FIXED_FIELDS}
                records.append({**base, "status": status, "reason": reason,
                                "wall_s": wall, "warnings": _warning_text(caught),
                                **params, **metrics})
                bar.run_done()
                if status != "ok" or reason:
                    break
            bar.case_done(i, case, status, n_runs, time.perf_counter() - case_t0,
                          skipped_runs=ctx.repeat - n_runs)
    except KeyboardInterrupt:
        deferred = _shield_sigint()  # a second Ctrl-C must not cut the report short
        interrupted = True
        print(f"\ninterrupted: writing the {len(records)} records measured so far to "
              f"{ctx.out_dir}" + (" (further Ctrl-C is deferred until they are written)"
                                  if deferred else ""), file=sys.stderr, flush=True)
    finally:
        if bar is not None:
            bar.close()
    return records, metric_order, interrupted


# -- the report ------------------------------------------------------------------------------
def _version(module_name):
    try:
        return importlib.import_module(module_name).__version__
    except Exception:
        return None


def _git_commit():
    try:
        root = os.path.dirname(_BENCH_DIR)
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return (sha + ("+dirty" if dirty else "")) if sha else None
    except Exception:
        return None


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _threadpools():
    """``"openblas:2, openmp:2"``: the native thread pools loaded so far and their sizes."""
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info())
    except Exception:
        return None


def make_header(ctx, argv):
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "suite": ctx.suite,
        "command": "python -m benchmarks " + shlex.join(argv),
        "utc_time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "sklearn": _version("sklearn"),
        "mtlreg": _version("mtlreg"),
        "mtlreg_git": _git_commit(),
        "load_avg_1min": _load_average(),
        "threadpools": _threadpools(),
        "device": ctx.device,
        "repeat": ctx.repeat,
        "max_time": ctx.max_time,
        "seed": ctx.seed,
    }


def _columns(records):
    cols = list(FIXED_FIELDS)
    for rec in records:
        cols += [k for k in rec if k not in cols]
    return cols


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars in params
        return _json_value(v.item())
    return v


def write_records(records, header, out_dir):
    cols = _columns(records)
    csv_path = os.path.join(out_dir, "records.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, restval="")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v)
                             for k, v in rec.items()})
    json_path = os.path.join(out_dir, "records.json")
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump({"header": {k: _json_value(v) for k, v in header.items()},
                   "records": [{k: _json_value(v) for k, v in rec.items()} for rec in records]},
                  fh, indent=1, allow_nan=False)
    return [csv_path, json_path]


def _fmt(x):
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _cell(values):
    vals = [v for v in values if math.isfinite(v)]
    nan = len(values) - len(vals)
    if not vals:
        return "nan"
    if len(vals) == 1:
        return _fmt(vals[0]) + (f" ({nan} nan)" if nan else "")
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{_fmt(mean)} ± {_fmt(std)} (n={len(vals)}" + (f", {nan} nan)" if nan else ")")


def metric_tables(records, metric):
    """Markdown lines: mean ± std of ``metric`` over the ok records, problem x solver.

    Problems measured by different sets of solvers (regression vs
    classification, say) get separate tables rather than one with holes.
    """
    cells, solvers_of = {}, {}
    for rec in records:
        value = rec.get(metric)
        if rec["status"] != "ok" or not isinstance(value, float):
            continue
        p, s = rec["problem"], rec["solver"]
        solvers_of.setdefault(p, [])
        if s not in solvers_of[p]:
            solvers_of[p].append(s)
        cells.setdefault((p, s), []).append(value)
    groups = {}  # solver set -> (solver order, problems), in first-seen order
    for p, solvers in solvers_of.items():
        groups.setdefault(frozenset(solvers), (solvers, []))[1].append(p)
    lines = []
    for solvers, problems in groups.values():
        lines += ["| problem | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 1) + "|"]
        lines += [f"| {p} | " + " | ".join(_cell(cells[p, s]) for s in solvers) + " |"
                  for p in problems]
        lines.append("")
    return lines


def write_summary(records, header, out_dir, *, description="", figures=(), figure_note="",
                  metrics=(), interrupted=False, extra=()):
    counts = {s: sum(r["status"] == s for r in records) for s in _STATUSES}
    total = sum(r["wall_s"] for r in records)
    lines = [f"# Benchmark suite `{header['suite']}`", ""]
    if description:
        lines += [description, ""]
    lines += [
        f"Command: `{header['command']}`  ",
        f"UTC time: {header['utc_time']}; host: {header['cpu_count']} CPUs "
        f"({header['cpu_usable']} usable), {header['platform']}  ",
        f"Python {header['python']}, numpy {header['numpy']}, scipy {header['scipy']}, "
        f"scikit-learn {header['sklearn']}, mtlreg {header['mtlreg']}"
        + (f" ({header['mtlreg_git']})" if header.get("mtlreg_git") else "") + "  ",
        f"Device: {header['device']}; repeat: {header['repeat']}; seed: {header['seed']}; "
        f"max-time: {header['max_time']:g} s; thread pools: {header['threadpools']}; "
        f"load average (1 min) at start: {header['load_avg_1min']}", "",
        f"Runs: {counts['ok']} ok, {counts['skipped']} skipped, {counts['error']} errors; "
        f"{total:.1f} s inside the cases." + (" **Interrupted (Ctrl-C): partial results.**"
                                              if interrupted else ""), "",
        "Cells: mean ± std (sample std) over the ok records of a problem and solver "
        "(repeats, and any case params such as splits, pooled); a single value when there "
        "is one.", "",
    ]
    for metric in metrics:
        table = metric_tables(records, metric)
        if table:
            lines += [f"## {metric}", ""] + table
    lines += list(extra)
    skipped = [r for r in records if r["status"] == "skipped"]
    lines += ["## Skipped", ""]
    lines += [f"- {r['problem']} | {r['solver']}: {r['reason']}" for r in skipped] or ["none"]
    lines += [""]
    errors = [r for r in records if r["status"] == "error"]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {r['problem']} | {r['solver']} (repeat {r['repeat']}): {r['reason']}"
                  for r in errors] + [""]
    notes = [r for r in records if r["status"] == "ok" and r["reason"]]
    warned = [r for r in records if r.get("warnings")]
    if notes or warned:
        lines += ["## Notes", ""]
        lines += [f"- {r['problem']} | {r['solver']}: {r['reason']}" for r in notes]
        lines += [f"- {r['problem']} | {r['solver']} (repeat {r['repeat']}): {r['warnings']}"
                  for r in warned]
        lines += [""]
    lines += ["## Figures", ""]
    if figures:
        lines += [f"![{os.path.basename(p)}]({os.path.relpath(p, out_dir)})" for p in figures]
    if figure_note:
        lines += [figure_note]
    if not figures and not figure_note:
        lines += ["none"]
    path = os.path.join(out_dir, "summary.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def suite_summary(suite, records):
    """The suite's own Markdown section (its optional ``summary(records)``), or a
    line saying why it failed: a broken section must not cost the report."""
    fn = getattr(suite, "summary", None)
    if fn is None:
        return []
    try:
        return [str(line) for line in fn([dict(r) for r in records])]
    except Exception as exc:
        print("error while writing the suite's summary section:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return [f"The suite's summary section failed: {type(exc).__name__}: {exc}", ""]


def make_figures(suite, records, out_dir):
    """``(paths, note)``: the suite's figures, or a note saying why there are none."""
    fig_fn = getattr(suite, "figures", None)
    if fig_fn is None:
        return [], ""
    if not any(r["status"] == "ok" for r in records):
        return [], "No figures: no case ran."
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        paths = list(fig_fn([dict(r) for r in records], out_dir) or [])
    except ImportError as exc:
        return [], f"Figures skipped: {exc} (install matplotlib)."
    except KeyboardInterrupt:  # raised by the suite itself: Ctrl-C is deferred while writing
        return [], "Figures failed: interrupted (KeyboardInterrupt) while drawing them."
    except Exception as exc:
        print("error while drawing the figures:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return [], f"Figures failed: {type(exc).__name__}: {exc}"
    return [str(p) for p in paths], ""


def write_report(suite, records, metrics, header, out_dir, interrupted=False):
    """Write records.csv, records.json, summary.md and the figures.

    When the suite draws figures, ``summary.md`` is written once before them
    (saying they were not drawn) and again after, so that figures that fail,
    hang or die cannot cost the records or the summary.

    Returns ``(paths, figures_failed)``.
    """
    paths = write_records(records, header, out_dir)
    text = dict(description=str(getattr(suite, "DESCRIPTION", "")), metrics=metrics,
                interrupted=interrupted, extra=suite_summary(suite, records))
    if getattr(suite, "figures", None) is not None:
        write_summary(records, header, out_dir, figure_note="Figures not drawn: the runner "
                      "stopped while drawing them.", **text)
    figures, note = make_figures(suite, records, out_dir)
    paths += figures
    paths.append(write_summary(records, header, out_dir, figures=figures, figure_note=note,
                               **text))
    return paths, note.startswith("Figures failed")


def run_suite(suite, ctx, argv=(), *, progress=True):
    """Run a suite module under ``ctx`` and write its report into ``ctx.out_dir``.

    Returns ``(records, paths, ok)``: ``ok`` is False when a case errored, the
    figures failed or the run was interrupted.  Ctrl-C while the cases run is
    caught (what was measured is written); a :class:`KeyboardInterrupt` before
    them (while the header is made) propagates, with nothing written.
    """
    return _run_suite(suite, ctx, argv, progress=progress)[:3]


def _run_suite(suite, ctx, argv=(), *, progress=True):
    """:func:`run_suite`, returning ``(records, paths, ok, interrupted)``."""
    os.makedirs(ctx.out_dir, exist_ok=True)
    header = make_header(ctx, list(argv))
    t0 = time.perf_counter()
    records, metrics, interrupted = run_cases(suite.cases(ctx), ctx, progress=progress)
    _shield_sigint()  # from here on, Ctrl-C waits until the report is written
    header["wall_s"] = time.perf_counter() - t0
    paths, figures_failed = write_report(suite, records, metrics, header, ctx.out_dir,
                                         interrupted)
    n_error = sum(r["status"] == "error" for r in records)
    return records, paths, not (n_error or figures_failed or interrupted), interrupted


# -- the output folder -----------------------------------------------------------------------
class OutDirError(Exception):
    """``--out`` cannot be used; the message says why."""


def _probe_writable(path):
    """Create, write and remove a probe file in ``path``; raises OSError when it cannot."""
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
    try:
        os.write(fd, b"probe\n")
    finally:
        os.close(fd)
        os.remove(probe)


def _os_reason(exc):
    return exc.strerror or f"{type(exc).__name__}: {exc}"


def prepare_out_dir(path):
    """Create the output folder ``path`` and prove it writable, before anything runs.

    Refuses an existing file (or anything else that is not a folder) and a path
    under a file; raises :class:`OutDirError` with the reason.  Returns whether
    ``path`` was created here (so that a run stopped before writing anything
    can remove it again).
    """
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutDirError("is an existing file, not a folder" if os.path.isfile(path)
                          else "exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):  # the deepest existing folder above it
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OutDirError(f"{parent} is a file, not a folder")
    created = not os.path.isdir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutDirError(f"cannot create it ({_os_reason(exc)})") from None
    try:
        _probe_writable(path)
    except OSError as exc:
        if created:
            _remove_empty_dir(path)
        raise OutDirError(f"not writable ({_os_reason(exc)})") from None
    return created


def _remove_empty_dir(path):
    try:
        os.rmdir(path)  # only when empty
    except OSError:
        pass


# -- command line ----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``prog: error: --opt: what``."""

    def error(self, message):
        if message.startswith("argument "):
            message = message[len("argument "):]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _integer(text, minimum=None):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum):
        raise argparse.ArgumentTypeError(
            "must be an integer" + (f" >= {minimum}" if minimum is not None else "")
            + f", got {text!r}")
    return value


def _positive_int(text):
    return _integer(text, minimum=1)


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def build_parser():
    parser = _Parser(
        prog="python -m benchmarks",
        description="Run mtlreg's benchmark suites and write CSV/JSON records, a Markdown "
                    "summary and figures.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one suite")
    run.add_argument("--suite", required=True, help="suite name (see `list`)")
    run.add_argument("--out", default=None,
                     help="output folder, created and checked writable before the run "
                          "(default: benchmarks/results/<suite>-<UTC time>)")
    run.add_argument("--repeat", type=_positive_int, default=1,
                     help="runs per case (default 1)")
    run.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                     help="device for the cases that support one (default cpu); cases that "
                          "need CUDA skip when CuPy or a GPU is missing")
    run.add_argument("--max-time", type=_positive_float, default=float("inf"),
                     help="seconds per case: a case may skip when it would take longer, and "
                          "no further repeats run after a run that did (default: no limit)")
    run.add_argument("--seed", type=_integer, default=0,
                     help="random seed of the suite (default 0)")
    run.add_argument("--threads", type=_positive_int, default=None,
                     help="limit the BLAS/OpenMP thread pools to N threads (threadpoolctl; "
                          "default: the libraries' own default)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    sub.add_parser("list", help="list the suites with their descriptions")
    return parser


def main(argv=None):
    """The command line; returns the exit status: 0 all ok, 1 a case errored or the figures
    failed, 2 bad arguments or ``--out``, 130 interrupted (Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name, description in list_suites():
            print(f"{name:<12} {description}")
        return 0
    if args.device == "cuda":
        # scikit-learn's array API dispatch (GPU inputs) needs SciPy's array API
        # mode, which must be on before SciPy is first imported.
        os.environ.setdefault("SCIPY_ARRAY_API", "1")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(_BENCH_DIR, "results", f"{args.suite}-{stamp}")
    with _SigintGuard(out_dir) as guard:
        created = False
        try:
            try:
                suite = load_suite(args.suite)
            except LookupError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            try:
                created = prepare_out_dir(out_dir)
            except OutDirError as exc:
                print(f"error: --out {out_dir}: {exc}", file=sys.stderr)
                return 2
            ctx = Context(suite=args.suite, out_dir=out_dir, repeat=args.repeat,
                          device=args.device, max_time=args.max_time, seed=args.seed)
            if args.threads is None:
                limits = contextlib.nullcontext()
            else:
                from threadpoolctl import threadpool_limits

                limits = threadpool_limits(limits=args.threads)
            with limits:
                records, paths, ok, interrupted = _run_suite(suite, ctx, argv,
                                                             progress=not args.quiet)
        except KeyboardInterrupt:  # before any case ran: run_cases catches the later ones
            guard.shield()
            if created:
                _remove_empty_dir(out_dir)
            print("\ninterrupted before any case ran: nothing written", file=sys.stderr)
            return 130
        counts = {s: sum(r["status"] == s for r in records) for s in _STATUSES}
        print(f"{args.suite}: {counts['ok']} ok, {counts['skipped']} skipped, "
              f"{counts['error']} errors -> {out_dir}")
        for p in paths:
            print(f"  {p}")
        if interrupted or guard.count:
            print(f"interrupted: results went to {out_dir}", file=sys.stderr)
            return 130
    return 0 if ok else 1
