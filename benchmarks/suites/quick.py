"""A fast subset of the benchmarks (well under 2 minutes on 2 cores), run by the tests.

A thin subset of the ``accuracy`` suite plus one speed race:

* ``school``, split 1 of Argyriou et al., and ``landmine``, split 1 (one
  random 50/50 split within each task and class, drawn from ``--seed``):
  exactly the cases of ``benchmarks/suites/accuracy.py`` for these splits
  (:func:`benchmarks.suites.accuracy.evaluate`: same data, standardization,
  within-task 3-fold CV, grids, baselines and metrics; its docstring states
  the protocol).  School: ``L21Regressor``, ``MTFLRegressor``,
  ``LassoRegressor``, ``TraceRegressor`` and, for the decomposition family,
  ``DirtyRegressor`` (its 3 x 2 ``(alpha, beta)`` grid) against
  ``single-task Ridge`` and ``pooled Ridge``, metrics ``nmse`` and
  ``explained_variance`` (and ``task_nmse``, ``mse``); Landmine: the
  matching classifiers against per-task and pooled ``LogisticRegression``,
  metric ``auc`` (per-task test AUC averaged over the tasks; and
  ``accuracy``).  Under ``--device
  cuda`` the mtlreg estimators fit CuPy arrays (skipped without CuPy or a
  GPU); the scikit-learn baselines stay on the CPU.
* ``shared n=2000 d=100 T=10``: ``L21Regressor`` and scikit-learn's
  ``MultiTaskLasso`` on the same shared-design problem at
  ``alpha = 0.1 alpha_max``, each timed until its relative suboptimality is
  below 1e-6 against the lower objective of two very tight solves (the
  protocol of ``benchmarks/bench_l21_vs_sklearn.py``, whose functions it
  uses), best of 10 interleaved timings; reports both times and
  ``speedup = time(sklearn) / time(mtlreg)``, measured side by side.  The
  fits take milliseconds: use the ``speed`` suite or the standalone script
  for claims.  Skipped under ``--device cuda`` (a CPU comparison).

Every case runs with single-threaded BLAS (see :func:`speed`; the accuracy
problems have at most 28 features, where threads only add overhead).
"""

import warnings

import numpy as np

from .._api import Case, Skip
from . import accuracy

DESCRIPTION = ("Fast subset (< 2 min on 2 cores): School split 1 and Landmine split 1 of the "
               "accuracy suite (mtlreg Lasso/L21/MTFL/Trace/Dirty vs per-task and pooled "
               "baselines, 3-fold CV), and L21Regressor vs MultiTaskLasso time to 1e-6 on "
               "n=2000, d=100, T=10")

SPLIT = 0                                 # the first split of the accuracy suite
SCHOOL_METHODS = ("L21Regressor", "MTFLRegressor", "LassoRegressor", "TraceRegressor",
                  "DirtyRegressor", "single-task Ridge", "pooled Ridge")
LANDMINE_METHODS = ("L21Classifier", "MTFLClassifier", "LassoClassifier", "TraceClassifier",
                    "DirtyClassifier", "single-task LogisticRegression",
                    "pooled LogisticRegression")
SPEED_PROBLEM = (2000, 100, 10, 5)        # n, d, T, support size
SPEED_LABEL = "shared n=2000 d=100 T=10"
REL_SUBOPT = 1e-6


def evaluate(problem, method_name, seed=0, device="cpu"):
    """:func:`accuracy.evaluate` on split 1 of ``problem``, with single-threaded BLAS:
    these problems are tiny, threads only add overhead, and on a loaded machine a
    multi-threaded BLAS spinning on small products was measured 50x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return accuracy.evaluate(problem, SPLIT, method_name, seed, device)


# -- speed ----------------------------------------------------------------------------------
def speed(seed=0, inner=10):
    """Times of L21Regressor and MultiTaskLasso to relative suboptimality 1e-6 (best of
    ``inner`` interleaved timings each), the loosest ``tol`` that reached it (``tol_*``:
    the tolerances tried are 1e-3 ... 1e-10, loosest first) and the ratio.

    BLAS is single-threaded for both: with the default two OpenBLAS threads on a
    loaded 2-core machine, the best MultiTaskLasso time, interleaved with
    mtlreg's fits, was measured at 10.7-36 ms against 1.6-2.0 ms at one thread
    (speed-ups of 4.1-14 instead of 0.72-0.76), presumably BLAS threads left
    spinning after mtlreg's matrix products.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _speed(seed, inner)


