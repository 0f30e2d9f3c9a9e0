"""Speed against the peers a user would pick instead: a grid of regimes, in one run.

Every solver solves the *same* objective at ``alpha = 0.1 alpha_max`` (mean
loss over each task's samples, per-task unpenalized intercepts, no ridge):

``sum_t 1/n_t sum_i loss(y_ti, x_ti . w_t + b_t) + alpha * penalty(W)``

with the squared loss ``(y - z)^2 / 2`` or the logistic loss
``log(1 + exp(-s z))`` (``s = 2 y - 1``), and the penalty L2,1
(``sum_j ||W_j,:||_2``, the same features for every task) or L1
(``sum_{j,t} |W_jt|``, an independent Lasso per task).  The grid (``GRID``):

* **shared design** (every task sees the same ``X``), L2,1: the d >> n regime
  (n 100-1000, d 1,000-20,000, T 5-100, sparse truths of 10-20 relevant
  features and dense truths with a tenth of the features relevant) and the
  n >> d regime (n 5,000-50,000, d 50-200).  Squared loss: mtlreg
  ``L21Regressor`` against scikit-learn ``MultiTaskLasso`` and, when
  installed, skglm and celer ``MultiTaskLasso``.  Logistic loss: mtlreg
  ``L21Classifier`` against skglm, which has no multi-task logistic
  estimator: the same objective is its group-lasso logistic regression
  (``LogisticGroup`` + ``WeightedGroupL2`` + ``GroupBCD``) on the
  block-diagonal design ``diag(X, ..., X)`` (nT x dT, dense), feature ``j``
  of every task forming one group, the intercepts as indicator columns in
  groups of weight 0, and ``alpha / T`` (its loss is the mean over all nT
  samples).  That layout costs skglm a factor T in memory and work: the row
  measures what a skglm user must do today.  scikit-learn has no multi-task
  logistic L2,1 model.
* **heterogeneous tasks in the long format** (each task its own design and
  its own number of samples, drawn uniformly in a range), L1: mtlreg
  ``LassoRegressor`` / ``LassoClassifier`` on the stacked data against one
  scikit-learn ``Lasso`` per task (``alpha`` unchanged: its objective is
  ``1/(2 n_t) ||y_t - X_t w - b||^2 + alpha ||w||_1``) and one
  ``LogisticRegression(l1_ratio=1, solver="saga", C=1/(alpha n_t))`` per
  task (saga leaves the intercept unpenalized; liblinear would not), and,
  when installed, skglm's ``Lasso`` / ``SparseLogisticRegression`` per task.
  The peers' times are the sums over the tasks.

Protocol (as ``benchmarks/bench_l21_vs_sklearn.py``): for each problem the
reference optimum ``F*`` is the objective of mtlreg's solve to a certified
relative duality gap of ``1e-14`` (floored at ``100 eps``; the certificate
bounds its own suboptimality), or, when that solve does not certify, the lowest objective of
very tight solves by mtlreg and the coordinate-descent peers; all objectives
are evaluated by the same NumPy function (:func:`objective`).  A peer below
the reference would show as a negative ``rel_subopt``.  Each solver is then timed from a cold start at its
own ``tol`` in ``1e-2, 1e-3, ..., 1e-12`` (loosest first; each library's own
meaning of ``tol``), and its time is that of the loosest ``tol`` whose
solution has relative suboptimality ``(F - F*) / F* <= 1e-6`` (best of 3
timings when a fit takes under half a second).  A solver that has spent
``GIVE_UP_SECONDS`` on one problem without reaching the target is reported
as not reached.  JIT compilation and BLAS start-up happen in an untimed
warm-up fit.  Run it with ``--threads 1`` for single-threaded BLAS on every
side (the peers' coordinate descent is single-threaded).

Metrics per case:

* ``seconds``: time to relative suboptimality 1e-6 (``nan`` if no ``tol``
  reached it; then ``reached = 0``);
* ``rel_subopt``: the relative suboptimality of the timed solution;
* ``tol``: the ``tol`` that reached the target;
* ``n_iter``: the library's own iteration count at that ``tol`` (mtlreg:
  solver iterations; scikit-learn: coordinate-descent epochs, summed over the
  tasks for per-task peers; skglm / celer: outer working-set iterations): not
  comparable across libraries;
* ``ratio_vs_mtlreg`` on every row: ``seconds / mtlreg's seconds`` on the
  same problem (``> 1``: mtlreg is faster; 1.0 on mtlreg's own row);
* ``certificate_lag`` on mtlreg's row: at the timed ``tol``, the iteration at
  which the certified gap stopped the fit over the first checked iteration
  whose true relative suboptimality was already within ``tol``
  (:func:`certificate_lag`; 1 is the best a check schedule allows).

The summary's *worst case* section lists, for each regime, the largest and
the median of ``mtlreg's time / the peer's time`` over the problems (the goal
of issue 16: at most 1.0 against scikit-learn on every d >> n problem and at
most 0.2 on n >> d), naming the worst problem.

Peers that are not installed are skipped with the reason.  With
``--device cuda`` an extra row times mtlreg on the GPU (CuPy arrays through
scikit-learn's array API dispatch); it is skipped when CuPy or a CUDA device
is missing.
"""

