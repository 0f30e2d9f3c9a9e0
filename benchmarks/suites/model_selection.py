"""Cross-validation along warm-started paths (``MultiTaskCV``) against
scikit-learn's ``GridSearchCV`` with cold starts, on the same grid and folds.

What it shows: how much faster choosing ``alpha`` by 5-fold cross-validation
over a 20-point grid is with :class:`mtlreg.model_selection.MultiTaskCV`
(one warm-started regularization path per fold, data prepared once per path)
than with ``GridSearchCV`` (100 independent fits, each from ``W = 0``), and
that both select the same model.

Problems: the training part of split 1 of the ``accuracy`` suite
(:func:`benchmarks.suites.accuracy._split`), features standardized with that
part's mean and std, constant columns dropped
(:func:`benchmarks.suites.accuracy._standardize`; the test part is not used):

* ``school``: the first of the 10 given splits of Argyriou et al.: 11,472
  students, 139 schools, 27 features (the constant bias column dropped);
* ``landmine``: one random 50/50 split within each task and class (drawn
  from ``--seed``): 7,409 samples, 29 tasks, 9 features, labels 0/1;
* ``parkinsons``: one random 75/25 split within each patient (from
  ``--seed``), target ``motor_UPDRS``: 4,407 recordings, 42 patients, 19
  features.

Estimators (mtlreg defaults: ``tol=1e-6``, ``max_iter=5000``,
``loss_scaling="mean"``, per-task intercepts): ``L21Regressor``,
``LassoRegressor``, ``TraceRegressor`` and ``DirtyRegressor`` on School,
``L21Classifier`` on Landmine, ``L21Regressor`` on Parkinson's.
``DirtyRegressor`` has ``beta`` fixed at ``0.1 * T**-0.5 * alpha_max(l1inf)``
and its path runs over ``alpha``: the ``(a, s) = (0.1, 1/2)`` setting of the
``convergence`` suite lies on it, at ``alpha = 0.1 alpha_max``.
``LassoRegressor`` and ``TraceRegressor`` on Parkinson's are left out to keep
the suite under 10 minutes (about 45 s per timed repeat each; speed-ups of
1.05 and 0.88 in single exploratory runs on the loaded development machine).

Protocol, for each (problem, estimator) -- one case, both searches measured
side by side in one process:

* grid: ``alpha_grid(est, X, y, tasks, n_alphas=20, eps=1e-3)`` on the
  data of the search (20 values from ``alpha_max`` down to
  ``1e-3 alpha_max``, log-spaced, decreasing), passed explicitly to both;
* folds: ``TaskStratifiedKFold(5, shuffle=True, random_state=seed)``
  (classes balanced within tasks for Landmine), materialized once as a list
  of ``(train, test)`` index pairs and passed as ``cv=`` to both;
* scorer: ``mtlreg.metrics.get_scorer("neg_mean_squared_error")``
  (task-averaged) for regressors, ``get_scorer("roc_auc")`` (task-averaged
  ROC AUC of ``decision_function``) for the classifier; the same object for
  both;
* ``MultiTaskCV(est, alphas=grid, cv=splits, scoring=scorer, n_jobs=1)``
  (refit on all the data, started from the mean of the folds' solutions at
  the selected value) and
  ``GridSearchCV(est.set_fit_request(tasks=True), {"alpha": grid},
  cv=splits, scoring=scorer, n_jobs=1)`` (refit: one cold fit) under
  ``sklearn.config_context(enable_metadata_routing=True)``, both
  ``.fit(X, y, tasks)``;
* timing: wall seconds of each ``fit`` (CV plus refit), best of
  ``REPEATS = 3`` interleaved runs (the order alternates between runs), after
  one untimed warm-up fit; ``speedup = time_gridsearchcv_s /
  time_multitaskcv_s``; ``speedup_of_medians``, the ratio of the median
  times; and the process CPU time of the same fits (``cpu_multitaskcv_s``,
  ``cpu_gridsearchcv_s``, best of the repeats, ``speedup_cpu``): with one
  thread and ``n_jobs=1`` it equals the wall time on an idle machine, and it
  does not count the time other processes take the core on a shared one;
* solver iterations of the cross-validation (refits excluded):
  ``iters_warm`` is ``sum(cv_results_["mean_n_iter"]) * 5``;
  ``GridSearchCV`` does not expose its fits' ``n_iter_``, so ``iters_cold``
  comes from a hand loop (untimed for the ratio) of ``clone(est).set_params
  (alpha=a).fit`` over the same folds and grid -- the fits
  ``GridSearchCV`` makes (deterministic from ``W = 0``;
  ``cold_loop_vs_gridsearch_max_abs_diff``, the largest difference between
  the loop's mean test scores and ``GridSearchCV``'s, checks it);
  ``iter_ratio = iters_cold / iters_warm``; ``fit_s_warm`` (the sum of
  ``MultiTaskCV``'s fit times) and ``fit_s_cold`` (the loop's) give the
  solve time per iteration, ``ms_per_iter_warm`` / ``ms_per_iter_cold``;
  ``prep_ms`` is the time of one data preparation (``est.prepare`` on the
  first training fold, best of 3): what every cold fit pays again and a path
  pays once; ``score_s_warm``: ``MultiTaskCV``'s scoring time;
* agreement: ``max_rel_score_diff``, the largest ``|m - g| / |g|`` over the
  grid between the two ``mean_test_score`` vectors (matched by alpha),
  ``rel_score_diff_at_best`` at ``GridSearchCV``'s selected point, and
  ``best_params_agree`` (1 when both select the same alpha);
  ``best_index`` (0 = ``alpha_max``) and ``best_alpha_rel`` (selected alpha
  / alpha_max);
* the path alone, without the CV machinery: ``regularization_path(est, X,
  y, tasks, alphas=grid)`` on all the data of the search against 20 cold
  fits on it (one timing each): ``path_s``, ``cold_path_s``,
  ``path_speedup``, ``path_iters``, ``cold_path_iters``,
  ``path_iter_ratio``;
* ``not_converged_warm`` / ``not_converged_cold``: fits that stopped at
  ``max_iter`` (CV fits of ``MultiTaskCV`` / of the hand loop).

Every case runs with single-threaded BLAS (threadpoolctl): the problems have
at most 27 features, and on the shared 2-core development machine extra BLAS
threads only add noise (see the ``quick`` suite).  ``--max-time``: each case
has an expected duration per timed repeat on that machine; the suite runs as
many of the 3 repeats as fit and skips a case when not even one does.  Use
the runner's ``--repeat 1`` (the default): the case repeats internally.
"""

