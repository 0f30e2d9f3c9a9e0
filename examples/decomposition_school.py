"""Convergence of the decomposition estimators on School and Landmine: Markdown tables.

Regression, School: the training part of split 1 (``load_school().splits[0][0]``,
11,472 samples, 139 tasks), the constant bias column 28 dropped (``X[:, :27]``,
each task gets a fitted intercept).  Two versions of the features:

* standardized with the training mean and standard deviation;
* raw (the School features have standard deviations from 0.07 to 15).

Classification, Landmine: all 14,820 samples (29 tasks), standardized.

For each model, ``alpha`` and ``beta`` are the same fraction of the ``alpha_max`` of
their part (``mtlreg.alpha_max`` with the part's penalty: e.g. ``"l1inf"`` and ``"l1"``
for ``DirtyRegressor``); ``W = 0`` exactly when both strengths reach their
``alpha_max``.  Every fit uses ``tol=1e-6`` and ``max_iter=50000`` (the default ``max_iter`` is
5000) and otherwise the defaults (``loss_scaling="mean"``, ``fit_intercept=True``,
``ridge=0``).  Columns:

* ``n_iter_``: FISTA iterations (the duality gap is checked every 10);
* CPU s: the median over ``--repeats`` fits of the process CPU time of ``fit``, in
  seconds, with BLAS limited to one thread (``threadpoolctl``).  CPU time rather than
  wall time because the development machine is shared: under load the wall time
  measures the other jobs too;
* rel. gap: ``dual_gap_ / objective_`` at the returned point;
* structure: nonzero feature rows of the shared part / nonzero entries of the
  task-specific part (Dirty), rank of the low-rank part / outlier tasks (Robust),
  nonzero feature rows of the shared part / outlier tasks (rMTFL).

A second table gives ``n_iter_`` alone over the full 4 x 4 grid of fractions, on the
standardized School features.

Run:  python examples/decomposition_school.py [--repeats 3]
"""

import argparse
import platform
import time
import warnings

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_limits

import mtlreg
from mtlreg.datasets import load_landmine, load_school

FRACTIONS = [0.3, 0.1, 0.03, 0.01]
MAX_ITER = 50000

# name, regressor, classifier, extra parameters, penalty of part 1, penalty of part 2
MODELS = [
    ("Dirty (linf)", mtlreg.DirtyRegressor, mtlreg.DirtyClassifier, {}, "l1inf", "l1"),
    ("Dirty (l2)", mtlreg.DirtyRegressor, mtlreg.DirtyClassifier, {"group_norm": "l2"},
     "l21", "l1"),
    ("Robust", mtlreg.RobustRegressor, mtlreg.RobustClassifier, {}, "trace", "task_l2"),
    ("rMTFL", mtlreg.RMTFLRegressor, mtlreg.RMTFLClassifier, {}, "l21", "task_l2"),
]


def structure(model):
    name = type(model).__name__
    if name.startswith("Dirty"):
        P, Q = model.coef_shared_, model.coef_specific_
        return f"{int(np.any(P != 0, axis=0).sum())} rows / {int(np.count_nonzero(Q))} entries"
    if name.startswith("Robust"):
        return f"rank {model.rank_} / {len(model.outlier_tasks_)} tasks"
    P = model.coef_shared_
    return f"{int(np.any(P != 0, axis=0).sum())} rows / {len(model.outlier_tasks_)} tasks"


