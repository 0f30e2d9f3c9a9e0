"""The ``families`` axis of the ``scale`` suite: whole fits of the structured
families as the number of tasks grows (issue 18).

``T`` = 1,000, 10,000 and 100,000 tasks of ``n_t = 10`` samples and ``d = 20``
features; the true ``W`` (``d x T``) has rank 3 on 10 of the 20 features, so
that every family has structure to find; targets with noise (standard
deviation 0.5).  Estimators at their default parameters (what a user gets),
``GraphRegressor`` with the ring graph ``t -- t+1 (mod T)`` as an edge list.

What is measured, for each estimator and ``T``:

``fit_s``, ``n_iter``, ``converged``
    Wall time of ``est.fit(X, y, tasks=tasks)`` to its default ``tol``
    (untraced), its iteration count and whether it certified ``tol``.
``peak_over_x``, ``peak_mb``
    Peak of the memory allocated by a second fit stopped at ``max_iter=10``
    (``tracemalloc``, as the ``memory`` suite: the task layout, the solver's
    state and one convergence check are allocated by then), over ``X.nbytes``.
``x_mb``
    ``X.nbytes`` in MB.

The summary divides each ``fit_s`` by ``L21Regressor``'s at the same ``T``.
A size is skipped when the previous size's fit time times the growth of ``T``
exceeds ``--max-time``.
"""

import math
import os
import time
import warnings

import numpy as np

from benchmarks._api import Case, Skip

TASKS = (1_000, 10_000, 100_000)
N_T, D, RANK, SUPPORT = 10, 20, 3, 10
FAMILIES = ("L21Regressor", "TraceRegressor", "MTFLRegressor", "ClusteredRegressor",
            "RelationRegressor", "GraphRegressor")
FIXED = f"n_t={N_T}, d={D}"

_CACHE = {}


def _problem(T, seed):
    if T in _CACHE:
        return _CACHE[T]
    _CACHE.clear()
    rng = np.random.default_rng([seed, T])
    X = rng.standard_normal((T * N_T, D))
    tasks = np.repeat(np.arange(T), N_T)
    W = np.zeros((T, D))
    support = rng.choice(D, size=SUPPORT, replace=False)
    W[:, support] = rng.standard_normal((T, RANK)) @ rng.standard_normal((RANK, SUPPORT))
    y = np.einsum("nd,nd->n", X, W[tasks]) + 0.5 * rng.standard_normal(T * N_T)
    _CACHE[T] = (X, y, tasks)
    return _CACHE[T]


def _estimator(name, T, **params):
    import mtlreg

    if name == "GraphRegressor":
        params["graph"] = [(t, (t + 1) % T) for t in range(T)]
    return getattr(mtlreg, name)(**params)


def measure(name, T, seed, limits):
    from sklearn.exceptions import ConvergenceWarning

    from benchmarks.suites.memory import traced_peak

    X, y, tasks = _problem(T, seed)
    with warnings.catch_warnings(), limits:
        warnings.simplefilter("ignore", ConvergenceWarning)
        few = min(50, T)  # loads the compiled kernels before anything is measured
        m = few * N_T
        _estimator(name, few, max_iter=10).fit(X[:m], y[:m], tasks=tasks[:m])
        est = _estimator(name, T)
        t0 = time.perf_counter()
        est.fit(X, y, tasks=tasks)
        fit_s = time.perf_counter() - t0
        short = _estimator(name, T, max_iter=10)
        peak = traced_peak(lambda: short.fit(X, y, tasks=tasks))
    return {"fit_s": fit_s, "n_iter": float(est.n_iter_), "converged": float(est.converged_),
            "peak_over_x": peak / X.nbytes, "peak_mb": peak / 1e6, "x_mb": X.nbytes / 1e6}


def cases(ctx, blas_threads, limits):
    last = {}  # estimator -> (T, fit_s) of its last measured size

    def run_for(name, T):
        def run():
            if name in last:
                previous_T, previous_s = last[name]
                predicted = previous_s * T / previous_T
                if predicted > ctx.max_time:
                    raise Skip(f"predicted {predicted:.0f} s > max_time {ctx.max_time:g} s "
                               f"({previous_s:.1f} s at {previous_T} tasks)")
            out = measure(name, T, ctx.seed, limits(blas_threads))
            last[name] = (T, out["fit_s"])
            return out
        return run

    for T in TASKS:
        for name in FAMILIES:
            params = {"axis": "families", "size": T, "n_tasks": T, "n_samples": T * N_T,
                      "n_features": D, "estimator": name, "loss": "squared", "path": "fit",
                      "device": "cpu", "alpha": "default",
                      "graph": "ring (edge list)" if name == "GraphRegressor" else "",
                      "blas_threads": blas_threads}
            yield Case(f"families: n_tasks={T} ({FIXED})", name, run_for(name, T), params)


def _ok(records):
    from benchmarks.suites.scale import _field

    for rec in records:
        if (_field(rec, "status") or "ok") == "ok" and _field(rec, "axis") == "families":
            yield rec, _field


def summary(records):
    """Whole-fit time, its ratio to L21Regressor's, iterations and peak / X."""
    table = {}
    for rec, field in _ok(records):
        T, name = int(float(field(rec, "size"))), field(rec, "estimator")
        table.setdefault(T, {})[name] = {k: float(field(rec, k)) for k in (
            "fit_s", "n_iter", "converged", "peak_over_x", "peak_mb")}
    if not table:
        return []
    lines = ["## Whole fits as the number of tasks grows (families axis)", "",
             f"Default parameters, {FIXED}, ring graph for GraphRegressor. Each cell: fit "
             "time (s), its ratio to L21Regressor's at the same T, iterations (`*`: did not "
             "certify tol), peak of a 10-iteration fit / X.", "",
             "| n_tasks | " + " | ".join(FAMILIES) + " |",
             "|---:|" + "---:|" * len(FAMILIES)]
    for T in sorted(table):
        row = table[T]
        base = row.get("L21Regressor", {}).get("fit_s")
        cells = []
        for name in FAMILIES:
            r = row.get(name)
            if r is None:
                cells.append("skipped")
                continue
            ratio = f"{r['fit_s'] / base:.2f}x" if base else "n/a"
            star = "" if r["converged"] else "*"
            cells.append(f"{r['fit_s']:.2f} s ({ratio}), {r['n_iter']:.0f}{star} it, "
                         f"{r['peak_over_x']:.2f} X")
        lines.append(f"| {T:,} | " + " | ".join(cells) + " |")
    return lines + [""]


def figure(records, out_dir):
    import matplotlib.pyplot as plt

    points = {}  # (metric, estimator) -> [(T, value)]
    for rec, field in _ok(records):
        for metric in ("fit_s", "peak_mb"):
            value = float(field(rec, metric))
            if math.isfinite(value) and value > 0:
                points.setdefault((metric, field(rec, "estimator")), []).append(
                    (float(field(rec, "size")), value))
    if not points:
        return []
    labels = {"fit_s": "whole fit, default tol (s)", "peak_mb": "peak memory, 10 iterations (MB)"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(axes, labels):
        for (m, name), pts in sorted(points.items()):
            if m == metric:
                ax.loglog(*zip(*sorted(pts)), "o-", label=name)
        ax.set_xlabel(f"n_tasks ({FIXED})")
        ax.set_ylabel(labels[metric])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "scale_families.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
