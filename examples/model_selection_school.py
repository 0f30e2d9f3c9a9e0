"""Choosing hyper-parameters on School: alpha_max, warm-started paths, task-aware
cross-validation and MultiTaskCV.  Produces every number and figure of
docs/model_selection.md.

Data: School split 1 (``load_school().splits[0]``): 11,472 training and 3,890
test samples, 139 schools (tasks).  ``X[:, :27]`` is standardized with the
training mean and standard deviation; column 28, a constant bias, is dropped
and each task gets an unpenalized intercept.  All model selection uses the
training part only; the test part is used only for the reported test metrics.

Sections (each prints its own block):

1. ``alpha_max`` of every estimator parameter that has one, on the training
   part; a check of the threshold for ``L21Regressor``; the error raised for a
   smooth term (``MTFLRegressor``).
2. ``regularization_path`` of ``L21Regressor`` on the default grid (20 values
   from ``alpha_max`` to ``1e-3 alpha_max``) against a plain warm-start loop and
   20 cold fits: iterations, wall time, and the largest differences of the
   solutions.
3. Folds: how many tasks a training fold misses with scikit-learn's ``KFold``
   (the data are sorted by task) and with ``TaskStratifiedKFold``; on Landmine
   (binary, about 6% positives), how many (task, test fold) parts hold no
   positive sample.
4. The scoring pitfall: ``GridSearchCV(..., scoring="r2")`` under metadata
   routing, then the fix with ``mtlreg.metrics.get_scorer``; ``GridSearchCV.predict``
   and ``cross_validate``.
5. ``MultiTaskCV(L21Regressor())`` (default grid, 5 folds, random_state=0),
   ``selection="min"`` and ``"one_standard_error"``: chosen ``alpha``, selected
   features, test metrics; ``docs/img/model_selection_l21.png``.
6. A smooth term without ``alpha_max``: ``MTFLRegressor`` on an explicit grid;
   ``docs/img/model_selection_mtfl.png``.
7. A second parameter: ``DirtyRegressor`` with ``param_grid={"beta": [...]}``
   (the default ``alpha`` grid for each ``beta``);
   ``docs/img/model_selection_dirty.png``.
8. Shared design: ``MultiTaskCV(L21Regressor(), cv=KFold(5))`` against
   scikit-learn's ``MultiTaskLassoCV(cv=KFold(5))`` on synthetic data.

Run:  python examples/model_selection_school.py
"""

import os
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import MultiTaskLassoCV
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

import mtlreg
from mtlreg.datasets import load_landmine, load_school
from mtlreg.metrics import (
    get_scorer,
    task_explained_variance_score,
    task_normalized_mean_squared_error,
)
from mtlreg.model_selection import (
    MultiTaskCV,
    TaskStratifiedKFold,
    alpha_grid,
    regularization_path,
)

IMG = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "img")


def load():
    data = load_school()
    train, test = data.splits[0]
    X = data.X[:, :27]                      # column 28 is the constant bias
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    X = (X - mean) / std
    return X[train], data.y[train], data.tasks[train], X[test], data.y[test], data.tasks[test]


def test_metrics(model, Xte, yte, tte):
    pred = model.predict(Xte, tasks=tte)
    return {
        "nMSE (tasks)": task_normalized_mean_squared_error(yte, pred, tte),
        "nMSE (samples)": task_normalized_mean_squared_error(yte, pred, tte, average="samples"),
        "EV (tasks)": task_explained_variance_score(yte, pred, tte),
        "pooled nMSE": float(np.mean((yte - pred) ** 2) / np.var(yte)),
    }


def show_metrics(m):
    return ", ".join(f"{k} {v:.4f}" for k, v in m.items())


def n_features_used(coef):
    return int(np.sum(np.any(coef != 0, axis=0)))