def _speed(seed, inner):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import MultiTaskLasso

    from mtlreg import L21Regressor, alpha_max

    from ..bench_l21_vs_sklearn import _objective, _problem, _time_to_target

    X, Y = _problem(*SPEED_PROBLEM, seed=seed)
    alpha = 0.1 * alpha_max(X, Y)

    def ours(tol):
        return L21Regressor(alpha=alpha, tol=tol, max_iter=100000)

    def theirs(tol):
        return MultiTaskLasso(alpha=alpha, tol=tol, max_iter=100000)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tight = [make(1e-14).fit(X, Y) for make in (ours, theirs)]
        ours(1e-3).fit(X, Y)  # warm-up (BLAS threads, imports) outside the timed fits
        theirs(1e-3).fit(X, Y)
    best = min(_objective(X, Y, e.coef_, e.intercept_, alpha) for e in tight)
    target = best * (1 + REL_SUBOPT)
    tols = [10.0 ** -k for k in range(3, 11)]
    runs = {"mtlreg": [], "sklearn": []}
    for _ in range(inner):  # interleaved, so both see the same machine load
        for key, make in (("mtlreg", ours), ("sklearn", theirs)):
            runs[key].append(_time_to_target(make, X, Y, alpha, target, tols))
    out = {}
    for key, timed in runs.items():
        reached = [(t, tol) for t, tol in timed if tol is not None]
        t, tol = min(reached) if reached else (float("nan"), float("nan"))
        out[f"time_{key}_s"], out[f"tol_{key}"] = t, tol
    out["speedup"] = out["time_sklearn_s"] / out["time_mtlreg_s"]
    return out


# -- the suite --------------------------------------------------------------------------------
def _run_accuracy(problem, method, seed, device):
    def run():
        return evaluate(problem, method, seed, device)
    return run


def _run_speed(seed, device):
    def run():
        if device != "cpu":
            raise Skip("the speed case compares CPU solvers (scikit-learn has no GPU path): "
                       "run it with --device cpu")
        return speed(seed)
    return run


def cases(ctx):
    for problem, methods in (("school", SCHOOL_METHODS), ("landmine", LANDMINE_METHODS)):
        for method in methods:
            yield Case(problem, method, _run_accuracy(problem, method, ctx.seed, ctx.device),
                       params={"split": SPLIT})
    n, d, T, k = SPEED_PROBLEM
    yield Case(SPEED_LABEL, "L21Regressor vs MultiTaskLasso", _run_speed(ctx.seed, ctx.device),
               params={"n_samples": n, "n_features": d, "n_tasks": T, "rel_subopt": REL_SUBOPT,
                       "blas_threads": 1})


def figures(records, out_dir):
    """One figure, two panels: test nMSE per method on School, AUC per method on Landmine."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("school", "nmse", SCHOOL_METHODS, "lower is better"),
              ("landmine", "auc", LANDMINE_METHODS, "higher is better")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    drawn = False
    for ax, (problem, metric, methods, better) in zip(axes, panels):
        values = {m: [r[metric] for r in records if r["problem"] == problem
                      and r["solver"] == m and r["status"] == "ok"
                      and np.isfinite(r.get(metric, np.nan))] for m in methods}
        shown = [m for m in methods if values[m]]
        if not shown:
            ax.set_axis_off()
            ax.set_title(f"{problem}: no result")
            continue
        drawn = True
        means = np.array([np.mean(values[m]) for m in shown])
        stds = np.array([np.std(values[m], ddof=1) if len(values[m]) > 1 else 0.0
                         for m in shown])
        colors = ["C7" if m.startswith(("single", "pooled")) else "C0" for m in shown]
        ax.bar(range(len(shown)), means, yerr=stds if stds.any() else None, capsize=4,
               color=colors)
        for i, v in enumerate(means):
            ax.text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, rotation=25, ha="right", fontsize=8)
        lo, hi = float(np.min(means - stds)), float(np.max(means + stds))
        pad = 0.2 * (hi - lo) if hi > lo else 0.05
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
        ax.set_ylabel(f"test {metric} ({better})")
        ax.set_title(f"{problem}, split {SPLIT + 1}", fontsize=10)
    if not drawn:
        plt.close(fig)
        return []
    fig.suptitle("quick suite (blue: mtlreg, grey: scikit-learn baselines)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "quick_accuracy.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