import functools
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._api import Case, Skip

DESCRIPTION = ("Time to relative suboptimality 1e-6 at alpha = 0.1 alpha_max on a grid (d >> n, "
               "n >> d; shared design and heterogeneous tasks; L2,1 and L1; squared and "
               "logistic): mtlreg vs scikit-learn (MultiTaskLasso, per-task Lasso and "
               "LogisticRegression) and skglm / celer when installed; worst case reported")

REL_SUBOPT = 1e-6
ALPHA_RATIO = 0.1
TOLS = [10.0 ** -k for k in range(2, 13)]
TIGHT_TOL = 1e-14
INNER_REPEATS = 3          # timings of a fast (< FAST_SECONDS) successful fit, best kept
FAST_SECONDS = 0.5
GIVE_UP_SECONDS = 120.0    # per solver and problem, over the tol sequence
GOALS = {"d>>n": 1.0, "n>>d": 0.2}  # issue 16: mtlreg time / scikit-learn time at most


@dataclass(frozen=True)
class Spec:
    """One problem of the grid.  ``n``: samples (shared design) or the
    ``(low, high)`` range of each task's sample count (long format)."""

    regime: str      # "d>>n" or "n>>d"
    layout: str      # "shared" or "long"
    penalty: str     # "l21" or "l1"
    loss: str        # "squared" or "logistic"
    n: object
    d: int
    T: int
    relevant: int    # relevant features (per task for "l1")

    @property
    def label(self):
        kind = {"squared": "", "logistic": "logistic-"}[self.loss] + self.penalty
        n = f"n={self.n}" if self.layout == "shared" else f"n_t={self.n[0]}-{self.n[1]}"
        truth = "dense" if self.relevant * 10 >= self.d else f"{self.relevant} relevant"
        return (f"{kind} {self.layout} {self.regime} ({n}, d={self.d}, T={self.T}, {truth})")


GRID = [
    # shared design, L2,1, squared loss: d >> n
    Spec("d>>n", "shared", "l21", "squared", 100, 1000, 5, 10),
    Spec("d>>n", "shared", "l21", "squared", 300, 2000, 20, 10),
    Spec("d>>n", "shared", "l21", "squared", 200, 2000, 20, 100),
    Spec("d>>n", "shared", "l21", "squared", 200, 5000, 20, 500),
    Spec("d>>n", "shared", "l21", "squared", 200, 10000, 20, 20),
    Spec("d>>n", "shared", "l21", "squared", 100, 20000, 5, 10),
    Spec("d>>n", "shared", "l21", "squared", 500, 20000, 50, 20),
    # shared design, L2,1, squared loss: n >> d
    Spec("n>>d", "shared", "l21", "squared", 20000, 100, 20, 5),
    Spec("n>>d", "shared", "l21", "squared", 50000, 50, 5, 5),
    Spec("n>>d", "shared", "l21", "squared", 5000, 200, 100, 20),
    # shared design, L2,1, logistic loss
    Spec("d>>n", "shared", "l21", "logistic", 200, 1000, 10, 20),
    Spec("n>>d", "shared", "l21", "logistic", 2000, 50, 10, 5),
    # heterogeneous tasks (long format), L1, squared loss
    Spec("d>>n", "long", "l1", "squared", (50, 200), 2000, 20, 10),
    Spec("d>>n", "long", "l1", "squared", (20, 100), 5000, 100, 10),
    Spec("n>>d", "long", "l1", "squared", (1000, 5000), 50, 20, 5),
    # heterogeneous tasks (long format), L1, logistic loss
    Spec("d>>n", "long", "l1", "logistic", (50, 200), 1000, 10, 10),
    Spec("n>>d", "long", "l1", "logistic", (500, 2000), 30, 10, 5),
]
PROBLEMS = {spec.label: spec for spec in GRID}

