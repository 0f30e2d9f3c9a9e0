"""Prediction accuracy on the bundled real data sets.

Every mtlreg estimator of the feature-learning, low-rank and decomposition
families against two scikit-learn baselines a user would try first:

* ``single-task``: one Ridge / LogisticRegression per task, fitted task by
  task (one shared regularization strength, chosen by cross-validation);
* ``pooled``: one Ridge / LogisticRegression on all tasks' samples together
  (tasks ignored).

Data sets, splits and metrics:

=============  ==============  ===========================================  =====================
data set       task            splits                                       metrics
=============  ==============  ===========================================  =====================
school         regression      the 10 train/test splits of Argyriou et al.  nmse, explained_variance
landmine       classification  10 random 50/50 splits, stratified per task  auc (mean over tasks)
parkinsons     regression      10 random 75/25 splits within each task      nmse, explained_variance
               (motor UPDRS)
computer       regression      the given split: profiles 1-16 / 17-20       nmse, explained_variance
=============  ==============  ===========================================  =====================

``nmse = MSE / Var(y_test)`` over all test samples; ``explained_variance``
is scikit-learn's ``1 - Var(y - y_hat) / Var(y)`` over all test samples;
``task_nmse`` (also reported) is the mean over tasks of each task's
``MSE_t / Var(y_t,test)``: on Parkinson's the pooled ``nmse`` is dominated by
the between-patient variance that per-task intercepts absorb, the per-task
one shows what remains;
``auc`` is the ROC AUC of each task's test samples, averaged over the tasks
whose test part holds both classes.  One case per (data set, split, method):
the runner's repeats then re-run the same split, and the spread over splits
(``params["split"]``) gives the error bars of :func:`figures`.

Protocol (identical for every method): features standardized on the
training part (constant columns dropped: intercepts are fitted per task);
the hyper-parameter is chosen by 3-fold cross-validation on the training
part only, folds drawn within each task (stratified by label for
classification) so that every fold holds every task; the model is then
refitted on the whole training part.  CV criterion: pooled validation MSE
(regression), mean per-task validation AUC (classification).  Grids:

* Lasso / L2,1 / trace norm: 6 values ``alpha_max * geomspace(1, 1e-3)`` (``mtlreg.alpha_max``
  of the training part), fitted from the largest down with ``warm_start=True``;
* MTFL (squared trace norm, no ``alpha_max``): 6 values
  ``alpha_ref * geomspace(10, 1e-4)`` with ``alpha_ref = sigma_max(G)^2 / (4 F(0))``
  (``G`` the loss gradient at ``W = 0``, ``F(0)`` the loss there: the
  strength at which a rank-one step along ``G`` would halve nothing less than
  the whole loss), warm-started likewise;
* two-part models ``W = P + Q`` (Dirty, Robust, RMTFL, SparseTrace; penalty
  ``alpha * h1(P) + beta * h2(Q)``): a 4 x 2 grid.  ``alpha = a * alpha_max(h1)``
  with ``a`` in ``geomspace(0.3, 0.01, 4)``, and ``beta = r * alpha`` with two
  ratios placed geometrically inside the interval ``(r_lo, r_hi)`` where both
  parts can be non-zero -- at ``r >= r_hi`` the second part is zero at every
  ``alpha`` (the one-part model: L1,inf, trace norm, L2,1), at ``r <= r_lo``
  the first part is -- namely ``r = r_lo^(1-s) r_hi^s`` for ``s`` in
  ``(1/2, 5/6)``.  The bounds follow from comparing the parts' dual norms:
  Dirty ``(1/T, 1)``, Robust ``(1/sqrt(T), 1)``, RMTFL ``(1/sqrt(T), sqrt(d))``,
  SparseTrace ``(1/sqrt(dT), 1)`` (``T`` tasks, ``d`` features of the training
  part).  Each ratio is one warm-started path (largest ``alpha`` first, a
  fresh estimator per ratio);
* cASO (``alpha, beta, n_components=2``; ``beta`` is the ridge strength inside
  the shared ``n_components``-dimensional subspace and ``alpha + beta`` the one
  outside it): ``beta`` in ``geomspace(0.3, 0.01, 4)`` (features are
  standardized and the loss is a mean per task, so these are absolute
  strengths) times ``eta = beta / alpha`` in ``(0.1, 0.01)``, warm-started
  along ``beta`` for each ``eta``.

  These 8-point grids were chosen from finer grids scored by the same
  cross-validation on split 1 (test parts unused): two-part models on a
  7 x 7 grid (``a`` in ``geomspace(1, 1e-3, 7)``, ``s`` in ``0, 1/6, ..., 1``;
  Dirty, Robust and RMTFL on School, Landmine and Computer, SparseTrace on
  School, Dirty and Robust on Parkinson's), whose optimum lay at ``a`` =
  0.1 - 0.32 (School, Landmine, Computer) or 0.01 - 0.032 (Parkinson's) and at
  ``s >= 1/2`` except Dirty on Computer (``s = 1/6``) and Landmine (``s = 0``);
  cASO on a 5 x 3 x 3 grid (``beta`` in ``geomspace(1, 1e-4, 5)``, ``eta`` in
  ``(1, 0.1, 0.01)``, ``n_components`` in ``(1, 2, 4)``; School, Landmine,
  Computer), optimum at ``beta`` = 0.01 - 0.1, ``eta`` = 0.01 or 0.1 (at
  ``n_components=2``).  Larger grids cost too much: with a 4 x 3 grid
  (``s`` in ``(1/6, 1/2, 5/6)``) the new models took 2.5 times as long as the
  old ones together (split 1 of each data set, weighted by its number of
  splits).  The two-part metrics ``part2_nonzero`` (fraction of non-zero
  entries of the second part of the refitted model) and ``part2_tasks``
  (tasks whose row of it is non-zero) tell whether the decomposition was
  used: with the second part zero the model is its one-part model at an
  ``alpha`` the one-part grid may not contain;
* Ridge: ``alpha`` in ``logspace(-2, 5, 8)`` (one fit for the whole grid: one
  alpha per target column); LogisticRegression (``solver="newton-cholesky"``,
  warm-started): ``C`` in ``logspace(-4, 3, 8)`` (scikit-learn's
  sum-of-losses convention).

Every case runs with single-threaded BLAS/LAPACK: the problems have at most
28 features, and on the shared 2-core development machine under load (load
average 10) one ``numpy.linalg.eigh`` of a 27 x 27 matrix -- what cASO does
at every gradient -- took 84 ms with the default two OpenBLAS threads against
0.94 ms with one (the ``quick`` suite does the same for the same reason).

Metrics also report the selected hyper-parameter (``selected_param``: alpha,
or C for LogisticRegression; ``selected_beta`` too for the two-parameter
models), the wall time of CV plus refit (``seconds``)
and the number of mtlreg fits that stopped at ``max_iter``
(``n_not_converged``).
"""

