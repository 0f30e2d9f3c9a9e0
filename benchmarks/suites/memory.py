"""Peak memory of a fit against the size of ``X``, for every exported estimator.

The problem is the long format with many small tasks, where memory runs out
first: ``T`` tasks (1,000, 10,000 and 30,000) of ``n_t = 15`` samples and
``d = 20`` features (a sparse truth shared by the tasks, targets with noise;
labels ``y > 0`` for the classifiers), in float64 and in float32.

What is measured, for each estimator (its default parameters, ``max_iter=10``):

``peak_over_x``
    The peak of the memory allocated during ``est.fit(X, y, tasks=tasks)``
    (``tracemalloc``: NumPy reports its buffers to it; the user's ``X``, ``y``
    and ``tasks`` exist before and are not counted), divided by ``X.nbytes``.
    Each estimator first fits a slice of 50 tasks, untraced, so that imports
    and compiled kernels (numba) are loaded before the traced fit.  The
    traced fit stops at ``max_iter=10`` iterations: the task layout, the
    solver's state and one convergence check (every solver checks by its
    10th iteration) are allocated by then; a working set that grows later
    is not (an honest lower bound for those).
``peak_mb``, ``x_mb``
    The same peak, and ``X.nbytes``, in MB.
``coef_float32``
    1 when the fitted ``coef_`` of a float32 fit is float32, 0 when the fit
    went to float64 (float32 rows only).

``Clustered*`` and ``Relation*`` work on the smaller side of ``W`` and keep
their ``n_tasks x n_tasks`` matrices factored; their dense ``cluster_matrix_``,
``task_covariance_`` and ``task_correlation_`` are built only when read, which
the measurement does not do.  ``Graph*`` at their default ``graph=None`` (the
complete graph) use its closed form; a graph given explicitly stays sparse above
2,000 tasks and is eigendecomposed (a dense ``T x T``) below.
"""

import tracemalloc
import warnings

import numpy as np

from .._api import Case

DESCRIPTION = ("Peak memory of fit / X.nbytes (tracemalloc) for every estimator, long format "
               "with T = 1e3 .. 3e4 tasks of 15 samples x 20 features, float64 and float32")

TASKS = (1000, 10000, 30000)
N_T, D = 15, 20
MAX_ITER = 10


def _estimators():
    import mtlreg

    return sorted(name for name in mtlreg.__all__
                  if name.endswith(("Regressor", "Classifier")))


def _problem(T, dtype, seed):
    rng = np.random.default_rng([seed, T])
    X = rng.standard_normal((T * N_T, D)).astype(dtype)
    tasks = np.repeat(np.arange(T), N_T)
    W = rng.standard_normal((T, D)) * (rng.uniform(size=D) < 0.3)
    y = np.einsum("nd,nd->n", X, W[tasks]) + 0.5 * rng.standard_normal(T * N_T)
    return X, y.astype(dtype), tasks


def traced_peak(call):
    """Peak of the memory allocated while ``call()`` runs, in bytes (``tracemalloc``;
    what was allocated before is not counted)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()


def measure(name, T, dtype, seed=0):
    """``{peak_over_x, peak_mb, x_mb[, coef_float32]}`` of one estimator's fit."""
    import mtlreg

    X, y, tasks = _problem(T, dtype, seed)
    if name.endswith("Classifier"):
        y = (y > 0).astype(np.int64)
    cls = getattr(mtlreg, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=10
        m = 50 * N_T
        cls(max_iter=MAX_ITER).fit(X[:m], y[:m], tasks=tasks[:m])  # loads the kernels
        est = cls(max_iter=MAX_ITER)
        peak = traced_peak(lambda: est.fit(X, y, tasks=tasks))
    out = {"peak_over_x": peak / X.nbytes, "peak_mb": peak / 1e6, "x_mb": X.nbytes / 1e6}
    if dtype == np.float32:
        out["coef_float32"] = float(np.asarray(est.coef_).dtype == np.float32)
    return out


def _run(name, T, dtype, seed):
    def run():
        return measure(name, T, dtype, seed)
    return run


def cases(ctx):
    if ctx.device != "cpu":
        return
    for T in TASKS:
        for dtype in (np.float64, np.float32):
            for name in _estimators():
                yield Case(f"T={T} n_t={N_T} d={D} {np.dtype(dtype).name}", name,
                           _run(name, T, dtype, ctx.seed),
                           params={"n_tasks": T, "n_samples": T * N_T, "n_features": D,
                                   "dtype": np.dtype(dtype).name})


def summary(records):
    """The worst ``peak_over_x`` at each size, and which estimator has it."""
    lines = ["## Worst case", "",
             "| problem | worst peak / X | estimator | median peak / X |", "|---|---|---|---|"]
    problems = dict.fromkeys(r["problem"] for r in records)
    for problem in problems:
        ok = [r for r in records if r["problem"] == problem and r["status"] == "ok"]
        if not ok:
            continue
        worst = max(ok, key=lambda r: r["peak_over_x"])
        median = float(np.median([r["peak_over_x"] for r in ok]))
        lines.append(f"| {problem} | {worst['peak_over_x']:.2f} | {worst['solver']} | "
                     f"{median:.2f} |")
    return lines
