"""A fast subset of the benchmarks (well under 2 minutes on 2 cores), run by the tests.

Self-contained (it does not import the other suites):

* ``school``, split 1 of Argyriou et al.: ``L21Regressor``, ``MTFLRegressor``,
  ``LassoRegressor`` against one Ridge per task (``single-task Ridge``, one
  shared ``alpha``) and one Ridge on all tasks' samples (``pooled Ridge``).
  Metrics: ``nmse = MSE / Var(y_test)`` and scikit-learn's
  ``explained_variance = 1 - Var(y - y_hat) / Var(y)``, over all test samples.
* ``landmine``, one random 50/50 split drawn within each task and class
  (``--seed``): ``L21Classifier``, ``MTFLClassifier``, ``LassoClassifier``
  against per-task and pooled ``LogisticRegression``.  Metric: ``auc``, the
  ROC AUC of each task's test samples averaged over the tasks.
* ``shared n=2000 d=100 T=10``: ``L21Regressor`` and scikit-learn's
  ``MultiTaskLasso`` on the same shared-design problem at
  ``alpha = 0.1 alpha_max``, each timed until its relative suboptimality is
  below 1e-6 against the lower objective of two very tight solves (the
  protocol of ``benchmarks/bench_l21_vs_sklearn.py``), best of 10 interleaved
  timings; reports both times and ``speedup = time(sklearn) / time(mtlreg)``,
  measured side by side, with single-threaded BLAS (see :func:`speed`).  The
  fits take milliseconds: use the ``speed`` suite or the standalone script for
  claims.

Accuracy protocol: features standardized on the training part (constant
columns dropped: intercepts are fitted per task); the hyper-parameter is
chosen by 3-fold cross-validation on the training part only (folds drawn
within each task, and each class for Landmine, so every fold holds every
task), criterion pooled validation MSE or mean per-task validation AUC; the
model is then refitted on the whole training part.  Grids (5 values,
largest first, mtlreg paths warm-started):

* Lasso / L2,1: ``alpha_max * geomspace(0.5, 0.005, 5)`` (``mtlreg.alpha_max``
  of the training part);
* MTFL (no ``alpha_max``): ``alpha_ref * geomspace(10, 0.01, 5)`` with
  ``alpha_ref = sigma_max(G)^2 / (4 F(0))``, ``G`` the loss gradient and
  ``F(0)`` the loss at ``W = 0`` (the strength at which the best rank-one
  step along ``G``, on the linear model of the loss, would remove all of
  ``F(0)``);
* Ridge ``alpha`` in ``logspace(-2, 4, 5)``; LogisticRegression ``C`` in
  ``logspace(-3, 2, 5)``.

The accuracy cases also run with single-threaded BLAS (at most 28 features:
threads only add overhead there).  Under ``--device cuda`` the mtlreg
estimators fit CuPy arrays (skipped without CuPy or a GPU); the scikit-learn
baselines stay on the CPU, and the speed case (a CPU comparison) skips.
"""

import functools
import time
import warnings

import numpy as np

from .._api import Case, Skip

DESCRIPTION = ("Fast subset (< 2 min on 2 cores): School split 1 and one Landmine split "
               "(mtlreg Lasso/L21/MTFL vs per-task and pooled baselines, 3-fold CV), and "
               "L21Regressor vs MultiTaskLasso time to 1e-6 on n=2000, d=100, T=10")

N_FOLDS = 3
NORM_GRID = np.geomspace(0.5, 0.005, 5)   # times alpha_max (Lasso, L2,1)
MTFL_GRID = np.geomspace(10.0, 0.01, 5)   # times alpha_ref (MTFL)
RIDGE_GRID = np.logspace(-2, 4, 5)        # sklearn Ridge alpha (sum of squares)
C_GRID = np.logspace(-3, 2, 5)            # sklearn LogisticRegression C

SCHOOL_METHODS = ("L21Regressor", "MTFLRegressor", "LassoRegressor",
                  "single-task Ridge", "pooled Ridge")
LANDMINE_METHODS = ("L21Classifier", "MTFLClassifier", "LassoClassifier",
                    "single-task LogisticRegression", "pooled LogisticRegression")
SPEED_PROBLEM = (2000, 100, 10, 5)        # n, d, T, support size
SPEED_LABEL = "shared n=2000 d=100 T=10"
REL_SUBOPT = 1e-6


# -- data ------------------------------------------------------------------------------------
def _standardize(X, train, test):
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    keep = std > 1e-12 * np.maximum(1.0, np.abs(mean))  # constant columns: intercepts cover them
    Z = (X[:, keep] - mean[keep]) / std[keep]
    return Z[train], Z[test]