def last_line(text):
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- 1
def section_alpha_max(Xtr, ytr, ttr):
    print("## 1. alpha_max on the School training part\n")
    print("| estimator | parameter | norm | alpha_max |")
    print("|---|---|---|---|")
    for name in ["LassoRegressor", "L21Regressor", "TraceRegressor", "SparseTraceRegressor",
                 "DirtyRegressor", "RobustRegressor", "RMTFLRegressor", "GraphRegressor"]:
        est = getattr(mtlreg, name)()
        problem = est.prepare(Xtr, ytr, ttr)  # once per estimator: alpha_max reuses it
        for param, norm in est.get_objective(problem).thresholds().items():
            value = mtlreg.alpha_max(problem, estimator=est, param=param)
            print(f"| {name} | {param} | {norm} | {value:.4f} |")
    dirty_l2 = mtlreg.DirtyRegressor(group_norm="l2")
    problem = dirty_l2.prepare(Xtr, ytr, ttr)
    print(f"| DirtyRegressor(group_norm='l2') | alpha | "
          f"{dirty_l2.get_objective(problem).thresholds()['alpha']} | "
          f"{mtlreg.alpha_max(problem, estimator=dirty_l2):.4f} |")

    amax = mtlreg.alpha_max(Xtr, ytr, ttr, estimator=mtlreg.L21Regressor())
    for f in (1.001, 0.99):
        m = mtlreg.L21Regressor(alpha=f * amax).fit(Xtr, ytr, tasks=ttr)
        print(f"\nL21Regressor(alpha={f} * alpha_max): {n_features_used(m.coef_)} nonzero "
              f"feature rows, {int(np.sum(m.coef_ != 0))} nonzero coefficients", end="")
    print()
    for name, param in [("MTFLRegressor", "alpha"), ("GraphRegressor", "alpha")]:
        try:
            mtlreg.alpha_max(Xtr, ytr, ttr, estimator=getattr(mtlreg, name)(), param=param)
        except ValueError as exc:
            print(f"\nalpha_max(..., estimator={name}(), param={param!r}) raises "
                  f"ValueError: {exc}")
    return amax


# --------------------------------------------------------------------------- 2
def section_path(Xtr, ytr, ttr):
    print("\n## 2. regularization_path of L21Regressor vs warm-start loop vs cold fits\n")
    start = time.perf_counter()
    path = regularization_path(mtlreg.L21Regressor(), Xtr, ytr, ttr)
    t_path = time.perf_counter() - start

    # a plain warm-start loop: the estimator's own warm_start, data prepared at each fit
    start = time.perf_counter()
    loop = mtlreg.L21Regressor(warm_start=True)
    loop_iters = []
    for a in path.alphas:
        loop.set_params(alpha=float(a)).fit(Xtr, ytr, tasks=ttr)
        loop_iters.append(loop.n_iter_)
    t_loop = time.perf_counter() - start

    start = time.perf_counter()
    cold = [mtlreg.L21Regressor(alpha=float(a)).fit(Xtr, ytr, tasks=ttr) for a in path.alphas]
    t_cold = time.perf_counter() - start
    cold_iters = [m.n_iter_ for m in cold]

    diffs = [float(np.abs(path.coefs[i] - m.coef_).max()) for i, m in enumerate(cold)]
    coef_diff = max(diffs)
    coef_scale = max(float(np.abs(m.coef_).max()) for m in cold)
    obj_diff = max(abs(path.objectives[i] - m.objective_) / m.objective_
                   for i, m in enumerate(cold))
    print(f"grid: {path.alphas.size} values, {path.alphas[0]:.4f} (alpha_max) down to "
          f"{path.alphas[-1]:.6f}; path fields: {sorted(path.keys())}")
    print("| fits | total n_iter_ | wall s |")
    print("|---|---|---|")
    print(f"| regularization_path | {int(path.n_iters.sum())} | {t_path:.2f} |")
    print(f"| warm-start loop (warm_start=True, set_params, fit) | {sum(loop_iters)} | "
          f"{t_loop:.2f} |")
    print(f"| 20 cold fits | {sum(cold_iters)} | {t_cold:.2f} |")
    print(f"\nn_iter_ per point, path: {path.n_iters.tolist()}")
    print(f"n_iter_ per point, loop: {loop_iters}")
    print(f"n_iter_ per point, cold: {cold_iters}")
    print(f"all path points converged: {bool(path.converged.all())}; largest "
          f"dual_gap / objective along the path: {np.nanmax(path.dual_gaps / path.objectives):.1e}")
    print(f"path vs cold fits: largest |coef difference| {coef_diff:.1e} (largest |coef| "
          f"{coef_scale:.2f}), largest relative objective difference {obj_diff:.1e}")
    print(f"largest |coef difference| per point: {', '.join(f'{d:.0e}' for d in diffs)}")
    for tol in (1e-8, 1e-10):
        p = regularization_path(mtlreg.L21Regressor(tol=tol, max_iter=100000), Xtr, ytr, ttr)
        diff = max(float(np.abs(p.coefs[i] - mtlreg.L21Regressor(
            alpha=float(a), tol=tol, max_iter=100000).fit(Xtr, ytr, tasks=ttr).coef_).max())
            for i, a in enumerate(p.alphas))
        print(f"tol={tol:g}: path total n_iter_ {int(p.n_iters.sum())}, largest |coef "
              f"difference| to cold fits at the same tol {diff:.1e}")
    return path


