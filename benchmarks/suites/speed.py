"""Speed against the peers a user would pick instead, side by side in one run.

Every solver solves the *same* objective at ``alpha = 0.1 * alpha_max`` (shared
design, mean loss over each task's samples, per-task unpenalized intercepts,
no ridge):

* ``l21 ...`` problems (squared loss),
  ``1/(2n) ||Y - X W - 1 b^T||_F^2 + alpha sum_j ||W_j,:||_2``:
  mtlreg ``L21Regressor`` against scikit-learn ``MultiTaskLasso``, skglm
  ``MultiTaskLasso`` and celer ``MultiTaskLasso``, in the n >> d regime
  (n=20000, d=100, T=20, 5 relevant) and two d >> n regimes (n=200, d=2000,
  100 relevant; n=200, d=10000, 20 relevant), T=20 tasks;
* ``logistic-l21 ...`` problems,
  ``sum_t 1/n sum_i log(1 + exp(-y_it (x_i . w_t + b_t))) + alpha sum_j ||W_j,:||_2``:
  mtlreg ``L21Classifier`` against skglm, which has no multi-task logistic
  estimator: the same objective is its group-lasso logistic regression
  (``LogisticGroup`` + ``WeightedGroupL2`` + ``GroupBCD``) on the
  block-diagonal design ``diag(X, ..., X)`` (nT x dT, dense: skglm's group
  logistic datafit has no sparse path), feature ``j`` of every task forming
  one group, the per-task intercepts as indicator columns in groups of
  weight 0, and ``alpha / T`` (its loss is the mean over all nT samples).
  The block-diagonal layout costs skglm about a factor T in memory and work:
  this row measures what a skglm user must do today, not the quality of its
  solver.  (scikit-learn has no multi-task logistic L2,1 model; per-task
  ``LogisticRegression(penalty="l1")`` on Landmine is a different objective
  and is not timed here.)

Protocol (as ``benchmarks/bench_l21_vs_sklearn.py``): for each problem, every
available solver first solves very tightly; the reference optimum ``F*`` is
the lowest objective of these solves, all evaluated by the same NumPy
function.  Each solver is then timed from a cold start at its own ``tol`` in
``1e-2, 1e-3, ..., 1e-12`` (loosest first; each library's own meaning of
``tol``), and its time is that of the loosest ``tol`` whose solution has
relative suboptimality ``(F - F*) / F* <= 1e-6`` (best of 3 timings when a
fit takes under half a second).  JIT compilation and BLAS start-up happen in
an untimed warm-up fit.

Metrics per case:

* ``seconds``: time to relative suboptimality 1e-6 (``nan`` if no ``tol``
  reached it; then ``reached = 0``);
* ``rel_subopt``: the relative suboptimality of the timed solution;
* ``tol``: the ``tol`` that reached the target;
* ``n_iter``: the library's own iteration count at that ``tol`` (mtlreg:
  FISTA iterations; scikit-learn: coordinate-descent epochs; skglm / celer:
  outer working-set iterations): not comparable across libraries;
* ``ratio_vs_mtlreg`` on every row: ``seconds / mtlreg's seconds`` on the
  same problem (``> 1``: mtlreg is faster; 1.0 on mtlreg's own CPU row).
  mtlreg's seconds are the best of its runs so far in the same process (its
  case comes first for each problem; a peer case run alone times mtlreg
  first), so both times are measured in one run on the same machine state.

Peers that are not installed are skipped with the reason.  With
``--device cuda`` an extra row times mtlreg on the GPU (CuPy arrays through
scikit-learn's array API dispatch); it is skipped when CuPy or a CUDA device
is missing.
"""

import functools
import time
import warnings

import numpy as np

from .._api import Case, Skip

DESCRIPTION = ("Time to relative suboptimality 1e-6 at alpha = 0.1 alpha_max: mtlreg L21 vs "
               "scikit-learn / skglm / celer MultiTaskLasso, L21Classifier vs skglm group logistic")