def _within_task_split(tasks, labels, test_fraction, rng):
    test = np.zeros(tasks.shape[0], dtype=bool)
    strata = tasks * (int(labels.max()) + 1) + labels
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        test[rng.permutation(idx)[:int(round(test_fraction * idx.size))]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def _within_task_folds(tasks, n_folds, rng, labels=None):
    """Each task's samples (each class of a task with ``labels``) dealt round-robin
    in random order to the folds, so every fold holds every task."""
    fold = np.empty(tasks.shape[0], dtype=np.int64)
    for t in np.unique(tasks):
        in_task = np.flatnonzero(tasks == t)
        groups = [in_task] if labels is None else [in_task[labels[in_task] == c]
                                                   for c in np.unique(labels[in_task])]
        start = int(rng.integers(n_folds))
        for idx in groups:
            fold[rng.permutation(idx)] = (start + np.arange(idx.size)) % n_folds
            start = (start + idx.size) % n_folds
    return fold


@functools.lru_cache(maxsize=None)
def _data(problem, seed):
    """Standardized train/test parts and CV folds of one problem (cached)."""
    from mtlreg.datasets import load_landmine, load_school

    if problem == "school":
        b = load_school()
        train, test = b.splits[0]
    else:
        b = load_landmine()
        train, test = _within_task_split(b.tasks, b.y, 0.5, np.random.default_rng([seed, 0, 7]))
    Xtr, Xte = _standardize(b.X, train, test)
    d = dict(Xtr=Xtr, Xte=Xte, ytr=b.y[train], yte=b.y[test], ttr=b.tasks[train],
             tte=b.tasks[test])
    labels = d["ytr"] if problem == "landmine" else None
    d["fold"] = _within_task_folds(d["ttr"], N_FOLDS, np.random.default_rng([seed, 0, 11]),
                                   labels=labels)
    return d


# -- methods: grid(X, y, tasks) and path(...) -> one prediction per grid value ----------------
def _cuda_arrays(device):
    """A function moving host arrays to the device of ``--device`` (Skip if impossible)."""
    if device != "cuda":
        return None
    try:
        import cupy
    except ImportError:
        raise Skip("--device cuda: CuPy is not installed") from None
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise Skip(f"--device cuda: no usable GPU ({type(exc).__name__}: {exc})") from None
    if n_gpus == 0:
        raise Skip("--device cuda: no GPU found")
    return cupy.asarray


def _mtfl_reference_alpha(X, y, tasks, classification):
    """``sigma_max(G)^2 / (4 F(0))`` at ``W = 0`` with the optimal intercepts."""
    blocks, loss0 = [], 0.0
    for t in np.unique(tasks):
        m = tasks == t
        Xt, yt = X[m], y[m].astype(np.float64)
        if classification:
            p = float(np.clip(yt.mean(), 1e-12, 1 - 1e-12))
            blocks.append(Xt.T @ (p - yt) / yt.size)
            loss0 -= float(np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)))
        else:
            yc = yt - yt.mean()
            blocks.append(-(Xt - Xt.mean(axis=0)).T @ yc / yt.size)
            loss0 += 0.5 * float(np.mean(yc * yc))
    sigma = np.linalg.svd(np.column_stack(blocks), compute_uv=False)[0]
    return sigma ** 2 / (4 * loss0)


class _MtlregMethod:
    def __init__(self, name, classification, device):
        import mtlreg

        self.cls = getattr(mtlreg, name)
        self.name, self.classification = name, classification
        self.to_device = _cuda_arrays(device)
        self.not_converged = 0

    def grid(self, X, y, tasks):
        from mtlreg import alpha_max

        if self.name.startswith("MTFL"):
            return list(_mtfl_reference_alpha(X, y, tasks, self.classification) * MTFL_GRID)
        penalty = "l1" if self.name.startswith("Lasso") else "l21"
        amax = alpha_max(X, y, tasks, penalty=penalty,
                         loss="logistic" if self.classification else "squared")
        return list(amax * NORM_GRID)

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        from sklearn import config_context
        from sklearn.exceptions import ConvergenceWarning

        from mtlreg._backend import to_numpy

        if self.to_device is not None:
            Xtr, ytr, Xev = self.to_device(Xtr), self.to_device(ytr), self.to_device(Xev)
        est = self.cls(warm_start=True)
        out = []
        with config_context(array_api_dispatch=self.to_device is not None), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # counted below instead
            for alpha in grid:
                est.set_params(alpha=float(alpha)).fit(Xtr, ytr, tasks=ttr)
                self.not_converged += not est.converged_
                score = est.decision_function if self.classification else est.predict
                out.append(np.asarray(to_numpy(score(Xev, tasks=tev)), dtype=np.float64))
        return out