# --------------------------------------------------------------------------- 3
def section_folds(Xtr, ytr, ttr):
    print("\n## 3. Folds\n")
    n_tasks = np.unique(ttr).size
    for label, cv in [("KFold(5) (no shuffle; rows sorted by task)", KFold(5)),
                      ("KFold(5, shuffle=True, random_state=0)",
                       KFold(5, shuffle=True, random_state=0)),
                      ("TaskStratifiedKFold(5, shuffle=True, random_state=0)",
                       TaskStratifiedKFold(5, shuffle=True, random_state=0))]:
        missing_train, test_counts = [], []
        folds = cv.split(Xtr, ytr, tasks=ttr) if isinstance(cv, TaskStratifiedKFold) \
            else cv.split(Xtr, ytr)
        for train, test in folds:
            missing_train.append(n_tasks - np.unique(ttr[train]).size)
            test_counts.append(np.bincount(ttr[test], minlength=n_tasks))
        test_counts = np.array(test_counts)
        print(f"School, {label}: tasks absent from each training fold {missing_train}; "
              f"test samples per (task, fold) from {test_counts.min()} to {test_counts.max()}; "
              f"(task, fold) test parts with no sample: {int(np.sum(test_counts == 0))}")
    train, test = next(iter(KFold(5).split(Xtr)))
    model = mtlreg.L21Regressor(alpha=1.0).fit(Xtr[train], ytr[train], tasks=ttr[train])
    try:
        model.predict(Xtr[test], tasks=ttr[test])
    except ValueError as exc:
        print(f"KFold(5), first fold: predict on the test fold raises ValueError: "
              f"{str(exc)[:160]}...")

    mine = load_landmine()
    T = np.unique(mine.tasks).size
    print()
    for label, cv in [("KFold(5, shuffle=True, random_state=0)",
                       KFold(5, shuffle=True, random_state=0)),
                      ("TaskStratifiedKFold(5, shuffle=True, random_state=0)",
                       TaskStratifiedKFold(5, shuffle=True, random_state=0))]:
        folds = cv.split(mine.X, mine.y, tasks=mine.tasks) \
            if isinstance(cv, TaskStratifiedKFold) else cv.split(mine.X, mine.y)
        pos = np.array([np.bincount(mine.tasks[test][mine.y[test] == 1], minlength=T)
                        for _, test in folds])
        print(f"Landmine ({T} tasks, {mine.y.mean():.3f} positive), {label}: positives per "
              f"(task, test fold) from {pos.min()} to {pos.max()}; parts with no positive "
              f"(AUC undefined there): {int(np.sum(pos == 0))} of {pos.size}")


