"""Convergence of the decomposition solvers against MALSAR's scheme, on School.

mtlreg's ``DirtyRegressor``, ``RobustRegressor`` and ``RMTFLRegressor`` (FISTA
on the stacked parts with adaptive restart, stopping on a certified duality
gap) against a NumPy re-implementation of the solver scheme of MALSAR's
``Least_Dirty``, ``Least_RMTL`` and ``Least_rMTFL``
(:mod:`benchmarks.malsar_style`: accelerated proximal gradient on the stacked
``(P, Q)``, backtracking that only doubles ``L``, no restart, stopping on the
relative change of the objective), on the same objective.

Problem: School (:func:`mtlreg.datasets.load_school`), the training part of
split 1 (11,472 students, 139 tasks), the 27 features (the bias column
dropped) standardized with the training mean and std, then ``X`` and ``y``
centred within each task (MALSAR fits no intercept; centring is what an
intercept per task does for the squared loss).  MALSAR's objective is

    f(P, Q) = sum_t ||X_t (p_t + q_t) - y_t||^2 + lam1 h1(P) + lam2 h2(Q)

and mtlreg's with ``loss_scaling="sum", fit_intercept=False`` is
``1/2 sum_t ||.||^2 + alpha h1(P) + beta h2(Q)``: the same problem, halved,
with ``lam1 = 2 alpha``, ``lam2 = 2 beta``.  Every suboptimality below is
``(f - f*) / f*`` of MALSAR's ``f``, evaluated by one function on the data.

Settings (as in the ``accuracy`` suite): ``alpha = a * alpha_max(h1)`` and
``beta = r * alpha``, ``r = r_lo^(1-s) r_hi^s`` inside the interval where both
parts can be non-zero (Dirty ``(1/T, 1)``, Robust ``(1/sqrt T, 1)``, rMTFL
``(1/sqrt T, sqrt d)``); ``(a, s)`` in ``(0.1, 1/2)`` (where cross-validation
lands on School), ``(0.01, 1/2)`` (weaker, harder) and ``(0.1, 1/6)``
(second part heavier).

Reference ``f*``: mtlreg at ``tol=1e-12`` (certified relative gap), whose
objective history (``solution_.history``, every 10 iterations) also gives
mtlreg's first iteration within ``1e-6``.  Rows and metrics:

* ``mtlreg``: ``iters_oracle`` (first checked iteration, a multiple of 10,
  with suboptimality ``<= 1e-6``) and ``seconds_oracle`` (a fit with
  ``max_iter = iters_oracle``); ``iters_certified`` / ``seconds_certified``:
  a fit at the default ``tol=1e-6``, which stops by itself on a certified gap,
  with its ``rel_gap_certified`` (gap / objective) and
  ``rel_subopt_certified``.  Times: best of 3 fits.
* ``MALSAR-style APG``: one run from zero, capped at ``MAX_ITER = 20000``
  iterations (ended early once it is within ``1e-10`` of ``f*`` and MALSAR's
  rule has fired at every ``tol`` in ``1e-4 ... 1e-10``), timing every
  iteration (3 runs: the iterates are identical, each iteration's time is
  the best of the 3);
  ``iters_oracle`` / ``seconds_oracle``: first iteration with suboptimality
  ``<= 1e-6`` (``reached = 0`` and ``nan`` when the cap comes first;
  ``rel_subopt_best`` is then the best it got); ``iters_default_stop``,
  ``seconds_default_stop``, ``rel_subopt_default_stop``: where MALSAR's rule
  at its default ``tol = 1e-4`` (``utils/init_opts.m``) stops, and how far
  from the optimum that is (MALSAR's default ``maxIter = 1000`` would cut
  earlier only if it were reached first: ``default_stop_within_maxiter``);
  ``tol_for_target``: the loosest ``tol`` in ``1e-4 ... 1e-10`` whose stop has
  suboptimality ``<= 1e-6`` (and ``iters_tol_for_target``); ratios
  ``iters_ratio_oracle`` / ``seconds_ratio_oracle`` (MALSAR-style oracle over
  mtlreg oracle) and ``iters_ratio_certified`` / ``seconds_ratio_certified``
  (MALSAR-style oracle over mtlreg's certified stop: the MALSAR side does not
  know when it got there).  ``rel_subopt_best`` slightly below 0 means the
  MALSAR-style run matched ``f*`` to rounding.

Both solvers run with single-threaded BLAS (small per-task products; the
development machine has 2 cores and is shared).
"""