GPU_SOLVER = {"squared": "mtlreg (cuda)", "logistic": "mtlreg (cuda)"}
_BLOCK_DIAGONAL_MAX = 2e8  # bytes of skglm's block-diagonal design above which it is skipped


def solvers_for(spec):
    """The solvers racing on a problem, mtlreg first."""
    if spec.layout == "shared" and spec.loss == "squared":
        return ("mtlreg", "sklearn MultiTaskLasso", "skglm MultiTaskLasso",
                "celer MultiTaskLasso")
    if spec.layout == "shared":
        return ("mtlreg", "skglm GroupBCD (block-diagonal)")
    if spec.loss == "squared":
        return ("mtlreg", "sklearn Lasso per task", "skglm Lasso per task")
    return ("mtlreg", "sklearn LogisticRegression per task",
            "skglm SparseLogisticRegression per task")


# -- problems --------------------------------------------------------------------------------
@dataclass
class Problem:
    spec: Spec
    X: np.ndarray        # (n, d) shared design, or (N, d) stacked rows, task-sorted
    Y: np.ndarray        # (n, T) for the shared design, (N,) for the long format
    tasks: object        # None (shared design) or (N,) task labels
    starts: np.ndarray   # long format: first row of each task, and N at the end
    alpha: float


def _labels(Z, rng):
    """Labels {0, 1}, about 10% flipped by the noise."""
    scale = np.maximum(Z.std(axis=0), 1e-12)
    return (Z / scale + 0.4 * rng.standard_normal(Z.shape) > 0).astype(np.int64)


@functools.lru_cache(maxsize=2)
def _problem(label, seed):
    from mtlreg import alpha_max

    spec = PROBLEMS[label]
    rng = np.random.default_rng([seed, spec.d, spec.T, spec.relevant, len(label)])
    d, T, k = spec.d, spec.T, spec.relevant
    if spec.layout == "shared":
        X = rng.standard_normal((spec.n, d))
        W = np.zeros((d, T))
        W[rng.choice(d, size=k, replace=False)] = rng.standard_normal((k, T))
        Z = X @ W
        Y = Z + 0.5 * rng.standard_normal(Z.shape) if spec.loss == "squared" else _labels(Z, rng)
        alpha = ALPHA_RATIO * alpha_max(X, Y, penalty=spec.penalty, loss=spec.loss)
        return Problem(spec, X, Y, None, np.array([0, spec.n]), alpha)
    sizes = rng.integers(spec.n[0], spec.n[1] + 1, size=T)
    X = rng.standard_normal((int(sizes.sum()), d))
    X *= np.repeat(rng.uniform(0.5, 2.0, size=T), sizes)[:, None]  # tasks differ in scale too
    starts = np.concatenate([[0], np.cumsum(sizes)])
    y = np.empty(X.shape[0])
    for t in range(T):
        w = np.zeros(d)
        w[rng.choice(d, size=k, replace=False)] = rng.standard_normal(k)
        z = X[starts[t]:starts[t + 1]] @ w
        y[starts[t]:starts[t + 1]] = (z + 0.5 * rng.standard_normal(z.shape)
                                      if spec.loss == "squared" else _labels(z, rng))
    tasks = np.repeat(np.arange(T), sizes)
    alpha = ALPHA_RATIO * alpha_max(X, y, tasks, penalty=spec.penalty, loss=spec.loss)
    return Problem(spec, X, y, tasks, starts, alpha)