def _sk_estimator(classification, value):
    from sklearn.linear_model import LogisticRegression, Ridge

    if classification:
        return LogisticRegression(C=value, max_iter=1000)
    return Ridge(alpha=value)


def _sk_score(est, X, classification):
    return est.decision_function(X) if classification else est.predict(X)


class _SingleTask:
    """One scikit-learn model per task, one regularization strength shared by all."""

    def __init__(self, classification):
        self.classification, self.not_converged = classification, 0

    def grid(self, X, y, tasks):
        return list(C_GRID if self.classification else RIDGE_GRID)

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        out = [np.zeros(Xev.shape[0]) for _ in grid]
        for t in np.unique(tev):
            fit, ev = ttr == t, tev == t
            if np.unique(ytr[fit]).size < 2 and self.classification:
                for o in out:  # one class seen: constant decision value
                    o[ev] = 1.0 if ytr[fit][0] == ytr.max() else -1.0
                continue
            for o, value in zip(out, grid):
                est = _sk_estimator(self.classification, value).fit(Xtr[fit], ytr[fit])
                o[ev] = _sk_score(est, Xev[ev], self.classification)
        return out


class _Pooled(_SingleTask):
    """One scikit-learn model on all tasks' samples (tasks ignored)."""

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        return [_sk_score(_sk_estimator(self.classification, v).fit(Xtr, ytr), Xev,
                          self.classification) for v in grid]


def _make_method(name, classification, device):
    if name.startswith("single-task"):
        return _SingleTask(classification)
    if name.startswith("pooled"):
        return _Pooled(classification)
    return _MtlregMethod(name, classification, device)


# -- scores and the protocol --------------------------------------------------------------------
def _mean_task_auc(y, score, tasks):
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(y[tasks == t], score[tasks == t]) for t in np.unique(tasks)
            if np.unique(y[tasks == t]).size == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def _cv_loss(classification, y, pred, tasks):
    """Lower is better."""
    if classification:
        return -_mean_task_auc(y, pred, tasks)
    return float(np.mean((y - pred) ** 2))


def evaluate(problem, method_name, seed=0, device="cpu"):
    """Cross-validate, refit and score one method; returns the metrics.

    BLAS runs single-threaded here: these problems are tiny (at most 28
    features), threads only add overhead, and on a loaded machine a
    multi-threaded BLAS spinning on small products was measured 50x slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _evaluate(problem, method_name, seed, device)


def _evaluate(problem, method_name, seed, device):
    from sklearn.metrics import explained_variance_score

    classification = problem == "landmine"
    method = _make_method(method_name, classification, device)
    d = _data(problem, seed)
    Xtr, ytr, ttr, fold = d["Xtr"], d["ytr"], d["ttr"], d["fold"]
    t0 = time.perf_counter()
    grid = method.grid(Xtr, ytr, ttr)
    losses = np.zeros(len(grid))
    for f in range(N_FOLDS):
        fit, val = fold != f, fold == f
        preds = method.path(Xtr[fit], ytr[fit], ttr[fit], Xtr[val], ttr[val], grid)
        losses += [_cv_loss(classification, ytr[val], p, ttr[val]) for p in preds]
    best = int(np.nanargmin(losses))
    pred = method.path(Xtr, ytr, ttr, d["Xte"], d["tte"], [grid[best]])[0]
    seconds = time.perf_counter() - t0
    yte = d["yte"]
    if classification:
        metrics = {"auc": _mean_task_auc(yte, pred, d["tte"])}
    else:
        metrics = {"nmse": float(np.mean((yte - pred) ** 2) / np.var(yte)),
                   "explained_variance": float(explained_variance_score(yte, pred))}
    metrics.update(selected_param=float(grid[best]), seconds=seconds,
                   n_not_converged=float(method.not_converged))
    return metrics


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
    for method in SCHOOL_METHODS:
        yield Case("school", method, _run_accuracy("school", method, ctx.seed, ctx.device),
                   params={"split": 0})
    for method in LANDMINE_METHODS:
        yield Case("landmine", method, _run_accuracy("landmine", method, ctx.seed, ctx.device),
                   params={"split": 0})
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
        split = "split 1" if problem == "school" else "one 50/50 split"
        ax.set_title(f"{problem}, {split}", fontsize=10)
    if not drawn:
        plt.close(fig)
        return []
    fig.suptitle("quick suite (blue: mtlreg, grey: scikit-learn baselines)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "quick_accuracy.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