import functools
import re
import time
import warnings

import numpy as np

from .._api import Case, Skip

DESCRIPTION = ("MultiTaskCV (warm-started paths) vs GridSearchCV (cold starts), same 20-point "
               "alpha grid, 5 folds and scorer: School, Landmine, Parkinson's; time, "
               "iterations, speedup, agreement of scores and selection")

N_ALPHAS = 20
EPS = 1e-3
N_FOLDS = 5
REPEATS = 3
SPLIT = 0                  # split 1 of the accuracy suite: its training part is searched
DIRTY_A, DIRTY_S = 0.1, 0.5  # beta = (a * alpha_max(l1inf)) * r, r = (1/T)^(1-s) * 1^s

# (problem, estimator): rough seconds of one timed repeat (MultiTaskCV + GridSearchCV) and
# of the rest (hand loop, path, preparation) on the 2-core development machine
CASES = {
    ("school", "L21Regressor"): (6.0, 7.0),
    ("school", "LassoRegressor"): (14.0, 15.0),
    ("school", "TraceRegressor"): (20.0, 20.0),
    ("school", "DirtyRegressor"): (22.0, 20.0),
    ("landmine", "L21Classifier"): (45.0, 30.0),
    ("parkinsons", "L21Regressor"): (36.0, 22.0),
}
_CURVES = {}  # (problem, estimator) -> per-point mean iterations per fold, for figures


# -- data --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def data(problem, seed=0):
    """``(X, y, tasks)``: the standardized training part of split 1 of ``problem``."""
    from . import accuracy

    b = accuracy._load(problem)
    train, test = accuracy._split(problem, SPLIT, seed)
    X, _ = accuracy._standardize(np.asarray(b.X, dtype=np.float64), train, test)
    y = b.y[train]
    y = y.astype(np.float64) if accuracy.DATASETS[problem][0] == "regression" else y
    return np.ascontiguousarray(X), y, np.asarray(b.tasks)[train]