# --------------------------------------------------------------------------- 4
def section_pitfall(Xtr, ytr, ttr, Xte, tte, amax):
    print("\n## 4. The scoring pitfall\n")
    grid = {"alpha": [0.1 * amax, 0.03 * amax, 0.01 * amax]}
    cv = TaskStratifiedKFold(5, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = mtlreg.L21Regressor().set_fit_request(tasks=True)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bad = GridSearchCV(est, grid, cv=cv, scoring="r2").fit(Xtr, ytr, tasks=ttr)
        fails = [w for w in caught if "Scoring failed" in str(w.message)]
        others = [w for w in caught if "Scoring failed" not in str(w.message)]
        print('GridSearchCV(est, grid, cv=TaskStratifiedKFold(...), scoring="r2")'
              ".fit(X, y, tasks=tasks):")
        print(f"  mean_test_score = {bad.cv_results_['mean_test_score'].tolist()}")
        print(f"  {len(fails)} UserWarnings 'Scoring failed...'; the error inside: "
              f"{last_line(fails[0].message) if fails else '-'}")
        for w in others:
            print(f"  {w.category.__name__}: {last_line(w.message)}")
        print(f"  best_params_ = {{'alpha': {bad.best_params_['alpha']:.4f}}} "
              f"(= {bad.best_params_['alpha'] / amax:g} alpha_max) was still chosen and refitted")

        good = GridSearchCV(est, grid, cv=cv, scoring=get_scorer("r2")).fit(Xtr, ytr, tasks=ttr)
        print(f'GridSearchCV(..., scoring=mtlreg.metrics.get_scorer("r2")): mean_test_score = '
              f"{np.round(good.cv_results_['mean_test_score'], 4).tolist()}, best alpha = "
              f"{good.best_params_['alpha'] / amax:g} alpha_max")
        for call, kwargs in [("search.predict(X_test)", {}),
                             ("search.predict(X_test, tasks=t_test)", {"tasks": tte})]:
            try:
                good.predict(Xte, **kwargs)
                print(f"{call}: ran")
            except (ValueError, TypeError) as exc:
                print(f"{call} raises {type(exc).__name__}: {str(exc)[:150]}")
        pred = good.best_estimator_.predict(Xte, tasks=tte)
        print(f"search.best_estimator_.predict(X_test, tasks=t_test): shape {pred.shape}")

        res = cross_validate(mtlreg.L21Regressor(alpha=0.03 * amax).set_fit_request(tasks=True),
                             Xtr, ytr, cv=cv, params={"tasks": ttr},
                             scoring={"r2": get_scorer("r2"),
                                      "nmse": get_scorer("neg_normalized_mean_squared_error")})
        print(f"cross_validate(L21Regressor(alpha=0.03 alpha_max), ..., params={{'tasks': t}}): "
              f"test_r2 = {np.round(res['test_r2'], 4).tolist()}, test_nmse = "
              f"{np.round(res['test_nmse'], 4).tolist()}")
        model = mtlreg.L21Regressor(alpha=0.03 * amax)
        for k, (train, test) in enumerate(cv.split(Xtr, ytr, tasks=ttr)):
            model.fit(Xtr[train], ytr[train], tasks=ttr[train])
            yt, tt = ytr[test], ttr[test]
            per_task = task_normalized_mean_squared_error(
                yt, model.predict(Xtr[test], tasks=tt), tt, average=None)
            worst = int(np.argmax(per_task))
            rows = tt == np.unique(tt)[worst]
            print(f"  fold {k}: largest per-task nMSE {per_task[worst]:.1f} (task "
                  f"{np.unique(tt)[worst]}, {int(rows.sum())} test samples, variance "
                  f"{np.var(yt[rows]):.2f}); mean without it "
                  f"{np.delete(per_task, worst).mean():.4f}")

    # routing off: GridSearchCV passes fit params to fit, but nothing to the scorer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        off = GridSearchCV(mtlreg.L21Regressor(), grid, cv=cv, scoring=get_scorer("r2")).fit(
            Xtr, ytr, groups=ttr, tasks=ttr)
    fails = [w for w in caught if "Scoring failed" in str(w.message)]
    print(f"routing off, scoring=get_scorer('r2'), fit(X, y, groups=tasks, tasks=tasks): "
          f"mean_test_score = {off.cv_results_['mean_test_score'].tolist()}, {len(fails)} "
          f"'Scoring failed' warnings; the error inside: "
          f"{last_line(fails[0].message)[:200] if fails else '-'}...")