import functools
import time
import warnings

import numpy as np

from .._api import Case, Skip

DESCRIPTION = ("Accuracy on School, Landmine, Parkinson's, Computer: mtlreg Lasso/L21/MTFL/Trace/"
               "SparseTrace/CASO/Dirty/Robust/RMTFL vs per-task and pooled scikit-learn baselines, "
               "hyper-parameters by within-task 3-fold CV")

N_SPLITS = 10
N_FOLDS = 3
NORM_GRID = np.geomspace(1.0, 1e-3, 6)        # times alpha_max (Lasso, L2,1)
MTFL_GRID = np.geomspace(10.0, 1e-4, 6)       # times alpha_ref (MTFL)
RIDGE_GRID = np.logspace(-2, 5, 8)            # sklearn Ridge alpha (sum of squares)
C_GRID = np.logspace(-4, 3, 8)                # sklearn LogisticRegression C
PAIR_GRID = np.geomspace(0.3, 0.01, 4)        # alpha / alpha_max(h1) (two-part models)
RATIO_POSITIONS = (1 / 2, 5 / 6)              # beta / alpha: positions in log(r_lo) .. log(r_hi)
CASO_BETA_GRID = np.geomspace(0.3, 0.01, 4)   # cASO ridge strength inside the shared subspace
CASO_ETAS = (0.1, 0.01)                       # cASO eta = beta / alpha
CASO_COMPONENTS = 2