def make_estimator(name, X, y, tasks):
    import mtlreg

    cls = getattr(mtlreg, name)
    if name != "DirtyRegressor":
        return cls()
    from mtlreg import alpha_max

    T = np.unique(tasks).size
    top = alpha_max(X, y, tasks, estimator=cls(), param="alpha")  # l1inf
    return cls(beta=DIRTY_A * T ** (DIRTY_S - 1) * top)


# -- one case ------------------------------------------------------------------------------------
def _time_multitaskcv(est, grid, splits, scorer, X, y, tasks):
    from mtlreg.model_selection import MultiTaskCV

    from sklearn.exceptions import ConvergenceWarning

    search = MultiTaskCV(est, alphas=grid, cv=splits, scoring=scorer, n_jobs=1, refit=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        c0, t0 = time.process_time(), time.perf_counter()
        search.fit(X, y, tasks)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # "<n> of <m> fits along the cross-validation paths did not converge within max_iter."
    search.n_not_converged_ = sum(
        int(m.group(1)) for w in caught
        for m in [re.match(r"(\d+) of \d+ fits along the cross-validation paths",
                           str(w.message))] if m)
    return seconds, cpu, search


def _time_gridsearchcv(est, grid, splits, scorer, X, y, tasks):
    from sklearn import clone, config_context
    from sklearn.model_selection import GridSearchCV

    with config_context(enable_metadata_routing=True):
        search = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": grid},
                              cv=splits, scoring=scorer, n_jobs=1, refit=True)
        c0, t0 = time.process_time(), time.perf_counter()
        search.fit(X, y, tasks=tasks)
        return time.perf_counter() - t0, time.process_time() - c0, search


def _fit_record(est, X, y, tasks):
    t0 = time.perf_counter()
    est.fit(X, y, tasks)
    return time.perf_counter() - t0, int(est.n_iter_), bool(est.converged_)