REL_SUBOPT = 1e-6
ALPHA_RATIO = 0.1
TOLS = [10.0 ** -k for k in range(2, 13)]
TIGHT_TOL = 1e-14
INNER_REPEATS = 3          # timings of a fast (< FAST_SECONDS) successful fit, best kept
FAST_SECONDS = 0.5

# label: (loss, n_samples, n_features, n_tasks, n_relevant)
PROBLEMS = {
    "l21 n>>d (n=20000, d=100, T=20)": ("squared", 20000, 100, 20, 5),
    "l21 d>>n (n=200, d=2000, T=20, 100 relevant)": ("squared", 200, 2000, 20, 100),
    "l21 d>>n (n=200, d=10000, T=20, 20 relevant)": ("squared", 200, 10000, 20, 20),
    "logistic-l21 n>>d (n=2000, d=50, T=10)": ("logistic", 2000, 50, 10, 5),
    "logistic-l21 d>>n (n=200, d=1000, T=10, 20 relevant)": ("logistic", 200, 1000, 10, 20),
}

REGRESSION_SOLVERS = ("mtlreg L21Regressor", "sklearn MultiTaskLasso", "skglm MultiTaskLasso",
                      "celer MultiTaskLasso")
CLASSIFICATION_SOLVERS = ("mtlreg L21Classifier", "skglm GroupBCD (block-diagonal)")
GPU_SOLVER = {"squared": "mtlreg L21Regressor (cuda)", "logistic": "mtlreg L21Classifier (cuda)"}

# Rough seconds per case on the 2-core development machine: the timings, and the
# untimed tight reference solves (and skglm's JIT) the first case of a problem pays.
_EXPECTED_SECONDS = {"squared": 1.0, "logistic": 6.0}
_EXPECTED_REFERENCE_SECONDS = {"squared": 10.0, "logistic": 10.0}


# -- problems --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _problem(label, seed):
    loss, n, d, T, k = PROBLEMS[label]
    rng = np.random.default_rng([seed, n, d, T, k])
    X = rng.standard_normal((n, d))
    W = np.zeros((d, T))
    support = rng.choice(d, size=k, replace=False)
    W[support] = rng.standard_normal((k, T))
    Z = X @ W
    if loss == "squared":
        Y = Z + 0.5 * rng.standard_normal((n, T))
    else:  # labels {0, 1}, about 10% flipped by the noise
        Y = (Z / np.maximum(Z.std(axis=0), 1e-12) + 0.4 * rng.standard_normal((n, T)) > 0)
        Y = Y.astype(np.int64)
    from mtlreg import alpha_max

    alpha = ALPHA_RATIO * alpha_max(X, Y, penalty="l21", loss=loss)
    return X, Y, alpha


def objective(loss, X, Y, coef, intercept, alpha):
    """The common objective, from ``coef`` (T, d) and ``intercept`` (T,)."""
    Z = X @ coef.T + intercept[None, :]
    if loss == "squared":
        R = Y - Z
        data = 0.5 * np.sum(R * R) / X.shape[0]
    else:
        S = 2.0 * Y - 1.0
        data = np.sum(np.logaddexp(0.0, -S * Z)) / X.shape[0]
    return float(data + alpha * np.sum(np.sqrt(np.sum(coef * coef, axis=0))))


# -- solvers: make(X, Y, alpha, tol) -> fit() callable returning (coef, intercept, n_iter) ----
def _require(module, what):
    try:
        return __import__(module)
    except Exception as exc:  # ImportError, or a broken install (numba, compiled parts)
        raise Skip(f"{what} not available: {type(exc).__name__}: {exc}") from None


