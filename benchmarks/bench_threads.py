"""BLAS threads on a busy machine: small dense linear algebra on one thread.

A threaded LAPACK decomposition synchronizes its threads at every panel.  When
another process holds one of the cores, every synchronization waits for a
time slice, and a decomposition of a small matrix becomes tens of times
slower than on one thread.  mtlreg runs its small decompositions
(``mtlreg._backend.small_linalg``, sides up to ``SMALL_SIDE``) and the
iterations of small problems (``SMALL_WORK``) on one BLAS thread.

This script measures, with a busy-looping neighbour process on one core
(``--no-neighbour`` to leave the machine quiet):

* the raw effect: ``numpy.linalg.eigh`` of a 27 x 27 and a 139 x 139 matrix
  (School's feature and task counts) on the library's default thread count
  and on one thread, the median of ``100 * --repeat`` calls;
* whole fits on School (raw features, the README's Quickstart data, default
  parameters): mtlreg as it is ("bounded"), mtlreg with its
  bounds switched off ("unbounded": the behaviour before them), and the whole
  fit under ``threadpool_limits(1)`` ("one thread"), interleaved, best of
  ``--repeat``.  ``bounded / one thread`` near 1 means no oversubscription
  is left.

Run: ``python -m benchmarks.bench_threads [--repeat N] [--no-neighbour]``;
the table is printed and written to ``benchmarks/results/threads.md``.
"""

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
import warnings
from unittest import mock

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

import mtlreg
import mtlreg._backend as backend
from mtlreg.datasets import load_school

ESTIMATORS = ("ClusteredRegressor", "CASORegressor", "TraceRegressor", "MTFLRegressor")


@contextlib.contextmanager
def neighbour(enabled):
    """A process busy-looping on one core while the block runs."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _median(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def eigh_times(repeat):
    """Median of ``100 repeat`` calls (a best-of would hide the calls that waited)."""
    rng = np.random.default_rng(0)
    rows = []
    for m in (27, 139):
        A = rng.standard_normal((m, m))
        A = A @ A.T
        default = _median(lambda: np.linalg.eigh(A), 100 * repeat)
        with threadpool_limits(1, user_api="blas"):
            one = _median(lambda: np.linalg.eigh(A), 100 * repeat)
        rows.append((f"eigh {m} x {m} (median)", default, one))
    return rows


def fit_times(repeat):
    school = load_school()
    X, y, tasks = school.X[:, :-1], school.y, school.tasks
    rows = []
    def off(xp, when=True):
        return contextlib.nullcontext()
    for name in ESTIMATORS:
        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                getattr(mtlreg, name)().fit(X, y, tasks=tasks)
        times = {"bounded": np.inf, "unbounded": np.inf, "one thread": np.inf}
        for _ in range(repeat):  # interleaved, so that a change of load hits all three
            times["bounded"] = min(times["bounded"], _best(fit, 1))
            with mock.patch.object(backend, "one_blas_thread", off), \
                    mock.patch("mtlreg.problem.one_blas_thread", off):
                times["unbounded"] = min(times["unbounded"], _best(fit, 1))
            with threadpool_limits(1, user_api="blas"):
                times["one thread"] = min(times["one thread"], _best(fit, 1))
        rows.append((name, times))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-neighbour", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "threads.md"))
    args = parser.parse_args(argv)
    pools = ", ".join(f"{p['internal_api']}:{p['num_threads']}"
                      for p in ThreadpoolController().info())
    with neighbour(not args.no_neighbour):
        eighs = eigh_times(args.repeat)
        fits = fit_times(args.repeat)
    lines = [
        "# BLAS threads " + ("with a busy neighbour process" if not args.no_neighbour
                             else "on a quiet machine"), "",
        f"Command: `python -m benchmarks.bench_threads {' '.join(argv or sys.argv[1:])}`  ",
        f"Host: {os.cpu_count()} CPUs, {platform.platform()}; Python "
        f"{platform.python_version()}, numpy {np.__version__}, mtlreg {mtlreg.__version__}; "
        f"thread pools: {pools}", "",
        "| operation | default threads (s) | one thread (s) | ratio |", "|---|---|---|---|"]
    lines += [f"| {name} | {a:.3g} | {b:.3g} | {a / b:.3g} |" for name, a, b in eighs]
    lines += ["", "School (raw features), whole fit, best of "
              f"{args.repeat} interleaved runs:", "",
              "| estimator | bounded (s) | unbounded (s) | one thread (s) | "
              "bounded / one thread | unbounded / one thread |", "|---|---|---|---|---|---|"]
    for name, t in fits:
        lines.append(f"| {name} | {t['bounded']:.3g} | {t['unbounded']:.3g} | "
                     f"{t['one thread']:.3g} | {t['bounded'] / t['one thread']:.3g} | "
                     f"{t['unbounded'] / t['one thread']:.3g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