def compare(problem, name, seed=0, repeats=REPEATS):
    """The metrics of one (problem, estimator) case (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        # cold fits at small alpha may stop at max_iter: counted, not shown 100 times
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        return _compare(problem, name, seed, repeats)


def _compare(problem, name, seed, repeats):
    from sklearn.base import clone, is_classifier

    from mtlreg.metrics import get_scorer
    from mtlreg.model_selection import TaskStratifiedKFold, alpha_grid, regularization_path

    X, y, tasks = data(problem, seed)
    est = make_estimator(name, X, y, tasks)
    scorer = get_scorer("roc_auc" if is_classifier(est) else "neg_mean_squared_error")
    grid = alpha_grid(est, X, y, tasks, n_alphas=N_ALPHAS, eps=EPS)
    splits = list(TaskStratifiedKFold(N_FOLDS, shuffle=True, random_state=seed)
                  .split(X, y, tasks=tasks))
    n_splits = len(splits)
    tr0 = splits[0][0]
    clone(est).set_params(alpha=grid[N_ALPHAS // 2]).fit(X[tr0], y[tr0], tasks[tr0])  # warm-up

    # -- the timed searches, interleaved ----------------------------------------------------
    times = {"mtcv": [], "gs": []}
    cpu = {"mtcv": [], "gs": []}
    fitted = {}
    for r in range(repeats):
        order = ("mtcv", "gs") if r % 2 == 0 else ("gs", "mtcv")
        for key in order:
            timer = _time_multitaskcv if key == "mtcv" else _time_gridsearchcv
            seconds, cpu_seconds, fitted[key] = timer(est, grid, splits, scorer, X, y, tasks)
            times[key].append(seconds)
            cpu[key].append(cpu_seconds)
    mtcv, gs = fitted["mtcv"], fitted["gs"]
    out = {"time_multitaskcv_s": min(times["mtcv"]), "time_gridsearchcv_s": min(times["gs"])}
    out["speedup"] = out["time_gridsearchcv_s"] / out["time_multitaskcv_s"]
    out["speedup_of_medians"] = float(np.median(times["gs"]) / np.median(times["mtcv"]))
    out["cpu_multitaskcv_s"] = min(cpu["mtcv"])
    out["cpu_gridsearchcv_s"] = min(cpu["gs"])
    out["speedup_cpu"] = out["cpu_gridsearchcv_s"] / out["cpu_multitaskcv_s"]
    out["repeats"] = float(repeats)
    out["refit_s_multitaskcv"] = float(mtcv.refit_time_)
    out["refit_s_gridsearchcv"] = float(gs.refit_time_)

    # -- agreement ----------------------------------------------------------------------------
    res = mtcv.cv_results_
    warm_alphas = np.array([p["alpha"] for p in res["params"]], dtype=float)
    gs_alphas = np.array([float(p["alpha"]) for p in gs.cv_results_["params"]])
    order = [int(np.flatnonzero(np.isclose(gs_alphas, a, rtol=1e-12, atol=0))[0])
             for a in warm_alphas]
    m_scores = np.asarray(res["mean_test_score"], dtype=float)
    g_scores = np.asarray(gs.cv_results_["mean_test_score"], dtype=float)[order]
    rel = np.abs(m_scores - g_scores) / np.abs(g_scores)
    best_gs = int(np.flatnonzero(np.isclose(warm_alphas, float(gs.best_params_["alpha"]),
                                            rtol=1e-12, atol=0))[0])
    best_mt = int(mtcv.best_index_)
    out.update(max_rel_score_diff=float(rel.max()), rel_score_diff_at_best=float(rel[best_gs]),
               best_params_agree=float(best_mt == best_gs),
               best_index_multitaskcv=float(best_mt), best_index_gridsearchcv=float(best_gs),
               best_alpha_rel=float(warm_alphas[best_mt] / grid[0]),
               best_score=float(m_scores[best_mt]))

    # -- iterations: MultiTaskCV's own counts; cold ones by a hand loop over the same fits ------
    warm_iters = np.asarray(res["mean_n_iter"], dtype=float) * n_splits
    out["iters_warm"] = float(warm_iters.sum())
    out["fit_s_warm"] = float(np.sum(res["mean_fit_time"]) * n_splits)
    out["score_s_warm"] = float(np.sum(res["mean_score_time"]) * n_splits)
    cold_iters = np.zeros((n_splits, grid.size))
    cold_scores = np.zeros((n_splits, grid.size))
    cold_fit_s, cold_bad = 0.0, 0
    for k, (tr, te) in enumerate(splits):
        for i, a in enumerate(grid):
            model = clone(est).set_params(alpha=a)
            seconds, n_iter, converged = _fit_record(model, X[tr], y[tr], tasks[tr])
            cold_fit_s += seconds
            cold_iters[k, i] = n_iter
            cold_bad += not converged
            cold_scores[k, i] = scorer(model, X[te], y[te], tasks=tasks[te])
    g_raw = np.asarray(gs.cv_results_["mean_test_score"], dtype=float)[order]
    out["cold_loop_vs_gridsearch_max_abs_diff"] = float(np.max(np.abs(cold_scores.mean(0)
                                                                      - g_raw)))
    out["iters_cold"] = float(cold_iters.sum())
    out["iter_ratio"] = out["iters_cold"] / out["iters_warm"]
    out["fit_s_cold"] = cold_fit_s
    out["ms_per_iter_warm"] = 1e3 * out["fit_s_warm"] / out["iters_warm"]
    out["ms_per_iter_cold"] = 1e3 * cold_fit_s / out["iters_cold"]
    out["not_converged_warm"] = float(mtcv.n_not_converged_)
    out["not_converged_cold"] = float(cold_bad)
    # one data preparation (est.prepare, what fit runs before the solver): what every
    # cold fit repeats and a path does once
    prep = []
    for _ in range(3):
        model = clone(est).set_params(alpha=grid[0])
        t0 = time.perf_counter()
        model.prepare(X[tr0], y[tr0], tasks[tr0])
        prep.append(time.perf_counter() - t0)
    out["prep_ms"] = 1e3 * min(prep)

    # -- the path alone on all the data, against cold fits ---------------------------------------
    t0 = time.perf_counter()
    path = regularization_path(est, X, y, tasks, alphas=grid)
    out["path_s"] = time.perf_counter() - t0
    out["path_iters"] = float(np.sum(path.n_iters))
    cold_path = [_fit_record(clone(est).set_params(alpha=a), X, y, tasks) for a in grid]
    out["cold_path_s"] = float(sum(c[0] for c in cold_path))
    out["cold_path_iters"] = float(sum(c[1] for c in cold_path))
    out["path_speedup"] = out["cold_path_s"] / out["path_s"]
    out["path_iter_ratio"] = out["cold_path_iters"] / out["path_iters"]

    X_shape = X.shape
    out.update(n_samples=float(X_shape[0]), n_features=float(X_shape[1]),
               n_tasks=float(np.unique(tasks).size), alpha_max=float(grid[0]))
    if "beta" in est.get_params():
        out["beta"] = float(est.beta)
    _CURVES[problem, name] = {"alpha_rel": grid / grid[0],
                              "warm": warm_iters / n_splits, "cold": cold_iters.mean(axis=0),
                              "best": best_mt}
    return out


# -- the suite ------------------------------------------------------------------------------------
def _repeats_within(max_time, per_repeat, rest):
    if not np.isfinite(max_time):
        return REPEATS
    return int(min(REPEATS, (max_time - rest) // per_repeat))


def _run(problem, name, seed, max_time):
    def run():
        per_repeat, rest = CASES[problem, name]
        repeats = _repeats_within(max_time, per_repeat, rest)
        if repeats < 1:
            raise Skip(f"expected ~{per_repeat + rest:g} s for one timed repeat and the "
                       f"iteration counts > --max-time {max_time:g} s")
        return compare(problem, name, seed, repeats)
    return run


def cases(ctx):
    for (problem, name) in CASES:
        label = "DirtyRegressor (beta fixed)" if name == "DirtyRegressor" else name
        yield Case(problem, label, _run(problem, name, ctx.seed, ctx.max_time),
                   params={"split": SPLIT, "n_alphas": N_ALPHAS, "eps": EPS,
                           "n_folds": N_FOLDS, "blas_threads": 1})


def figures(records, out_dir):
    """Bar chart of the speed-ups (CV time, iterations, path alone) per case, and the
    iterations per fit along the grid (warm path vs cold fits, mean over the folds)."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in records if r["status"] == "ok" and np.isfinite(r.get("speedup", np.nan))]
    if not ok:
        return []
    paths = []
    labels = [f"{r['problem']}\n{r['solver'].replace(' (beta fixed)', '*')}" for r in ok]
    x = np.arange(len(ok))
    bars = [("speedup", "CV time: GridSearchCV / MultiTaskCV", "C0"),
            ("iter_ratio", "CV iterations: cold / warm", "C1"),
            ("path_speedup", "path alone (all data): cold / path time", "C2")]
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(ok) + 2), 4.2))
    width = 0.8 / len(bars)
    for j, (key, text, color) in enumerate(bars):
        vals = [r.get(key, np.nan) for r in ok]
        pos = x + (j - (len(bars) - 1) / 2) * width
        ax.bar(pos, vals, width, label=text, color=color)
        for p, v in zip(pos, vals):
            if np.isfinite(v):
                ax.text(p, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(3.0, color="k", ls=":", lw=1, label="3x")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("ratio (higher: warm paths faster)")
    ax.set_title("20-point alpha grid, 5 folds, refit; best of 3 timings "
                 "(* DirtyRegressor, beta fixed)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = os.path.join(out_dir, "model_selection_speedup.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)

    curves = [(key, c) for key, c in _CURVES.items()]
    if curves:
        n = len(curves)
        cols = min(4, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False)
        for ax, ((problem, name), c) in zip(axes.flat, curves):
            ax.semilogx(c["alpha_rel"], c["cold"], "o-", ms=3, color="C3", label="cold fits")
            ax.semilogx(c["alpha_rel"], c["warm"], "s-", ms=3, color="C0", label="warm path")
            ax.axvline(c["alpha_rel"][c["best"]], color="k", ls=":", lw=0.8)
            ax.invert_xaxis()
            ax.set_title(f"{problem}: {name}", fontsize=8)
            ax.set_xlabel("alpha / alpha_max", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.set_axis_off()
        axes.flat[0].set_ylabel("iterations per fit", fontsize=7)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle("Solver iterations per fit along the grid, mean over the 5 folds "
                     "(dotted: selected alpha)", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "model_selection_iterations.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