# --------------------------------------------------------------------------- 5
def section_l21_cv(Xtr, ytr, ttr, Xte, yte, tte, amax):
    print("\n## 5. MultiTaskCV(L21Regressor()), default grid, 5 folds, random_state=0\n")
    searches = {}
    for selection in ("min", "one_standard_error"):
        start = time.perf_counter()
        s = MultiTaskCV(mtlreg.L21Regressor(), cv=5, random_state=0,
                        selection=selection).fit(Xtr, ytr, ttr)
        seconds = time.perf_counter() - start
        searches[selection] = s
        m = s.best_estimator_
        a = s.best_params_["alpha"]
        print(f"selection={selection!r}: fit {seconds:.2f} s (refit {s.refit_time_:.2f} s); "
              f"alpha = {a:.4f} = {a / amax:.4f} alpha_max (grid point "
              f"{s.best_index_ + 1} of {len(s.cv_results_['params'])}); mean CV score "
              f"{s.best_score_:.4f}; {n_features_used(m.coef_)} of {Xtr.shape[1]} features")
        print(f"  test: {show_metrics(test_metrics(m, Xte, yte, tte))}")

    s = searches["min"]
    pred = s.best_estimator_.predict(Xte, tasks=tte)
    print(f"search.predict(X_test, tasks=t_test) == best_estimator_.predict(...): "
          f"{bool(np.array_equal(s.predict(Xte, tasks=tte), pred))}; search.score(X_test, "
          f"y_test, tasks=t_test) = {s.score(Xte, yte, tasks=tte):.4f} (the default scorer, "
          f"-(1/T) sum_t MSE_t)")
    per_task = task_normalized_mean_squared_error(yte, pred, tte, average=None)
    within = np.mean([np.var(yte[tte == t]) for t in np.unique(tte)])
    counts = np.bincount(tte)
    print(f"per-task test nMSE of the 'min' model: median {np.median(per_task):.4f}, "
          f"{int(np.sum(per_task > 1))} of {per_task.size} tasks above 1 (worse than the task's "
          f"test mean), largest {per_task.max():.2f}; test samples per task {counts.min()} to "
          f"{counts.max()}; mean within-task variance of y_test {within:.1f} vs variance of "
          f"all y_test {np.var(yte):.1f}")
    res = s.cv_results_
    splits = np.stack([res[f"split{k}_test_score"] for k in range(s.n_splits_)])
    best = int(np.argmax(res["mean_test_score"]))
    se = splits[:, best].std(ddof=1) / np.sqrt(s.n_splits_)
    alphas = np.array([p["alpha"] for p in res["params"]])
    within = res["mean_test_score"] >= res["mean_test_score"][best] - se
    print(f"one-standard-error rule by hand: best mean {res['mean_test_score'][best]:.4f}, SE "
          f"{se:.4f}, threshold {res['mean_test_score'][best] - se:.4f}; largest alpha within: "
          f"{alphas[within].max():.4f} (MultiTaskCV chose "
          f"{searches['one_standard_error'].best_params_['alpha']:.4f})")
    print(f"mean n_iter_ per fit along the fold paths: {res['mean_n_iter'].mean():.1f}; "
          f"total fit time in cv_results_ (sum over points of mean_fit_time x 5): "
          f"{res['mean_fit_time'].sum() * s.n_splits_:.2f} s")

    import pandas as pd
    df = pd.DataFrame(res)
    cols = ["param_alpha", "mean_test_score", "std_test_score", "rank_test_score",
            "mean_fit_time", "mean_n_iter"]
    with pd.option_context("display.width", 120, "display.precision", 4):
        print(f"\npd.DataFrame(search.cv_results_): {df.shape[0]} rows x {df.shape[1]} columns; "
              f"rows {best - 2} to {best + 2} of {cols}:")
        print(df[cols].iloc[best - 2:best + 3].to_string())
    return searches