# Two-part models: penalty of the first part (for alpha_max), the interval
# (r_lo, r_hi) of beta / alpha in which both parts can be non-zero, as
# functions of (n_features, n_tasks), and the fitted attribute of the second part.
TWO_PART_MODELS = {
    "Dirty": ("l1inf", lambda d, T: 1.0 / T, lambda d, T: 1.0, "coef_specific_"),
    "Robust": ("trace", lambda d, T: T ** -0.5, lambda d, T: 1.0, "coef_outlier_"),
    "RMTFL": ("l21", lambda d, T: T ** -0.5, lambda d, T: d ** 0.5, "coef_outlier_"),
    "SparseTrace": ("trace", lambda d, T: (d * T) ** -0.5, lambda d, T: 1.0, "coef_sparse_"),
}

REGRESSION_METHODS = ("LassoRegressor", "L21Regressor", "MTFLRegressor", "TraceRegressor",
                      "SparseTraceRegressor", "CASORegressor", "DirtyRegressor",
                      "RobustRegressor", "RMTFLRegressor", "single-task Ridge", "pooled Ridge")
CLASSIFICATION_METHODS = ("LassoClassifier", "L21Classifier", "MTFLClassifier",
                          "TraceClassifier", "SparseTraceClassifier", "CASOClassifier",
                          "DirtyClassifier", "RobustClassifier", "RMTFLClassifier",
                          "single-task LogisticRegression", "pooled LogisticRegression")

# Rough upper bounds of the seconds per case on the 2-core development machine
# (CV + refit; mtlreg estimators, scikit-learn baselines), to honour --max-time.
_EXPECTED_SECONDS = {"school": (10.0, 1.5), "landmine": (10.0, 2.5), "parkinsons": (10.0, 0.5),
                     "computer": (5.0, 1.0)}


# -- data ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _load(name):
    from mtlreg import datasets

    if name == "school":
        b = datasets.load_school()
    elif name == "landmine":
        b = datasets.load_landmine()
    elif name == "parkinsons":
        b = datasets.load_parkinsons(target="motor_UPDRS")
    elif name == "computer":
        b = datasets.load_computer()
    else:
        raise ValueError(name)
    return b


DATASETS = {
    # name: (kind, number of splits)
    "school": ("regression", N_SPLITS),
    "landmine": ("classification", N_SPLITS),
    "parkinsons": ("regression", N_SPLITS),
    "computer": ("regression", 1),
}