def _fit_mtlreg(X, Y, alpha, tol, loss):
    from mtlreg import L21Classifier, L21Regressor

    cls = L21Regressor if loss == "squared" else L21Classifier
    est = cls(alpha=alpha, tol=tol, max_iter=100000).fit(X, Y)
    return est.coef_, est.intercept_, est.n_iter_


def _fit_mtlreg_cuda(X, Y, alpha, tol, loss):
    import cupy
    import sklearn

    from mtlreg import L21Classifier, L21Regressor

    cls = L21Regressor if loss == "squared" else L21Classifier
    Xg = cupy.asarray(X)
    Yg = cupy.asarray(Y if loss == "squared" else Y.astype(np.float64))
    with sklearn.config_context(array_api_dispatch=True):
        est = cls(alpha=alpha, tol=tol, max_iter=100000).fit(Xg, Yg)
    cupy.cuda.Device().synchronize()
    return cupy.asnumpy(est.coef_), cupy.asnumpy(est.intercept_), est.n_iter_


def _fit_sklearn(X, Y, alpha, tol, loss):
    from sklearn.linear_model import MultiTaskLasso

    est = MultiTaskLasso(alpha=alpha, tol=tol, max_iter=100000).fit(X, Y)
    return est.coef_, est.intercept_, est.n_iter_


def _fit_skglm(X, Y, alpha, tol, loss):
    from skglm import MultiTaskLasso

    est = MultiTaskLasso(alpha=alpha, tol=tol, max_iter=1000).fit(X, Y)
    return est.coef_, est.intercept_, est.n_iter_


def _fit_celer(X, Y, alpha, tol, loss):
    from celer import MultiTaskLasso

    est = MultiTaskLasso(alpha=alpha, tol=tol, max_iter=1000).fit(X, Y)
    return est.coef_, est.intercept_, est.n_iter_


@functools.lru_cache(maxsize=2)
def _block_diagonal(label, seed):
    """skglm's group-logistic form of the multi-task problem (see the module doc)."""
    X, Y, _ = _problem(label, seed)
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


def _skglm_group_logistic(label, seed):
    def fit(X, Y, alpha, tol, loss):
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import LogisticGroup
        from skglm.penalties import WeightedGroupL2
        from skglm.solvers import GroupBCD

        Xb, yb, grp_ptr, grp_indices, weights = _block_diagonal(label, seed)
        n, d = X.shape
        T = Y.shape[1]
        est = GeneralizedLinearEstimator(
            LogisticGroup(grp_ptr, grp_indices),
            WeightedGroupL2(alpha / T, weights, grp_ptr, grp_indices),
            GroupBCD(tol=tol, max_iter=1000, fit_intercept=False),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba performance notes
            est.fit(Xb, yb)
        w = np.asarray(est.coef_).ravel()
        # its n_iter_ is the length of a max_iter-sized history: not an iteration count
        return w[:d * T].reshape(T, d), w[d * T:d * T + T], np.nan
    return fit


def _solver(name, label, seed):
    """(fit function, availability check) of a solver."""
    if name.startswith("mtlreg") and name.endswith("(cuda)"):
        def check():
            cupy = _require("cupy", "CuPy (for mtlreg on the GPU)")
            try:
                n_devices = cupy.cuda.runtime.getDeviceCount()
            except Exception as exc:  # no driver / no device
                raise Skip(f"no CUDA device ({exc})") from exc
            if n_devices == 0:
                raise Skip("no CUDA device")
        return _fit_mtlreg_cuda, check
    if name.startswith("mtlreg"):
        return _fit_mtlreg, lambda: None
    if name.startswith("sklearn"):
        return _fit_sklearn, lambda: None
    if name == "skglm MultiTaskLasso":
        return _fit_skglm, lambda: _require("skglm", "skglm")
    if name == "celer MultiTaskLasso":
        return _fit_celer, lambda: _require("celer", "celer")
    if name.startswith("skglm GroupBCD"):
        return _skglm_group_logistic(label, seed), lambda: _require("skglm", "skglm")
    raise ValueError(name)


@functools.lru_cache(maxsize=None)
def _unavailable_reason(name, loss):
    """Why a solver cannot run here (``None`` if it can): not installed, or installed
    but failing on a tiny problem (e.g. a peer not yet compatible with this
    scikit-learn)."""
    if name.startswith("skglm GroupBCD"):
        name = "skglm MultiTaskLasso"  # same package; the group form is checked by its run
    fit, check = _solver(name, None, None)
    try:
        check()
    except Skip as exc:
        return str(exc)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5))
    Y = rng.standard_normal((20, 3)) if loss == "squared" else (rng.random((20, 3)) > 0.5) * 1
    if name.startswith("mtlreg") or name.startswith("skglm GroupBCD"):
        return None
    try:
        _quiet(fit, X, Y, 0.1, 1e-4, loss)
    except Exception as exc:
        module = __import__(name.split()[0])
        import sklearn

        return (f"{name.split()[0]} {getattr(module, '__version__', '?')} is installed but fails "
                f"with scikit-learn {sklearn.__version__}: {type(exc).__name__}: {exc}")
    return None