# --------------------------------------------------------------------------- 6
def section_mtfl(Xtr, ytr, ttr, Xte, yte, tte):
    print("\n## 6. MTFLRegressor (no alpha_max): explicit grid\n")
    grid = np.geomspace(10.0, 1e-3, 13)
    start = time.perf_counter()
    s = MultiTaskCV(mtlreg.MTFLRegressor(), alphas=grid, cv=5, random_state=0).fit(Xtr, ytr, ttr)
    seconds = time.perf_counter() - start
    mean = s.cv_results_["mean_test_score"]
    print(f"grid np.geomspace(10, 1e-3, 13); fit {seconds:.2f} s; mean CV score from "
          f"{mean.min():.4f} to {mean.max():.4f}; chosen alpha = {s.best_params_['alpha']:.4g} "
          f"(grid point {s.best_index_ + 1} of {grid.size}, interior: "
          f"{0 < s.best_index_ < grid.size - 1})")
    print(f"  test: {show_metrics(test_metrics(s.best_estimator_, Xte, yte, tte))}")
    return s


# --------------------------------------------------------------------------- 7
def section_dirty(Xtr, ytr, ttr, Xte, yte, tte):
    print("\n## 7. DirtyRegressor: param_grid={'beta': [...]}, default alpha grid\n")
    est = mtlreg.DirtyRegressor()
    amax = mtlreg.alpha_max(Xtr, ytr, ttr, estimator=est)
    bmax = mtlreg.alpha_max(Xtr, ytr, ttr, estimator=est, param="beta")
    betas = [float(f"{f * bmax:.4g}") for f in (0.3, 0.1, 0.03)]
    start = time.perf_counter()
    s = MultiTaskCV(est, {"beta": betas}, cv=5, random_state=0).fit(Xtr, ytr, ttr)
    seconds = time.perf_counter() - start
    m = s.best_estimator_
    print(f"alpha_max {amax:.2f}, beta_max {bmax:.4f}; betas {[round(b, 4) for b in betas]} "
          f"(0.3, 0.1, 0.03 beta_max, 4 digits); {len(s.cv_results_['params'])} rows; "
          f"fit {seconds:.1f} s")
    res = s.cv_results_
    for b in betas:
        rows = [i for i, p in enumerate(res["params"]) if p["beta"] == b]
        i = max(rows, key=lambda r: res["mean_test_score"][r])
        print(f"  beta={b:.4f}: best alpha {res['params'][i]['alpha']:.2f}, mean CV score "
              f"{res['mean_test_score'][i]:.4f}")
    print(f"chosen: alpha = {s.best_params_['alpha']:.2f}, beta = {s.best_params_['beta']:.4f} "
          f"(beta/alpha = {s.best_params_['beta'] / s.best_params_['alpha']:.4f}); mean CV score "
          f"{s.best_score_:.4f}; shared part P: {n_features_used(m.coef_shared_)} feature rows, "
          f"specific part Q: {int(np.sum(m.coef_specific_ != 0))} entries")
    print(f"  test: {show_metrics(test_metrics(m, Xte, yte, tte))}")

    # where each beta's default alpha grid starts, and where P turns on along it
    for b in betas:
        grid = alpha_grid(mtlreg.DirtyRegressor(beta=b), Xtr, ytr, ttr)
        n_zero = 0
        for a in grid:
            fit = mtlreg.DirtyRegressor(alpha=float(a), beta=b).fit(Xtr, ytr, tasks=ttr)
            if np.any(fit.coef_shared_ != 0):
                break
            n_zero += 1
        print(f"  beta={b:.4f}: grid from {grid[0]:.2f} = min(alpha_max, n_tasks * beta = "
              f"{139 * b:.1f}); P = 0 on the first {n_zero} of {grid.size} alpha values")
    return s