def within_task_split(tasks, test_fraction, rng, labels=None):
    """Random train/test split drawn inside each task (and each class of a task
    when ``labels`` is given), so both parts hold every task."""
    test = np.zeros(tasks.shape[0], dtype=bool)
    strata = tasks if labels is None else tasks * (int(labels.max()) + 1) + labels
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        n_test = int(round(test_fraction * idx.size))
        test[rng.permutation(idx)[:n_test]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def within_task_folds(tasks, n_folds, rng, labels=None):
    """Fold id of each sample: each task's samples (each class of a task when
    ``labels`` is given) are dealt round-robin, in random order, to the folds
    -- starting at a random fold per stratum -- so every fold holds every task
    with at least ``n_folds`` samples, and every class of it where possible."""
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


def _split(name, i, seed):
    b = _load(name)
    if name in ("school", "computer"):
        return b.splits[i]
    rng = np.random.default_rng([seed, i, 7])
    if name == "landmine":
        return within_task_split(b.tasks, 0.5, rng, labels=b.y)
    return within_task_split(b.tasks, 0.25, rng)


def _standardize(X, train, test):
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    keep = std > 1e-12 * np.maximum(1.0, np.abs(mean))  # constant columns: intercepts cover them
    Z = (X[:, keep] - mean[keep]) / std[keep]
    return Z[train], Z[test]


# -- methods ---------------------------------------------------------------------------------
# A method: grid(X, y, tasks) -> list of hyper-parameters, most regularized first;
# path(Xtr, ytr, ttr, Xev, tev, grid) -> list of predictions on Xev (regression) or
# decision values (classification), one per grid value, fitted along the grid.


def _cuda_arrays(device):
    """A function moving host arrays to the GPU for ``device="cuda"`` (``None`` for the
    CPU); raises Skip without CuPy or a GPU."""
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


class GridPoint(tuple):
    """One hyper-parameter setting of an mtlreg estimator: ``params`` (keyword
    arguments of ``set_params``) and ``path`` (settings with the same path id are
    fitted in grid order by one warm-started estimator)."""

    def __new__(cls, params, path=0):
        return super().__new__(cls, (dict(params), path))

    @property
    def params(self):
        return self[0]

    @property
    def path(self):
        return self[1]


class _MtlregMethod:
    def __init__(self, name, kind, device="cpu"):
        import mtlreg

        self.name = name
        self.estimator_class = getattr(mtlreg, name)
        self.kind = kind
        family = name[:-len("Regressor")] if name.endswith("Regressor") else \
            name[:-len("Classifier")]
        self.family = family
        self.penalty = {"Lasso": "l1", "L21": "l21", "Trace": "trace"}.get(family)
        self.to_device = _cuda_arrays(device)
        self.not_converged = 0

    def grid(self, X, y, tasks):
        """Grid points, most regularized first along each path."""
        from mtlreg import alpha_max

        loss = "squared" if self.kind == "regression" else "logistic"
        if self.family in TWO_PART_MODELS:
            penalty, r_lo, r_hi, _ = TWO_PART_MODELS[self.family]
            d, T = X.shape[1], np.unique(tasks).size
            top = alpha_max(X, y, tasks, penalty=penalty, loss=loss)
            lo, hi = r_lo(d, T), r_hi(d, T)
            return [GridPoint({"alpha": a * top, "beta": lo ** (1 - s) * hi ** s * a * top}, j)
                    for j, s in enumerate(RATIO_POSITIONS) for a in PAIR_GRID]
        if self.family == "CASO":
            return [GridPoint({"alpha": b / eta, "beta": b,
                               "n_components": min(CASO_COMPONENTS, X.shape[1])}, j)
                    for j, eta in enumerate(CASO_ETAS) for b in CASO_BETA_GRID]
        if self.penalty is not None:
            top = alpha_max(X, y, tasks, penalty=self.penalty, loss=loss)
            return [GridPoint({"alpha": a}) for a in top * NORM_GRID]
        return [GridPoint({"alpha": a})
                for a in _mtfl_reference_alpha(X, y, tasks, loss) * MTFL_GRID]

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        from sklearn import config_context
        from sklearn.exceptions import ConvergenceWarning

        from mtlreg._backend import to_numpy

        on_gpu = self.to_device is not None
        if on_gpu:  # the data on the GPU; tasks and predictions stay NumPy arrays
            Xtr, ytr, Xev = self.to_device(Xtr), self.to_device(ytr), self.to_device(Xev)
        est, path = None, None
        out = []
        with config_context(array_api_dispatch=on_gpu):
            for point in grid:
                if est is None or point.path != path:
                    est, path = self.estimator_class(warm_start=True, max_iter=5000), point.path
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    est.set_params(**point.params).fit(Xtr, ytr, ttr)
                self.not_converged += sum(issubclass(w.category, ConvergenceWarning)
                                          for w in caught)
                score = est.predict if self.kind == "regression" else est.decision_function
                out.append(np.asarray(to_numpy(score(Xev, tasks=tev)), dtype=np.float64))
        self.last_estimator = est
        return out

    def second_part(self):
        """Fraction of non-zero entries of the last fit's second part, and the
        number of tasks whose row of it is non-zero (two-part models; else None)."""
        if self.family not in TWO_PART_MODELS:
            return None
        from mtlreg._backend import to_numpy

        Q = np.asarray(to_numpy(getattr(self.last_estimator, TWO_PART_MODELS[self.family][3])))
        return float(np.mean(Q != 0)), float(np.sum(np.any(Q != 0, axis=1)))


def _mtfl_reference_alpha(X, y, tasks, loss):
    """``sigma_max(G)^2 / (4 F(0))`` with ``G`` (features x tasks) the gradient of the
    mean-per-task loss at ``W = 0`` (optimal intercepts) and ``F(0)`` the loss there."""
    labels = np.unique(tasks)
    G = np.empty((X.shape[1], labels.size))
    F0 = 0.0
    for k, t in enumerate(labels):
        m = tasks == t
        Xt = X[m] - X[m].mean(axis=0)
        if loss == "squared":
            r = y[m] - y[m].mean()
            F0 += 0.5 * np.mean(r * r)
        else:
            pos = (y[m] == y.max()).astype(float)
            p = np.clip(pos.mean(), 1e-12, 1 - 1e-12)
            r = pos - p
            F0 += -(p * np.log(p) + (1 - p) * np.log(1 - p))
        G[:, k] = -Xt.T @ r / m.sum()
    sigma = np.linalg.norm(G, 2)
    return sigma ** 2 / (4.0 * max(F0, 1e-300))


class _SingleTask:
    """One scikit-learn model per task, one strength shared by all tasks."""

    def __init__(self, kind):
        self.kind = kind
        self.not_converged = 0

    def grid(self, X, y, tasks):
        return list(RIDGE_GRID if self.kind == "regression" else C_GRID)

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        out = np.zeros((len(grid), Xev.shape[0]))
        for t in np.unique(tev):
            tr, ev = ttr == t, tev == t
            out[:, ev] = _sk_path(self.kind, Xtr[tr], ytr[tr], Xev[ev], grid)
        return list(out)


class _Pooled(_SingleTask):
    """One scikit-learn model on all tasks' samples (tasks ignored)."""

    def path(self, Xtr, ytr, ttr, Xev, tev, grid):
        return list(_sk_path(self.kind, Xtr, ytr, Xev, grid))


def _sk_path(kind, Xtr, ytr, Xev, grid):
    """Predictions (n_grid, n_ev) of Ridge / LogisticRegression along ``grid``."""
    if kind == "regression":
        from sklearn.linear_model import Ridge

        # one fit for the whole grid: Ridge takes one alpha per target column
        grid = np.asarray(grid, dtype=float)
        Y = np.repeat(ytr[:, None], grid.size, axis=1)
        return Ridge(alpha=grid).fit(Xtr, Y).predict(Xev).reshape(Xev.shape[0], -1).T
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(ytr)
    if classes.size < 2:  # a task (fold) with one class: constant score
        sign = 1.0 if classes[0] == 1 else -1.0
        return np.full((len(grid), Xev.shape[0]), sign * 30.0)
    # newton-cholesky: exact on these few features, ~20x faster than lbfgs here
    est = LogisticRegression(solver="newton-cholesky", warm_start=True, max_iter=1000)
    out = np.empty((len(grid), Xev.shape[0]))
    for k, C in enumerate(grid):
        out[k] = est.set_params(C=C).fit(Xtr, ytr).decision_function(Xev)
    return out


def _make_method(name, kind, device="cpu"):
    if name.startswith("single-task"):
        return _SingleTask(kind)
    if name.startswith("pooled"):
        return _Pooled(kind)
    return _MtlregMethod(name, kind, device)


# -- scores ------------------------------------------------------------------------------
def _mean_task_auc(y, score, tasks):
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(y[tasks == t], score[tasks == t]) for t in np.unique(tasks)
            if np.unique(y[tasks == t]).size == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def _cv_loss(kind, y, pred, tasks):
    """Lower is better."""
    if kind == "regression":
        return float(np.mean((y - pred) ** 2))
    return -_mean_task_auc(y, pred, tasks)


def _regression_scores(y, pred, tasks):
    from sklearn.metrics import explained_variance_score

    mse = float(np.mean((y - pred) ** 2))
    per_task = [np.mean((y[m] - pred[m]) ** 2) / np.var(y[m])
                for m in (tasks == t for t in np.unique(tasks)) if np.var(y[m]) > 0]
    return {"nmse": mse / float(np.var(y)),
            "explained_variance": float(explained_variance_score(y, pred)),
            "mse": mse, "task_nmse": float(np.mean(per_task))}


# -- the protocol ---------------------------------------------------------------------------
def evaluate(dataset, split, method_name, seed=0, device="cpu"):
    """Cross-validate, refit and score one method on one split; returns the metrics.

    ``device="cuda"``: the mtlreg estimators fit CuPy arrays (Skip without CuPy or
    a GPU); the scikit-learn baselines stay on the CPU.  (The suite's own cases
    run on the CPU; the ``quick`` suite passes its ``--device``.)
    """
    kind = DATASETS[dataset][0]
    b = _load(dataset)
    train, test = _split(dataset, split, seed)
    Xtr, Xte = _standardize(b.X, train, test)
    ytr, yte = b.y[train], b.y[test]
    ttr, tte = b.tasks[train], b.tasks[test]
    method = _make_method(method_name, kind, device)

    t0 = time.perf_counter()
    grid = method.grid(Xtr, ytr, ttr)
    rng = np.random.default_rng([seed, split, 11])
    fold = within_task_folds(ttr, N_FOLDS, rng, labels=ytr if kind == "classification" else None)
    losses = np.zeros(len(grid))
    for f in range(N_FOLDS):
        fit, val = fold != f, fold == f
        preds = method.path(Xtr[fit], ytr[fit], ttr[fit], Xtr[val], ttr[val], grid)
        losses += [_cv_loss(kind, ytr[val], p, ttr[val]) for p in preds]
    best = int(np.nanargmin(losses))
    pred = method.path(Xtr, ytr, ttr, Xte, tte, [grid[best]])[0]
    seconds = time.perf_counter() - t0

    if kind == "regression":
        metrics = _regression_scores(yte, pred, tte)
    else:
        metrics = {"auc": _mean_task_auc(yte, pred, tte),
                   "accuracy": float(np.mean((pred > 0) == (yte == yte.max())))}
    chosen = grid[best]
    if isinstance(chosen, GridPoint):
        metrics["selected_param"] = float(chosen.params["alpha"])
        if "beta" in chosen.params:
            metrics["selected_beta"] = float(chosen.params["beta"])
    else:
        metrics["selected_param"] = float(chosen)
    second = method.second_part() if hasattr(method, "second_part") else None
    if second is not None:
        metrics["part2_nonzero"], metrics["part2_tasks"] = second
    metrics.update(selected_index=float(best),
                   seconds=seconds, n_not_converged=float(method.not_converged))
    return metrics


def _runner(dataset, split, method, seed, max_time):
    def run():
        from threadpoolctl import threadpool_limits

        expected = _EXPECTED_SECONDS[dataset][method.startswith(("single", "pooled"))]
        if expected > max_time:
            raise Skip(f"expected ~{expected:g} s per case > --max-time {max_time:g} s")
        with threadpool_limits(limits=1):  # see the module docstring
            return evaluate(dataset, split, method, seed)
    return run


def cases(ctx):
    for dataset, (kind, n_splits) in DATASETS.items():
        methods = REGRESSION_METHODS if kind == "regression" else CLASSIFICATION_METHODS
        for split in range(n_splits):
            for method in methods:
                yield Case(problem=dataset, solver=method,
                           run=_runner(dataset, split, method, ctx.seed, ctx.max_time),
                           params={"split": split})


# -- figures --------------------------------------------------------------------------------
def _flat(record):
    """A record as one flat dict, whatever nesting the runner uses."""
    rec = dict(record) if isinstance(record, dict) else dict(vars(record))
    for key in ("params", "metrics"):
        if isinstance(rec.get(key), dict):
            rec.update(rec.pop(key))
    return rec


PRIMARY_METRIC = {"school": "nmse", "landmine": "auc", "parkinsons": "nmse", "computer": "nmse"}


def figures(records, out_dir):
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = [_flat(r) for r in records]
    paths = []
    for dataset, metric in PRIMARY_METRIC.items():
        rows = [r for r in flat if r.get("problem") == dataset
                and isinstance(r.get(metric), (int, float)) and np.isfinite(r[metric])]
        if not rows:
            continue
        kind = DATASETS[dataset][0]
        methods = [m for m in (REGRESSION_METHODS if kind == "regression" else CLASSIFICATION_METHODS)
                   if any(r["solver"] == m for r in rows)]
        means, stds, counts = [], [], []
        for m in methods:
            # repeats of one split are averaged first: the error bar is the spread over splits
            per_split = {}
            for r in rows:
                if r["solver"] == m:
                    per_split.setdefault(r.get("split", 0), []).append(r[metric])
            vals = np.array([np.mean(v) for v in per_split.values()])
            means.append(vals.mean())
            stds.append(vals.std(ddof=1) if vals.size > 1 else 0.0)
            counts.append(vals.size)
        fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * len(methods) + 1.5), 3.8))
        # points with error bars, not bars: the axis does not start at 0
        for i, m in enumerate(methods):
            baseline = m.startswith("single") or m.startswith("pooled")
            ax.errorbar([i], [means[i]], yerr=[stds[i]], fmt="s" if baseline else "o",
                        color="C7" if baseline else "C0", capsize=4, markersize=7)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=25, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(methods) - 0.5)
        positive = np.array(means) > 0
        if positive.all() and max(means) / min(means) > 10:  # e.g. pooled Ridge on Parkinson's
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        better = "lower is better" if metric == "nmse" else "higher is better"
        n = max(counts)
        ax.set_ylabel(f"{metric} ({better})")
        ax.set_title(f"{dataset}: mean {metric} over {n} split{'s' if n > 1 else ''}"
                     + (" (error bars: std over splits)" if n > 1 else ""), fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, f"accuracy_{dataset}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