def _task_blocks(p):
    """``(X_t, y_t)`` per task, in either layout."""
    if p.tasks is None:
        return [(p.X, p.Y[:, t]) for t in range(p.Y.shape[1])]
    return [(p.X[a:b], p.Y[a:b]) for a, b in zip(p.starts[:-1], p.starts[1:])]


def objective(p, coef, intercept):
    """The common objective, from ``coef`` (T, d) and ``intercept`` (T,)."""
    data = 0.0
    for t, (Xt, yt) in enumerate(_task_blocks(p)):
        z = Xt @ coef[t] + intercept[t]
        if p.spec.loss == "squared":
            data += 0.5 * np.sum((yt - z) ** 2) / Xt.shape[0]
        else:
            data += np.sum(np.logaddexp(0.0, -(2.0 * yt - 1.0) * z)) / Xt.shape[0]
    if p.spec.penalty == "l21":
        penalty = np.sum(np.sqrt(np.sum(coef * coef, axis=0)))
    else:
        penalty = np.sum(np.abs(coef))
    return float(data + p.alpha * penalty)


# -- solvers: fit(problem, tol, tight) -> (coef (T, d), intercept (T,), n_iter) ---------------
def _require(module, what):
    try:
        return __import__(module)
    except Exception as exc:  # ImportError, or a broken install (numba, compiled parts)
        raise Skip(f"{what} not available: {type(exc).__name__}: {exc}") from None


def _mtlreg_class(spec):
    import mtlreg

    name = {"l21": "L21", "l1": "Lasso"}[spec.penalty]
    return getattr(mtlreg, name + ("Regressor" if spec.loss == "squared" else "Classifier"))


def _fit_mtlreg(p, tol, tight):
    est = _mtlreg_class(p.spec)(alpha=p.alpha, tol=tol, max_iter=100000)
    est.fit(p.X, p.Y) if p.tasks is None else est.fit(p.X, p.Y, tasks=p.tasks)
    return est.coef_, est.intercept_, est.n_iter_


def _certified_mtlreg(p):
    est = _mtlreg_class(p.spec)(alpha=p.alpha, tol=TIGHT_TOL, max_iter=100000)
    est.fit(p.X, p.Y) if p.tasks is None else est.fit(p.X, p.Y, tasks=p.tasks)
    return est.coef_, est.intercept_, bool(est.converged_) and est.dual_gap_ is not None


def _fit_mtlreg_cuda(p, tol, tight):
    import cupy
    import sklearn

    est = _mtlreg_class(p.spec)(alpha=p.alpha, tol=tol, max_iter=100000)
    X = cupy.asarray(p.X)
    Y = cupy.asarray(p.Y.astype(np.float64))
    with sklearn.config_context(array_api_dispatch=True):
        est.fit(X, Y) if p.tasks is None else est.fit(X, Y, tasks=cupy.asarray(p.tasks))
    cupy.cuda.Device().synchronize()
    return cupy.asnumpy(est.coef_), cupy.asnumpy(est.intercept_), est.n_iter_


def _fit_multitask_lasso(module):
    def fit(p, tol, tight):
        cls = __import__(module, fromlist=["MultiTaskLasso"]).MultiTaskLasso
        options = {"max_iter": 100000} if module.startswith("sklearn") else {"max_iter": 1000}
        est = cls(alpha=p.alpha, tol=tol, **options).fit(p.X, p.Y)
        return est.coef_, est.intercept_, est.n_iter_
    return fit


def _per_task(make):
    """A peer fitting one single-task model per task; ``make(p, t, n_t, tol)``."""
    def fit(p, tol, tight):
        coef = np.zeros((p.spec.T, p.spec.d))
        intercept = np.zeros(p.spec.T)
        n_iter = 0
        for t, (Xt, yt) in enumerate(_task_blocks(p)):
            est = make(p, Xt.shape[0], tol).fit(Xt, yt)
            coef[t] = np.ravel(est.coef_)
            intercept[t] = np.ravel(est.intercept_)[0] if np.ndim(est.intercept_) else \
                est.intercept_
            n_iter += int(np.max(getattr(est, "n_iter_", 0)))
        return coef, intercept, n_iter
    return fit