# --------------------------------------------------------------------------- 8
def section_shared():
    print("\n## 8. Shared design: MultiTaskCV(L21Regressor) vs MultiTaskLassoCV\n")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 30))
    W = np.zeros((30, 5))
    W[:5] = rng.standard_normal((5, 5))
    Y = X @ W + rng.standard_normal((200, 5))
    ours = MultiTaskCV(mtlreg.L21Regressor(tol=1e-10, max_iter=100000), n_alphas=20,
                       cv=KFold(5)).fit(X, Y)
    ref = MultiTaskLassoCV(alphas=20, cv=KFold(5), tol=1e-10, max_iter=100000).fit(X, Y)
    alphas = np.array([p["alpha"] for p in ours.cv_results_["params"]])
    mse = -ours.cv_results_["mean_test_score"]
    print("X 200 x 30, Y 200 x 5 (5 relevant features), KFold(5), 20 alphas, tol 1e-10:")
    print(f"  largest relative difference of the alpha grids: "
          f"{np.max(np.abs(alphas - ref.alphas_) / ref.alphas_):.1e}")
    print(f"  largest relative difference of the mean CV MSE: "
          f"{np.max(np.abs(mse - ref.mse_path_.mean(axis=1)) / ref.mse_path_.mean(axis=1)):.1e}")
    print(f"  chosen alpha: MultiTaskCV {ours.best_params_['alpha']:.6f}, MultiTaskLassoCV "
          f"{ref.alpha_:.6f}; largest |coef difference| "
          f"{np.abs(ours.best_estimator_.coef_ - ref.coef_).max():.1e}")


def figures(l21, mtfl, dirty, amax):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from mtlreg.plotting import plot_cv_curve
    except ImportError:
        print("\nmatplotlib not installed: no figures")
        return
    os.makedirs(IMG, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_cv_curve(l21["min"], ax=ax, title="School, L21Regressor, 5-fold MultiTaskCV")
    a1 = l21["one_standard_error"].best_params_["alpha"]
    ax.axvline(a1, color="tab:red", linestyle=":", linewidth=1.5,
               label="selected (one_standard_error)")
    ax.axvline(amax, color="grey", linestyle="-", linewidth=0.8, label="alpha_max")
    ax.legend(fontsize="small")
    path = os.path.join(IMG, "model_selection_l21.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_cv_curve(mtfl, ax=ax, title="School, MTFLRegressor (explicit grid)")
    path = os.path.join(IMG, "model_selection_mtfl.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_cv_curve(dirty, ax=ax, title="School, DirtyRegressor, one path per beta")
    path = os.path.join(IMG, "model_selection_dirty.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    written.append(path)
    print("\nwrote " + ", ".join(os.path.relpath(os.path.normpath(p)) for p in written))


def main():
    t0 = time.perf_counter()
    Xtr, ytr, ttr, Xte, yte, tte = load()
    print(f"School split 1: {np.unique(ttr).size} tasks, {Xtr.shape[0]} train / "
          f"{Xte.shape[0]} test samples, {Xtr.shape[1]} features; mtlreg "
          f"{getattr(mtlreg, '__version__', '?')}, numpy {np.__version__}, scikit-learn "
          f"{sklearn.__version__}, {platform.machine()}, {os.cpu_count()} CPUs\n")
    amax = section_alpha_max(Xtr, ytr, ttr)
    section_path(Xtr, ytr, ttr)
    section_folds(Xtr, ytr, ttr)
    section_pitfall(Xtr, ytr, ttr, Xte, tte, amax)
    l21 = section_l21_cv(Xtr, ytr, ttr, Xte, yte, tte, amax)
    mtfl = section_mtfl(Xtr, ytr, ttr, Xte, yte, tte)
    dirty = section_dirty(Xtr, ytr, ttr, Xte, yte, tte)
    section_shared()
    figures(l21, mtfl, dirty, amax)
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