def _solvers_for(loss):
    return REGRESSION_SOLVERS if loss == "squared" else CLASSIFICATION_SOLVERS


# -- measurement -------------------------------------------------------------------------------
def _quiet(fit, *args):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(*args)


@functools.lru_cache(maxsize=None)
def reference_objective(label, seed):
    """Lowest objective of very tight solves by every available solver (untimed)."""
    loss = PROBLEMS[label][0]
    X, Y, alpha = _problem(label, seed)
    best = np.inf
    for name in _solvers_for(loss):
        if _unavailable_reason(name, loss) is not None:
            continue
        fit = _solver(name, label, seed)[0]
        tight = 1e-12 if name.startswith("skglm") else TIGHT_TOL  # skglm: absolute KKT violation
        coef, intercept, _ = _quiet(fit, X, Y, alpha, tight, loss)
        best = min(best, objective(loss, X, Y, coef, intercept, alpha))
    _REFERENCES_DONE.add((label, seed))
    return best


_REFERENCES_DONE = set()


def _has_reference(label, seed):
    return (label, seed) in _REFERENCES_DONE


def time_to_target(fit, label, seed):
    """Metrics of the loosest ``tol`` reaching relative suboptimality ``REL_SUBOPT``."""
    loss = PROBLEMS[label][0]
    X, Y, alpha = _problem(label, seed)
    best = reference_objective(label, seed)
    _quiet(fit, X, Y, alpha, TOLS[0], loss)  # warm-up: JIT, BLAS threads, caches
    rel = np.nan
    for tol in TOLS:
        t0 = time.perf_counter()
        coef, intercept, n_iter = _quiet(fit, X, Y, alpha, tol, loss)
        elapsed = time.perf_counter() - t0
        rel = (objective(loss, X, Y, coef, intercept, alpha) - best) / abs(best)
        if rel <= REL_SUBOPT:
            if elapsed < FAST_SECONDS:
                for _ in range(INNER_REPEATS - 1):
                    t0 = time.perf_counter()
                    _quiet(fit, X, Y, alpha, tol, loss)
                    elapsed = min(elapsed, time.perf_counter() - t0)
            return {"seconds": elapsed, "rel_subopt": float(rel), "tol": tol,
                    "n_iter": float(n_iter), "reached": 1.0}
    return {"seconds": float("nan"), "rel_subopt": float(rel), "tol": TOLS[-1],
            "n_iter": float(n_iter), "reached": 0.0}


_MTLREG_SECONDS = {}  # (label, seed) -> best mtlreg time seen in this process


def _mtlreg_seconds(label, seed):
    key = (label, seed)
    if key not in _MTLREG_SECONDS:
        loss = PROBLEMS[label][0]
        name = _solvers_for(loss)[0]
        _MTLREG_SECONDS[key] = time_to_target(_solver(name, label, seed)[0], label, seed)["seconds"]
    return _MTLREG_SECONDS[key]