def _sklearn_lasso(p, n_t, tol):
    from sklearn.linear_model import Lasso

    return Lasso(alpha=p.alpha, tol=tol, max_iter=100000)


def _skglm_lasso(p, n_t, tol):
    from skglm import Lasso

    return Lasso(alpha=p.alpha, tol=tol, max_iter=1000)


def _sklearn_logistic(p, n_t, tol):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(l1_ratio=1.0, C=1.0 / (p.alpha * n_t), solver="saga", tol=tol,
                              max_iter=100000)


def _skglm_logistic(p, n_t, tol):
    from skglm import SparseLogisticRegression

    return SparseLogisticRegression(alpha=p.alpha, tol=tol, max_iter=1000)


def _block_diagonal(p):
    """skglm's group-logistic form of the multi-task problem (see the module doc)."""
    X, Y = p.X, p.Y
    n, d = X.shape
    T = Y.shape[1]
    Xb = np.zeros((n * T, d * T + T))
    for t in range(T):
        Xb[t * n:(t + 1) * n, t * d:(t + 1) * d] = X
        Xb[t * n:(t + 1) * n, d * T + t] = 1.0
    yb = (2.0 * Y - 1.0).T.reshape(-1)
    groups = [np.arange(T) * d + j for j in range(d)] + [np.array([d * T + t]) for t in range(T)]
    grp_indices = np.concatenate(groups).astype(np.int32)
    grp_ptr = np.cumsum([0] + [g.size for g in groups]).astype(np.int32)
    weights = np.r_[np.ones(d), np.zeros(T)]
    return Xb, yb, grp_ptr, grp_indices, weights


