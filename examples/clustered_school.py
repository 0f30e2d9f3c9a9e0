"""Clustered MTL on School: model selection, test error, solver cost, cluster heatmap.

Data: split 1 of Argyriou et al. (``load_school().splits[0]``): 11,472 training and
3,890 test samples, 139 tasks (schools).  The constant bias column 28 is dropped
(``X[:, :27]``; each task gets a fitted, unpenalized intercept) and the 27 features
are standardized with the training part's mean and standard deviation.

Model selection: 25% of the training part (stratified by task, seed 0) is held out
for validation, as in ``examples/fit_all.py``.  Every grid point is fitted on the
other 75%, the one with the smallest validation nMSE is refitted on the whole
training part, and the test part is used only for the reported metrics.

* ``ClusteredRegressor``: ``n_clusters`` in {1, 2, 3, 5, 10} x ``beta`` in
  {0.03, 0.1, 0.3, 1} x ``alpha`` in {1, 10, 100, 1000} (80 points);
* ``L21Regressor``: ``alpha`` = {0.3, 0.1, 0.03, 0.01, 0.003} x ``alpha_max``;
* ``MTFLRegressor``: ``alpha`` in {1, 0.3, 0.1, 0.03, 0.01, 0.003} (the limit of
  ``n_clusters=1`` as ``alpha`` grows, see below);
* scikit-learn ``Ridge``, one per task (independent) and one for all tasks (pooled):
  ``alpha`` in {0.1, 1, 10, 100, 1000}.

Metrics on the test part, pooled over its 3,890 samples: nMSE = MSE / Var(y_test)
and R^2 = 1 - nMSE (scikit-learn's ``r2_score``).  The mtlreg fits of the model
selection use the defaults (``tol=1e-6``, ``max_iter=5000``, ``loss_scaling="mean"``,
``fit_intercept=True``).  "fit s" is the median wall time of 3 refits on the whole
training part with BLAS limited to one thread (``threadpoolctl``).

A table gives, for each ``n_clusters``, the best validation point and its test
nMSE after refitting, followed by the time of one ``n_tasks x n_tasks``
eigendecomposition (the per-iteration cost that L2,1 does not have).  The heatmap of ``cluster_matrix_`` (tasks ordered by
``clusters_``) of the best model with ``n_clusters >= 2`` is the left panel of
docs/img/clusters_school.png (needs matplotlib).

Then the limit ``alpha -> infinity`` at ``n_clusters=1``: ``ClusteredRegressor(
alpha, beta=0.1, n_clusters=1)`` for ``alpha`` = 100, 1000, 10000 against
``MTFLRegressor(alpha=0.1)`` (both ``tol=1e-8``; ``max_iter=50000`` for the
clustered fits), on the whole training part.

Last, a control where clusters exist: 30 synthetic tasks (10 features, 30
samples each) drawn around 3 random centres, 10 tasks per centre, fitted with
``ClusteredRegressor(alpha=1, beta=0.1, n_clusters=3)``; its heatmap is the right
panel of the figure.  It is refitted with the targets of tasks 0-4 negated, to show
that the penalty does not see the signs of the task models.

Run:  python examples/clustered_school.py
"""

import os
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import adjusted_rand_score, r2_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

import mtlreg
from mtlreg.datasets import load_school

SEED = 0
N_CLUSTERS = [1, 2, 3, 5, 10]
BETAS = [0.03, 0.1, 0.3, 1.0]
ALPHAS = [1.0, 10.0, 100.0, 1000.0]
MTFL_ALPHAS = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003]
L21_FRACTIONS = [0.3, 0.1, 0.03, 0.01, 0.003]
RIDGE_ALPHAS = [0.1, 1.0, 10.0, 100.0, 1000.0]
FIGURE = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "img", "clusters_school.png")


class PerTask:
    """One scikit-learn Ridge per task."""

    def __init__(self, alpha):
        self.alpha = alpha

    def fit(self, X, y, tasks):
        self.models_ = {t: Ridge(alpha=self.alpha).fit(X[tasks == t], y[tasks == t])
                        for t in np.unique(tasks)}
        return self

    def predict(self, X, tasks):
        out = np.empty(X.shape[0])
        for t, model in self.models_.items():
            rows = tasks == t
            if rows.any():
                out[rows] = model.predict(X[rows])
        return out