def table(X, y, tasks, loss, repeats):
    print("| model | alpha / alpha_max | beta / beta_max | `n_iter_` | CPU s | rel. gap | "
          "converged | structure |")
    print("|---|---|---|---|---|---|---|---|")
    for name, reg, clf, extra, pen1, pen2 in MODELS:
        est = reg if loss == "squared" else clf
        amax1 = mtlreg.alpha_max(X, y, tasks, penalty=pen1, loss=loss)
        amax2 = mtlreg.alpha_max(X, y, tasks, penalty=pen2, loss=loss)
        for f in FRACTIONS:
            times = []
            for _ in range(repeats):
                model = est(alpha=f * amax1, beta=f * amax2, tol=1e-6, max_iter=MAX_ITER,
                            **extra)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # converged_ is reported instead
                    t0 = time.process_time()
                    model.fit(X, y, tasks=tasks)
                    times.append(time.process_time() - t0)
            print(f"| {name} | {f:g} | {f:g} | {model.n_iter_} | {np.median(times):.2f} | "
                  f"{model.dual_gap_ / model.objective_:.1e} | "
                  f"{'yes' if model.converged_ else 'no'} | {structure(model)} |")
        print(f"| | `alpha_max`: {amax1:.4g} (`{pen1}`) | `beta_max`: {amax2:.4g} (`{pen2}`) "
              "| | | | | |")


def largest_task_curvature(X, tasks):
    """``max_t lambda_max(X_t^T X_t) / n_t`` with ``X_t`` centred per task: the data
    fit's Lipschitz constant with ``loss_scaling="mean"`` (FISTA's step is ``1 / (2 L)``
    for two parts)."""
    return max(np.linalg.eigvalsh(np.cov(X[tasks == t].T, bias=True))[-1]
               for t in np.unique(tasks))


def grid(X, y, tasks, loss):
    """``n_iter_`` over every (alpha, beta) pair of FRACTIONS; one fit each."""
    columns = " | ".join(f"beta / beta_max = {f:g}" for f in FRACTIONS)
    print(f"| model | alpha / alpha_max | {columns} |")
    print("|---|---|" + "---|" * len(FRACTIONS))
    worst, all_converged = 0.0, True
    for name, reg, clf, extra, pen1, pen2 in MODELS:
        est = reg if loss == "squared" else clf
        amax1 = mtlreg.alpha_max(X, y, tasks, penalty=pen1, loss=loss)
        amax2 = mtlreg.alpha_max(X, y, tasks, penalty=pen2, loss=loss)
        for fa in FRACTIONS:
            cells = []
            for fb in FRACTIONS:
                model = est(alpha=fa * amax1, beta=fb * amax2, tol=1e-6, max_iter=MAX_ITER,
                            **extra)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y, tasks=tasks)
                worst = max(worst, model.dual_gap_ / model.objective_)
                all_converged &= model.converged_
                cells.append(str(model.n_iter_))
            print(f"| {name} | {fa:g} | " + " | ".join(cells) + " |")
    print(f"\nAll {len(MODELS) * len(FRACTIONS) ** 2} fits converged: {all_converged}; "
          f"largest relative gap {worst:.1e}.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per timing (median)")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        run(args)


def run(args):
    print(f"mtlreg {mtlreg.__version__}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
          f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}\n")

    school = load_school()
    train = school.splits[0][0]
    X = school.X[train, :27]
    y, tasks = school.y[train], school.tasks[train]
    std = X.std(axis=0)
    Xstd = (X - X.mean(axis=0)) / std
    print(f"School split 1, training part: {X.shape[0]} samples, {len(np.unique(tasks))} tasks, "
          f"{X.shape[1]} features, feature std from {std.min():.2g} to {std.max():.3g}; "
          f"L = max_t lambda_max(cov(X_t)): {largest_task_curvature(Xstd, tasks):.4g} "
          f"standardized, {largest_task_curvature(X, tasks):.4g} raw\n")
    print("### School, standardized features\n")
    table(Xstd, y, tasks, "squared", args.repeats)
    print("\n### School, standardized features, `n_iter_` over the (alpha, beta) grid\n")
    grid(Xstd, y, tasks, "squared")
    print("\n### School, raw features\n")
    table(X, y, tasks, "squared", args.repeats)

    mines = load_landmine()
    Xl = mines.X
    print(f"\n### Landmine, standardized features ({Xl.shape[0]} samples, "
          f"{len(np.unique(mines.tasks))} tasks, {Xl.shape[1]} features)\n")
    table((Xl - Xl.mean(axis=0)) / Xl.std(axis=0), mines.y, mines.tasks, "logistic",
          args.repeats)


if __name__ == "__main__":
    main()