import functools
import time
import warnings

import numpy as np

from .._api import Case

DESCRIPTION = ("School: mtlreg Dirty/Robust/RMTFL vs MALSAR's APG scheme (no restart, L only "
               "doubles, relative-change stop) on the same objective: iterations and time to "
               "1e-6 suboptimality, and where MALSAR's default tol stops")

TARGET = 1e-6
MAX_ITER = 20000
MALSAR_DEFAULT_TOL = 1e-4
MALSAR_DEFAULT_MAXITER = 1000
MALSAR_TOLS = [10.0 ** -k for k in range(4, 11)]
REFERENCE_TOL = 1e-12
AGREEMENT = 1e-10          # a MALSAR-style run ends early once this close to f*
INNER_REPEATS = 3

# fitted attributes of the two parts (transposed P and Q)
PART_ATTRIBUTES = {"dirty": ("coef_shared_", "coef_specific_"),
                   "rmtl": ("coef_lowrank_", "coef_outlier_"),
                   "rmtfl": ("coef_shared_", "coef_outlier_")}
# model: (mtlreg estimator, first-part penalty for alpha_max, r_lo(d, T), r_hi(d, T))
MODELS = {
    "dirty": ("DirtyRegressor", "l1inf", lambda d, T: 1.0 / T, lambda d, T: 1.0),
    "rmtl": ("RobustRegressor", "trace", lambda d, T: T ** -0.5, lambda d, T: 1.0),
    "rmtfl": ("RMTFLRegressor", "l21", lambda d, T: T ** -0.5, lambda d, T: d ** 0.5),
}
SETTINGS = ((0.1, 1 / 2), (0.01, 1 / 2), (0.1, 1 / 6))
MALSAR_NAMES = {"dirty": "Least_Dirty", "rmtl": "Least_RMTL", "rmtfl": "Least_rMTFL"}
_CURVES = {}  # (model, a, s) -> {"mtlreg": (iterations, subopt), "malsar": (...)}, for figures