def _fit_skglm_group_logistic(p, tol, tight):
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import LogisticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupBCD

    Xb, yb, grp_ptr, grp_indices, weights = _block_diagonal(p)
    n, d = p.X.shape
    T = p.Y.shape[1]
    est = GeneralizedLinearEstimator(
        LogisticGroup(grp_ptr, grp_indices),
        WeightedGroupL2(p.alpha / T, weights, grp_ptr, grp_indices),
        GroupBCD(tol=tol, max_iter=1000, fit_intercept=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba performance notes
        est.fit(Xb, yb)
    w = np.asarray(est.coef_).ravel()
    # its n_iter_ is the length of a max_iter-sized history: not an iteration count
    return w[:d * T].reshape(T, d), w[d * T:d * T + T], np.nan


_SOLVERS = {
    "mtlreg": (_fit_mtlreg, None),
    "sklearn MultiTaskLasso": (_fit_multitask_lasso("sklearn.linear_model"), None),
    "skglm MultiTaskLasso": (_fit_multitask_lasso("skglm"), "skglm"),
    "celer MultiTaskLasso": (_fit_multitask_lasso("celer"), "celer"),
    "skglm GroupBCD (block-diagonal)": (_fit_skglm_group_logistic, "skglm"),
    "sklearn Lasso per task": (_per_task(_sklearn_lasso), None),
    "skglm Lasso per task": (_per_task(_skglm_lasso), "skglm"),
    "sklearn LogisticRegression per task": (_per_task(_sklearn_logistic), None),
    "skglm SparseLogisticRegression per task": (_per_task(_skglm_logistic), "skglm"),
}
_NOT_FOR_REFERENCE = {"sklearn LogisticRegression per task"}  # saga: no tight solve in time


def _cuda_check():
    cupy = _require("cupy", "CuPy (for mtlreg on the GPU)")
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver / no device
        raise Skip(f"no CUDA device ({exc})") from exc
    if n_devices == 0:
        raise Skip("no CUDA device")


@functools.lru_cache(maxsize=None)
def _unavailable_reason(name):
    """Why a solver cannot run here (``None`` if it can): not installed, or
    installed but failing on a tiny problem (e.g. a peer not yet compatible
    with this scikit-learn)."""
    if name.endswith("(cuda)"):
        try:
            _cuda_check()
        except Skip as exc:
            return str(exc)
        return None
    fit, module = _SOLVERS[name]
    if module is None and name.startswith("mtlreg"):
        return None
    if module is not None:
        try:
            _require(module, module)
        except Skip as exc:
            return str(exc)
    if "GroupBCD" in name:
        return None  # checked by its own run (it divides by zero on a tiny all-zero problem)
    rng = np.random.default_rng(0)
    tiny = {"shared": Spec("d>>n", "shared", "l21", "squared", 20, 5, 3, 2),
            "long": Spec("d>>n", "long", "l1", "squared", (10, 12), 5, 2, 2)}
    spec = tiny["shared" if "MultiTask" in name or "GroupBCD" in name else "long"]
    if "Logistic" in name or "GroupBCD" in name:
        spec = Spec(spec.regime, spec.layout, spec.penalty, "logistic", spec.n, 5, spec.T, 2)
    X = rng.standard_normal((20 if spec.layout == "shared" else 22, 5))
    if spec.layout == "shared":
        Y = (rng.standard_normal((20, 3)) if spec.loss == "squared"
             else (rng.random((20, 3)) > 0.5) * 1)
        p = Problem(spec, X, Y, None, np.array([0, 20]), 0.1)
    else:
        y = rng.standard_normal(22) if spec.loss == "squared" else (np.arange(22) % 2) * 1.0
        p = Problem(spec, X, y, np.repeat([0, 1], 11), np.array([0, 11, 22]), 0.1)
    try:
        _quiet(fit, p, 1e-4, False)
    except Exception as exc:
        top = name.split()[0]
        module = __import__(top)
        import sklearn

        return (f"{top} {getattr(module, '__version__', '?')} is installed but fails "
                f"with scikit-learn {sklearn.__version__}: {type(exc).__name__}: {exc}")
    return None


def _fit_function(name):
    return _fit_mtlreg_cuda if name.endswith("(cuda)") else _SOLVERS[name][0]


# -- measurement -------------------------------------------------------------------------------
def _quiet(fit, *args):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return fit(*args)


@functools.lru_cache(maxsize=None)
def reference_objective(label, seed):
    """mtlreg's objective after a solve certified to relative gap ``TIGHT_TOL``
    (untimed); when that solve does not certify, the lowest objective of very
    tight solves by it and by the coordinate-descent peers."""
    p = _problem(label, seed)
    coef, intercept, certified = _quiet(_certified_mtlreg, p)
    if certified:
        return objective(p, coef, intercept)
    best = objective(p, coef, intercept)
    for name in solvers_for(p.spec)[1:]:
        if name in _NOT_FOR_REFERENCE or _unavailable_reason(name) is not None:
            continue
        if name == "skglm GroupBCD (block-diagonal)" and not _block_diagonal_fits(p.spec):
            continue
        tight = 1e-12 if name.startswith("skglm") else TIGHT_TOL  # skglm: absolute KKT violation
        coef, intercept, _ = _quiet(_fit_function(name), p, tight, True)
        best = min(best, objective(p, coef, intercept))
    return best


def _block_diagonal_fits(spec):
    n = spec.n if spec.layout == "shared" else spec.n[1] * spec.T
    return 8.0 * n * spec.T * (spec.d * spec.T + spec.T) <= _BLOCK_DIAGONAL_MAX


def time_to_target(fit, label, seed):
    """Metrics of the loosest ``tol`` reaching relative suboptimality ``REL_SUBOPT``."""
    p = _problem(label, seed)
    best = reference_objective(label, seed)
    start = time.perf_counter()
    _quiet(fit, p, TOLS[0], False)  # warm-up: JIT, BLAS threads, caches
    rel = n_iter = np.nan
    for tol in TOLS:
        t0 = time.perf_counter()
        coef, intercept, n_iter = _quiet(fit, p, tol, False)
        elapsed = time.perf_counter() - t0
        rel = (objective(p, coef, intercept) - best) / abs(best)
        if rel <= REL_SUBOPT:
            if elapsed < FAST_SECONDS:
                for _ in range(INNER_REPEATS - 1):
                    t0 = time.perf_counter()
                    _quiet(fit, p, tol, False)
                    elapsed = min(elapsed, time.perf_counter() - t0)
            return {"seconds": elapsed, "rel_subopt": float(rel), "tol": tol,
                    "n_iter": float(n_iter), "reached": 1.0}
        if time.perf_counter() - start > GIVE_UP_SECONDS:
            break
    return {"seconds": float("nan"), "rel_subopt": float(rel), "tol": tol,
            "n_iter": float(n_iter), "reached": 0.0}


def certificate_lag(label, seed, tol):
    """Iterations mtlreg ran at ``tol`` over those it needed: the stopping
    iteration divided by the first checked iterate whose true relative
    suboptimality ``(F - F*) / F`` was already within ``tol`` (1: the
    certificate stopped the fit at the first check that could have)."""
    p = _problem(label, seed)
    best = reference_objective(label, seed)
    est = _mtlreg_class(p.spec)(alpha=p.alpha, tol=tol, max_iter=100000)
    _quiet(lambda: est.fit(p.X, p.Y) if p.tasks is None else est.fit(p.X, p.Y, tasks=p.tasks))
    for iteration, value, _ in est.solution_.history:
        if value - best <= tol * abs(value):
            return float(est.n_iter_) / max(float(iteration), 1.0)
    return float("nan")


_MTLREG_SECONDS = {}  # (label, seed) -> best mtlreg CPU time seen in this process


def _mtlreg_seconds(label, seed):
    key = (label, seed)
    if key not in _MTLREG_SECONDS:
        _MTLREG_SECONDS[key] = time_to_target(_fit_mtlreg, label, seed)["seconds"]
    return _MTLREG_SECONDS[key]


def _runner(name, label, seed):
    def run():
        reason = _unavailable_reason(name)
        if reason is not None:
            raise Skip(reason)
        spec = PROBLEMS[label]
        if name == "skglm GroupBCD (block-diagonal)" and not _block_diagonal_fits(spec):
            raise Skip(f"the block-diagonal design would take more than "
                       f"{_BLOCK_DIAGONAL_MAX / 1e6:g} MB")
        metrics = time_to_target(_fit_function(name), label, seed)
        key = (label, seed)
        if name == "mtlreg" and metrics["reached"]:
            metrics["certificate_lag"] = certificate_lag(label, seed, metrics["tol"])
        if name == "mtlreg":
            _MTLREG_SECONDS[key] = np.nanmin([_MTLREG_SECONDS.get(key, np.nan),
                                              metrics["seconds"]])
            metrics["ratio_vs_mtlreg"] = 1.0
        else:
            metrics["ratio_vs_mtlreg"] = float(metrics["seconds"] / _mtlreg_seconds(label, seed))
        return metrics
    return run


def cases(ctx):
    for spec in GRID:
        names = list(solvers_for(spec))
        if ctx.device == "cuda":
            names.insert(1, GPU_SOLVER[spec.loss])
        for name in names:
            yield Case(problem=spec.label, solver=name, run=_runner(name, spec.label, ctx.seed),
                       params={"regime": spec.regime, "layout": spec.layout,
                               "penalty": spec.penalty, "loss": spec.loss,
                               "n": str(spec.n), "d": spec.d, "T": spec.T,
                               "relevant": spec.relevant, "alpha_ratio": ALPHA_RATIO,
                               "rel_subopt_target": REL_SUBOPT})


# -- the worst case, and figures ---------------------------------------------------------------
def _flat(record):
    rec = dict(record) if isinstance(record, dict) else dict(vars(record))
    for key in ("params", "metrics"):
        if isinstance(rec.get(key), dict):
            rec.update(rec.pop(key))
    return rec


def _best_times(records):
    """``{(problem, solver): best seconds}`` over the ok repeats that reached the target."""
    times = {}
    for r in map(_flat, records):
        s = r.get("seconds")
        if r.get("status", "ok") == "ok" and isinstance(s, (int, float)) and np.isfinite(s):
            key = (r["problem"], r["solver"])
            times[key] = min(times.get(key, np.inf), float(s))
    return times


def summary(records):
    """Markdown lines: per regime and peer, the worst and the median of
    ``mtlreg's time / the peer's time`` (the issue's goals are on the worst)."""
    times = _best_times(records)
    ran = {r["problem"] for r in map(_flat, records)}
    lines = ["## Worst case: mtlreg's time / the peer's time", "",
             "Per regime and peer, over the problems where both reached the target "
             "(best of the repeats); below 1: mtlreg is faster.  Goal (issue 16): at most "
             + ", ".join(f"{v:g} on {k}" for k, v in GOALS.items())
             + " against scikit-learn.", "",
             "| regime | peer | problems | worst | worst problem | median | goal met |",
             "|---|---|---|---|---|---|---|"]
    rows = {}
    for spec in GRID:
        if spec.label not in ran:
            continue
        for peer in solvers_for(spec)[1:]:
            group = peer.split()[0]
            mine, theirs = times.get((spec.label, "mtlreg")), times.get((spec.label, peer))
            ratio = np.nan if mine is None or theirs is None else mine / theirs
            if mine is None and theirs is not None:
                ratio = np.inf  # mtlreg did not reach the target, the peer did
            if np.isnan(ratio):
                continue
            rows.setdefault((spec.regime, group), []).append((ratio, spec.label, peer))
    for (regime, group), items in sorted(rows.items()):
        worst = max(items)
        goal = GOALS[regime] if group == "sklearn" else None
        met = "" if goal is None else ("yes" if worst[0] <= goal else "**no**")
        lines.append(f"| {regime} | {group} | {len(items)} | {worst[0]:.3g} | "
                     f"{worst[1]} ({worst[2]}) | {np.median([i[0] for i in items]):.3g} | "
                     f"{met} |")
    lags = [(float(r["certificate_lag"]), r["problem"]) for r in map(_flat, records)
            if r.get("solver") == "mtlreg" and isinstance(r.get("certificate_lag"), (int, float))
            and np.isfinite(r["certificate_lag"])]
    if lags:
        worst = max(lags)
        lines += ["", f"Certificate lag (mtlreg's stopping iteration over the first iteration "
                  f"truly within tol): worst {worst[0]:.3g} ({worst[1]}), median "
                  f"{np.median([v for v, _ in lags]):.3g} over {len(lags)} runs."]
    return lines + [""]


def figures(records, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = _best_times(records)
    paths = []
    groups = {}
    for spec in GRID:
        groups.setdefault((spec.layout, spec.penalty, spec.loss), []).append(spec)
    for (layout, penalty, loss), specs in groups.items():
        labels = [s.label for s in specs if any((s.label, n) in times for n in solvers_for(s))]
        if not labels:
            continue
        solvers = [n for n in dict.fromkeys(n for s in specs for n in solvers_for(s))
                   if any((p, n) in times for p in labels)]
        width = 0.8 / len(solvers)
        fig, ax = plt.subplots(figsize=(2.6 + 2.2 * len(labels), 4.4))
        for i, name in enumerate(solvers):
            xs = [j + (i - (len(solvers) - 1) / 2) * width for j, p in enumerate(labels)
                  if (p, name) in times]
            ys = [times[(p, name)] for p in labels if (p, name) in times]
            bars = ax.bar(xs, ys, width=width, label=name, color=f"C{i}")
            ax.bar_label(bars, labels=[f"{y:.2g}" for y in ys], fontsize=6)
        ax.set_yscale("log")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([p.split(" ", 2)[2].replace(" (", "\n(").replace(", T", ",\nT")
                            for p in labels], fontsize=7)
        ax.set_ylabel(f"seconds to relative suboptimality {REL_SUBOPT:g} (log)")
        ax.set_title(f"{penalty} {loss} loss, {layout} "
                     f"{'design' if layout == 'shared' else 'format'}, "
                     f"alpha = {ALPHA_RATIO:g} alpha_max", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, f"speed_{layout}_{penalty}_{loss}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