class Pooled:
    """One scikit-learn Ridge for all tasks (task labels ignored)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def fit(self, X, y, tasks):
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X, tasks):
        return self.model_.predict(X)


def nmse(y, pred):
    return float(np.mean((y - pred) ** 2) / np.var(y))


def load():
    data = load_school()
    train, test = data.splits[0]
    X = data.X[:, :27]                      # column 28 is the constant bias
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    X = (X - mean) / std
    return (X[train], data.y[train], data.tasks[train], X[test], data.y[test],
            data.tasks[test], data.feature_names[:27])


def validate(grid, X, y, tasks):
    """Validation nMSE of every (label, factory) in ``grid``."""
    fit_idx, val_idx = train_test_split(np.arange(y.shape[0]), test_size=0.25,
                                        random_state=SEED, stratify=tasks)
    scores = {}
    for label, make in grid:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = make().fit(X[fit_idx], y[fit_idx], tasks=tasks[fit_idx])
        scores[label] = nmse(y[val_idx], model.predict(X[val_idx], tasks=tasks[val_idx]))
    return scores


def timed_fit(make, X, y, tasks, repeats=3):
    times = []
    for _ in range(repeats):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            model = make().fit(X, y, tasks=tasks)
            times.append(time.perf_counter() - start)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        print("note: ConvergenceWarning on a final fit")
    return model, float(np.median(times))


def solver_cells(model):
    if not hasattr(model, "n_iter_"):
        return ["-", "-", "-"]
    rel = "-" if model.dual_gap_ is None else f"{model.dual_gap_ / model.objective_:.1e}"
    return [str(model.n_iter_), rel, "yes" if model.converged_ else "NO"]


def main():
    Xtr, ytr, ttr, Xte, yte, tte, names = load()
    print(f"School split 1: {np.unique(ttr).size} tasks, {Xtr.shape[0]} train / "
          f"{Xte.shape[0]} test samples, {Xtr.shape[1]} features; numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs\n")

    clustered = {(k, b, a): (lambda k=k, b=b, a=a: mtlreg.ClusteredRegressor(
        alpha=a, beta=b, n_clusters=k)) for k in N_CLUSTERS for b in BETAS for a in ALPHAS}
    amax = mtlreg.alpha_max(Xtr, ytr, ttr, penalty="l21")
    methods = [
        ("ClusteredRegressor", clustered,
         lambda key: f"n_clusters={key[0]}, beta={key[1]:g}, alpha={key[2]:g}"),
        ("L21Regressor", {f: (lambda a=f * amax: mtlreg.L21Regressor(alpha=a))
                          for f in L21_FRACTIONS}, lambda f: f"alpha={f:g} alpha_max"),
        ("MTFLRegressor", {a: (lambda a=a: mtlreg.MTFLRegressor(alpha=a)) for a in MTFL_ALPHAS},
         lambda a: f"alpha={a:g}"),
        ("independent Ridge (sklearn, per task)",
         {a: (lambda a=a: PerTask(a)) for a in RIDGE_ALPHAS}, lambda a: f"alpha={a:g}"),
        ("pooled Ridge (sklearn)", {a: (lambda a=a: Pooled(a)) for a in RIDGE_ALPHAS},
         lambda a: f"alpha={a:g}"),
    ]
    start = time.perf_counter()
    with threadpool_limits(1):
        scores = {name: validate(list(grid.items()), Xtr, ytr, ttr) for name, grid, _ in methods}
    print(f"grid search: {time.perf_counter() - start:.0f} s for "
          f"{sum(len(grid) for _, grid, _ in methods)} validation fits "
          f"(alpha_max of L2,1 = {amax:.4g}, computed on the whole training part)\n")

    rows, chosen = [], {}
    with threadpool_limits(1):
        for name, grid, fmt in methods:
            best = min(scores[name], key=scores[name].get)
            model, seconds = timed_fit(grid[best], Xtr, ytr, ttr)
            chosen[name] = model
            pred = model.predict(Xte, tasks=tte)
            rows.append([name, fmt(best), f"{scores[name][best]:.4f}", f"{nmse(yte, pred):.4f}",
                         f"{r2_score(yte, pred):.4f}", *solver_cells(model), f"{seconds:.2f}"])
    print("Test metrics of the chosen models (refitted on the whole training part):\n")
    header = ["method", "chosen", "validation nMSE", "test nMSE", "test R^2", "n_iter_",
              "dual_gap_ / objective_", "converged_", "fit s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")

    # the best (beta, alpha) for each n_clusters, refitted
    print("\nClusteredRegressor: best validation point for each n_clusters, refitted:\n")
    header = ["n_clusters", "beta", "alpha", "validation nMSE", "test nMSE", "n_iter_",
              "fit s", "cluster sizes"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    per_k = {}
    with threadpool_limits(1):
        for k in N_CLUSTERS:
            key = min((key for key in scores["ClusteredRegressor"] if key[0] == k),
                      key=scores["ClusteredRegressor"].get)
            model, seconds = timed_fit(clustered[key], Xtr, ytr, ttr)
            per_k[k] = (scores["ClusteredRegressor"][key], model)
            pred = model.predict(Xte, tasks=tte)
            print(f"| {k} | {key[1]:g} | {key[2]:g} | {scores['ClusteredRegressor'][key]:.4f} | "
                  f"{nmse(yte, pred):.4f} | {model.n_iter_} | {seconds:.2f} | "
                  f"{np.bincount(model.clusters_).tolist()} |")

    # the n_tasks x n_tasks eigendecomposition alone (one per iteration, plus one per gap check)
    G = per_k[1][1].coef_ @ per_k[1][1].coef_.T
    with threadpool_limits(1):
        times = []
        for _ in range(200):
            start = time.perf_counter()
            np.linalg.eigh(G)
            times.append(time.perf_counter() - start)
    print(f"\nnp.linalg.eigh of the {G.shape[0]} x {G.shape[0]} matrix W^T W: "
          f"median {1e3 * np.median(times):.2f} ms over 200 calls (one BLAS thread)")

    # structure of the best model with at least two clusters
    k_best = min((k for k in N_CLUSTERS if k >= 2), key=lambda k: per_k[k][0])
    model = per_k[k_best][1]
    M = model.cluster_matrix_
    eig = np.linalg.eigvalsh(M)
    print(f"\nBest model with n_clusters >= 2 (n_clusters={k_best}): eigenvalues of "
          f"cluster_matrix_: {np.sum(eig > 1 - 1e-6)} at 1, {np.sum(eig < 1e-6)} at 0, "
          f"{np.sum((eig >= 1e-6) & (eig <= 1 - 1e-6))} in between (largest: "
          f"{', '.join(f'{v:.3f}' for v in eig[::-1][:k_best + 3])}); tr M = {np.trace(M):.6f}")
    E = np.eye(k_best)[model.clusters_]
    P = E @ np.linalg.solve(E.T @ E, E.T)          # the hard assignment's projection
    print(f"||M - E (E^T E)^-1 E^T||_F / ||E (E^T E)^-1 E^T||_F = "
          f"{np.linalg.norm(M - P) / np.linalg.norm(P):.3f}")
    for j in range(k_best):
        members = model.clusters_ == j
        rows_j = np.isin(ttr, model.tasks_[members])
        mean_coef = model.coef_[members].mean(axis=0)
        top = np.argsort(-np.abs(mean_coef))[:3]
        print(f"cluster {j}: {members.sum()} schools, mean training score "
              f"{ytr[rows_j].mean():.1f}, largest mean coefficients: "
              + ", ".join(f"{names[i]} {mean_coef[i]:+.2f}" for i in top))

    # n_clusters = 1, alpha -> infinity: the squared trace norm (MTFL)
    print("\nn_clusters=1, beta=0.1, alpha -> infinity vs MTFLRegressor(alpha=0.1), tol=1e-8:\n")
    print("| alpha | n_iter_ | max abs coef_ difference to MTFL | test nMSE |")
    print("|---|---|---|---|")
    with threadpool_limits(1):
        mtfl = mtlreg.MTFLRegressor(alpha=0.1, tol=1e-8).fit(Xtr, ytr, tasks=ttr)
        for a in [100.0, 1000.0, 10000.0]:
            m1 = mtlreg.ClusteredRegressor(alpha=a, beta=0.1, n_clusters=1, tol=1e-8,
                                           max_iter=50000).fit(Xtr, ytr, tasks=ttr)
            print(f"| {a:g} | {m1.n_iter_} | {np.abs(m1.coef_ - mtfl.coef_).max():.1e} | "
                  f"{nmse(yte, m1.predict(Xte, tasks=tte)):.4f} |")
    print(f"| MTFL | {mtfl.n_iter_} | 0 | {nmse(yte, mtfl.predict(Xte, tasks=tte)):.4f} |")

    # control: synthetic tasks with a true 3-cluster structure
    rng = np.random.default_rng(SEED)
    centres = rng.standard_normal((10, 3))
    truth = np.repeat(np.arange(3), 10)                      # 30 tasks, 10 per cluster
    W_true = centres[:, truth] + 0.2 * rng.standard_normal((10, 30))
    Xs = [rng.standard_normal((30, 10)) for _ in range(30)]
    ys = [Xs[t] @ W_true[:, t] + rng.standard_normal(30) for t in range(30)]
    X_syn, y_syn, t_syn = mtlreg.stack_tasks(Xs, ys)
    with threadpool_limits(1):
        synth = mtlreg.ClusteredRegressor(alpha=1.0, beta=0.1, n_clusters=3).fit(
            X_syn, y_syn, tasks=t_syn)
    eig_syn = np.linalg.eigvalsh(synth.cluster_matrix_)[::-1]
    # the penalty sees only the singular values of W: negating the targets of tasks
    # 0-4 (half of the first true cluster) negates their models and nothing else
    flip = np.where(np.isin(t_syn, np.arange(5)), -1.0, 1.0)
    with threadpool_limits(1):
        flipped = mtlreg.ClusteredRegressor(alpha=1.0, beta=0.1, n_clusters=3).fit(
            X_syn, flip * y_syn, tasks=t_syn)
    sign = np.where(np.arange(30) < 5, -1.0, 1.0)[:, None]
    print(f"\nControl (30 synthetic tasks in 3 true clusters of 10, d=10, n_t=30, "
          f"ClusteredRegressor(alpha=1, beta=0.1, n_clusters=3)): n_iter_={synth.n_iter_}, "
          f"adjusted Rand index of clusters_ vs truth = "
          f"{adjusted_rand_score(truth, synth.clusters_):.3f}, largest eigenvalues of "
          f"cluster_matrix_: {', '.join(f'{v:.3f}' for v in eig_syn[:5])}")
    E_syn = np.eye(3)[synth.clusters_]
    P_syn = E_syn @ np.linalg.solve(E_syn.T @ E_syn, E_syn.T)
    print(f"||M - E (E^T E)^-1 E^T||_F / ||E (E^T E)^-1 E^T||_F = "
          f"{np.linalg.norm(synth.cluster_matrix_ - P_syn) / np.linalg.norm(P_syn):.3f}")
    print(f"Same with the targets of tasks 0-4 negated: objective_ {flipped.objective_:.6f} vs "
          f"{synth.objective_:.6f}, max abs difference of the sign-corrected coefficients "
          f"{np.abs(sign * flipped.coef_ - synth.coef_).max():.1e}, clusters_ "
          f"{flipped.clusters_.tolist()} (adjusted Rand index vs truth "
          f"{adjusted_rand_score(truth, flipped.clusters_):.3f})")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from mtlreg.plotting import plot_task_clusters
    except ImportError:
        print("\nmatplotlib not installed: no figure")
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    plot_task_clusters(model, ax=axes[0],
                       title=f"School, n_clusters={k_best} (139 schools)")
    plot_task_clusters(synth, ax=axes[1], title="synthetic control, 3 true clusters")
    os.makedirs(os.path.dirname(FIGURE), exist_ok=True)
    fig.savefig(FIGURE, dpi=70, bbox_inches="tight")
    print(f"\nwrote {os.path.relpath(os.path.normpath(FIGURE))}")

if __name__ == "__main__":
    main()