# -- data and problems -------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def school():
    """Centred, standardized training part of School split 1: ``(X, y, tasks)``."""
    from mtlreg import datasets

    b = datasets.load_school()
    train = b.splits[0][0]
    X = b.X[train][:, :27].astype(np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = b.y[train].astype(np.float64)
    tasks = np.unique(b.tasks[train], return_inverse=True)[1]
    for t in range(tasks.max() + 1):
        m = tasks == t
        X[m] -= X[m].mean(axis=0)
        y[m] -= y[m].mean()
    return X, y, tasks


def label(model, a, s):
    return f"{model} a={a:g} s={s:.2g}"


@functools.lru_cache(maxsize=None)
def problem(model, a, s):
    """``(alpha, beta)`` in mtlreg's units (MALSAR's are twice these)."""
    from mtlreg import alpha_max

    X, y, tasks = school()
    _, penalty, r_lo, r_hi = MODELS[model]
    d, T = X.shape[1], int(tasks.max()) + 1
    top = alpha_max(X, y, tasks, penalty=penalty, loss_scaling="sum", fit_intercept=False)
    alpha = a * top
    r = r_lo(d, T) ** (1 - s) * r_hi(d, T) ** s
    return alpha, r * alpha


def malsar_objective(model, P, Q, lam1, lam2):
    """MALSAR's objective from the data (``P``, ``Q``: n_features x n_tasks)."""
    from ..malsar_style import MODELS as PENALTIES, _value

    X, y, tasks = school()
    W = P + Q
    r = y - np.sum(X * W.T[tasks], axis=1)
    h1, h2, _ = PENALTIES[model]
    return float(r @ r) + lam1 * _value(h1, P) + lam2 * _value(h2, Q)


# -- mtlreg ----------------------------------------------------------------------------------------
def _fit(model, alpha, beta, tol, max_iter):
    import mtlreg
    from sklearn.exceptions import ConvergenceWarning

    cls = getattr(mtlreg, MODELS[model][0])
    X, y, tasks = school()
    est = cls(alpha=alpha, beta=beta, loss_scaling="sum", fit_intercept=False, tol=tol,
              max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter = the oracle iteration
        t0 = time.perf_counter()
        est.fit(X, y, tasks)
        seconds = time.perf_counter() - t0
    P, Q = (np.asarray(getattr(est, attr)).T for attr in PART_ATTRIBUTES[model])
    return est, P, Q, seconds


def _best_time(model, alpha, beta, tol, max_iter):
    runs = [_fit(model, alpha, beta, tol, max_iter) for _ in range(INNER_REPEATS)]
    est, P, Q, _ = runs[0]
    return est, P, Q, min(r[3] for r in runs)


@functools.lru_cache(maxsize=None)
def reference(model, a, s):
    """``(f*, mtlreg's oracle iteration, reference gap / objective)``."""
    alpha, beta = problem(model, a, s)
    est, P, Q, _ = _fit(model, alpha, beta, REFERENCE_TOL, 100000)
    f_star = malsar_objective(model, P, Q, 2 * alpha, 2 * beta)
    # the solver's (iteration, objective, criterion) at each convergence check; its
    # objective is MALSAR's halved (its Gram form; fine at 1e-6)
    history = est.solution_.history
    oracle = next((k for k, obj, _ in history if (2 * obj - f_star) / f_star <= TARGET),
                  est.n_iter_)
    _CURVES.setdefault((model, a, s), {})["mtlreg"] = (
        np.array([k for k, _, _ in history]),
        np.array([(2 * obj - f_star) / f_star for _, obj, _ in history]))
    return f_star, oracle, est.dual_gap_ / est.objective_, est.converged_


@functools.lru_cache(maxsize=None)
def mtlreg_metrics(model, a, s):
    from threadpoolctl import threadpool_limits

    alpha, beta = problem(model, a, s)
    with threadpool_limits(limits=1):
        f_star, oracle, ref_gap, ref_converged = reference(model, a, s)
        _fit(model, alpha, beta, 1e-3, 5000)  # warm-up outside the timings
        _, P, Q, t_oracle = _best_time(model, alpha, beta, REFERENCE_TOL, oracle)
        sub_oracle = (malsar_objective(model, P, Q, 2 * alpha, 2 * beta) - f_star) / f_star
        est, P, Q, t_cert = _best_time(model, alpha, beta, TARGET, 100000)
    sub_cert = (malsar_objective(model, P, Q, 2 * alpha, 2 * beta) - f_star) / f_star
    return {"iters_oracle": float(oracle), "seconds_oracle": t_oracle,
            "rel_subopt_oracle": sub_oracle,
            "iters_certified": float(est.n_iter_), "seconds_certified": t_cert,
            "rel_gap_certified": est.dual_gap_ / est.objective_,
            "rel_subopt_certified": sub_cert, "converged_certified": float(est.converged_),
            "f_star": f_star, "reference_rel_gap": ref_gap,
            "reference_converged": float(ref_converged)}


# -- MALSAR-style --------------------------------------------------------------------------------
def malsar_metrics(model, a, s):
    from threadpoolctl import threadpool_limits

    from .. import malsar_style as M

    alpha, beta = problem(model, a, s)
    lam1, lam2 = 2 * alpha, 2 * beta
    mine = mtlreg_metrics(model, a, s)
    f_star = mine["f_star"]
    X, y, tasks = school()

    def done(fs):  # seen enough: f* matched to 1e-10 and every tol's stop recorded
        f = np.asarray(fs)
        return (f.min() <= f_star * (1 + AGREEMENT)
                and M.stop_iteration(f, MALSAR_TOLS[-1]) is not None)

    with threadpool_limits(limits=1):
        M.solve(model, M.TaskGram(X, y, tasks), lam1, lam2, max_iter=5)  # warm-up
        runs = []
        for _ in range(INNER_REPEATS):  # deterministic: same iterates, best time per iteration
            t0 = time.perf_counter()
            gram = M.TaskGram(X, y, tasks)
            runs.append(M.solve(model, gram, lam1, lam2, max_iter=MAX_ITER, t_start=t0,
                                done=done))
    run = runs[0]
    assert all(np.array_equal(r["f"], run["f"]) for r in runs)
    f, secs = run["f"], np.min([r["seconds"] for r in runs], axis=0)
    sub = (f - f_star) / f_star
    _CURVES.setdefault((model, a, s), {})["malsar"] = (np.arange(1, f.size + 1), sub)
    hit = np.flatnonzero(sub <= TARGET)
    out = {"lambda1": lam1, "lambda2": lam2, "n_iter_run": float(f.size),
           "L_final": float(run["L"]),
           "line_search_trials": float(run["n_trials"]),
           "rel_subopt_best": float(sub.min()), "rel_subopt_last": float(sub[-1])}
    # check: the recorded (Gram-form) objective agrees with the data
    recorded = M.objective(model, gram, run["P"], run["Q"], lam1, lam2)
    out["f_check_rel_diff"] = abs(recorded - malsar_objective(model, run["P"], run["Q"], lam1,
                                                              lam2)) / f_star
    if hit.size:
        k = int(hit[0])
        out.update(reached=1.0, iters_oracle=float(k + 1), seconds_oracle=float(secs[k]))
    else:
        out.update(reached=0.0, iters_oracle=float("nan"), seconds_oracle=float("nan"))
    stop = M.stop_iteration(f, MALSAR_DEFAULT_TOL)
    if stop is not None:
        out.update(iters_default_stop=float(stop), seconds_default_stop=float(secs[stop - 1]),
                   rel_subopt_default_stop=float(sub[stop - 1]),
                   default_stop_within_maxiter=float(stop <= MALSAR_DEFAULT_MAXITER))
    else:
        out.update(iters_default_stop=float("nan"), seconds_default_stop=float("nan"),
                   rel_subopt_default_stop=float("nan"), default_stop_within_maxiter=0.0)
    out.update(tol_for_target=float("nan"), iters_tol_for_target=float("nan"))
    for tol in MALSAR_TOLS:
        k = M.stop_iteration(f, tol)
        if k is not None and sub[k - 1] <= TARGET:
            out.update(tol_for_target=tol, iters_tol_for_target=float(k))
            break
    out["iters_ratio_oracle"] = out["iters_oracle"] / mine["iters_oracle"]
    out["seconds_ratio_oracle"] = out["seconds_oracle"] / mine["seconds_oracle"]
    out["iters_ratio_certified"] = out["iters_oracle"] / mine["iters_certified"]
    out["seconds_ratio_certified"] = out["seconds_oracle"] / mine["seconds_certified"]
    return out


# -- the suite ------------------------------------------------------------------------------------
def _run_mtlreg(model, a, s):
    def run():
        out = dict(mtlreg_metrics(model, a, s))
        alpha, beta = problem(model, a, s)
        out.update(alpha=alpha, beta=beta)
        return out
    return run


def _run_malsar(model, a, s):
    def run():
        return malsar_metrics(model, a, s)
    return run


def cases(ctx):
    for model in MODELS:
        for a, s in SETTINGS:
            params = {"model": model, "a": a, "s": round(s, 4), "target": TARGET}
            yield Case(label(model, a, s), "mtlreg", _run_mtlreg(model, a, s),
                       params={**params, "estimator": MODELS[model][0]})
            yield Case(label(model, a, s), "MALSAR-style", _run_malsar(model, a, s),
                       params={**params, "estimator": MALSAR_NAMES[model],
                               "max_iter": MAX_ITER})


def figures(records, out_dir):
    """Relative suboptimality against iterations, one panel per model (curves of the
    cases run in this process)."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not _CURVES:
        return []
    fig, axes = plt.subplots(1, len(MODELS), figsize=(5 * len(MODELS), 4), sharey=True)
    for ax, model in zip(axes, MODELS):
        x_max = 0
        for i, (a, s) in enumerate(SETTINGS):
            curves = _CURVES.get((model, a, s), {})
            for key, style, who in (("malsar", "-", "MALSAR-style"), ("mtlreg", "--", "mtlreg")):
                if key not in curves:
                    continue
                it, sub = curves[key]
                shown = np.maximum(sub, 1e-16)
                ax.semilogy(it, shown, style, color=f"C{i}", lw=1.2,
                            label=f"{who}, a={a:g} s={s:.2g}")
                hit = np.flatnonzero(sub <= TARGET)
                if hit.size:
                    x_max = max(x_max, it[hit[0]])
        ax.axhline(TARGET, color="k", lw=0.8, ls=":")
        ax.set_xlim(0, max(100, 3 * x_max))
        ax.set_xlabel("iteration")
        ax.set_title(f"{model} ({MALSAR_NAMES[model]} scheme vs mtlreg)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("(f - f*) / f*")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right")
    fig.suptitle("School split 1, training part: relative suboptimality per iteration "
                 "(mtlreg: every 10th iteration)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "convergence.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