def _runner(name, label, seed, max_time):
    def run():
        fit, _ = _solver(name, label, seed)
        reason = _unavailable_reason(name, PROBLEMS[label][0])
        if reason is not None:
            raise Skip(reason)
        loss = PROBLEMS[label][0]
        expected = _EXPECTED_SECONDS[loss]
        if not _has_reference(label, seed):
            expected += _EXPECTED_REFERENCE_SECONDS[loss]
        if expected > max_time:
            raise Skip(f"expected ~{expected:g} s for this case > --max-time {max_time:g} s")
        metrics = time_to_target(fit, label, seed)
        if name in (REGRESSION_SOLVERS[0], CLASSIFICATION_SOLVERS[0]):
            key = (label, seed)
            _MTLREG_SECONDS[key] = np.nanmin([_MTLREG_SECONDS.get(key, np.nan),
                                              metrics["seconds"]])
            metrics["ratio_vs_mtlreg"] = 1.0
        else:
            metrics["ratio_vs_mtlreg"] = float(metrics["seconds"] / _mtlreg_seconds(label, seed))
        return metrics
    return run


def cases(ctx):
    for label, (loss, n, d, T, k) in PROBLEMS.items():
        names = list(_solvers_for(loss))
        if ctx.device == "cuda":
            names.insert(1, GPU_SOLVER[loss])
        for name in names:
            yield Case(problem=label, solver=name, run=_runner(name, label, ctx.seed, ctx.max_time),
                       params={"n": n, "d": d, "T": T, "relevant": k, "loss": loss,
                               "alpha_ratio": ALPHA_RATIO, "rel_subopt_target": REL_SUBOPT})


# -- figures --------------------------------------------------------------------------------
def _flat(record):
    rec = dict(record) if isinstance(record, dict) else dict(vars(record))
    for key in ("params", "metrics"):
        if isinstance(rec.get(key), dict):
            rec.update(rec.pop(key))
    return rec


def figures(records, out_dir):
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = [_flat(r) for r in records]
    paths = []
    for loss, title in (("squared", "multi-task L2,1 least squares"),
                        ("logistic", "multi-task L2,1 logistic regression")):
        labels = [p for p, spec in PROBLEMS.items() if spec[0] == loss]
        solvers = list(_solvers_for(loss)) + [GPU_SOLVER[loss]]
        # best (min) time over repeats of each (problem, solver)
        times = {}
        for r in flat:
            s = r.get("seconds")
            if r.get("problem") in labels and isinstance(s, (int, float)) and np.isfinite(s):
                key = (r["problem"], r["solver"])
                times[key] = min(times.get(key, np.inf), s)
        if not times:
            continue
        solvers = [s for s in solvers if any((p, s) in times for p in labels)]
        labels = [p for p in labels if any((p, s) in times for s in solvers)]
        width = 0.8 / len(solvers)
        fig, ax = plt.subplots(figsize=(2.6 + 2.4 * len(labels), 4.2))
        for i, s in enumerate(solvers):
            xs = [j + (i - (len(solvers) - 1) / 2) * width for j, p in enumerate(labels)
                  if (p, s) in times]
            ys = [times[(p, s)] for p in labels if (p, s) in times]
            bars = ax.bar(xs, ys, width=width, label=s, color=f"C{i}")
            ax.bar_label(bars, labels=[f"{y:.3g}" for y in ys], fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([p.split(" ", 1)[1] for p in labels], fontsize=8)
        ax.set_ylabel(f"seconds to relative suboptimality {REL_SUBOPT:g} (log)")
        ax.set_title(f"{title}, alpha = {ALPHA_RATIO:g} alpha_max (best of the repeats)",
                     fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, f"speed_{loss}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
