"""The figures of docs/relation.md, printed as Markdown (and one PNG).

Four parts, each selected by name on the command line (default: all four):

* ``synthetic``: MTRL (``RelationRegressor``) with ``solver="fista"`` and
  ``solver="alternating"`` on a synthetic problem with planted task signs,
  ``make_multitask_regression(n_tasks=12, n_samples=40, n_features=30,
  structure="related", n_groups=2, task_std=0.5, noise=0.5, random_state=0)``.
* ``school``: the same comparison on School: the training part of split 1
  (``load_school().splits[0][0]``, 11,472 samples, 139 tasks), the constant bias
  column dropped (``X[:, :27]``, each task gets a fitted intercept), standardized
  with the training mean and standard deviation.  The alternating solver runs its
  default 5,000 outer iterations here: this part takes several minutes.
* ``figure``: the heatmap ``docs/img/relation_task_correlation.png``: the task
  correlation that the true ``W`` of the synthetic problem gives
  (``Omega = (W^T W)^1/2 / tr``) next to ``task_correlation_`` fitted at
  ``alpha=0.001`` and ``alpha=0.1``, tasks ordered by their planted sign; and a table
  of sign agreement and mean correlations over a range of ``alpha``.
* ``mapping``: the MALSAR SRMTL / RMTL Graph -> ``GraphRegressor`` /
  ``GraphClassifier`` mapping, with CVXPY.  Each peer objective is written out as
  the peer's source computes it (its loss helper and its ``funVal_eval``; the peer
  solver is not reimplemented), minimized with CVXPY, and evaluated at the
  solution of the mapped mtlreg estimator.  The mapping passes when mtlreg's value
  is at most CVXPY's optimum plus 1e-6 relative.  One wrong reading per case shows
  that the check can fail.

Solver columns: ``n_iter_`` (FISTA iterations; outer iterations for
``"alternating"``), CPU s (process CPU time of one ``fit``, BLAS limited to one
thread with ``threadpoolctl``: the machine is shared, so wall time would measure the
other jobs too), ``objective_``, rel. gap (``dual_gap_ / objective_``, the certified
gap of the unperturbed problem for both solvers), ``converged_``, and the excess of
``objective_`` over the fista optimum, relative.  Defaults otherwise (``tol=1e-6``,
``max_iter=5000``; ``epsilon=1e-8`` set explicitly, the default being 1e-12).

Run:  python examples/relation_school.py [synthetic] [school] [figure] [mapping]
      (``mapping`` needs cvxpy, ``figure`` matplotlib: pip install -e ".[test]")
"""

import pathlib
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import mtlreg
from mtlreg.datasets import load_school, make_multitask_regression

SYNTHETIC = dict(n_tasks=12, n_samples=40, n_features=30, structure="related", n_groups=2,
                 task_std=0.5, noise=0.5, random_state=0)
IMG = pathlib.Path(__file__).resolve().parent.parent / "docs" / "img"


class _RecordingRelation(mtlreg.RelationRegressor):
    """RelationRegressor that records the ``eps`` of every Omega-step with
    ``sigma_max(W)^2`` at that step (``eps_``): its objective's penalty, from
    the public ``get_objective``, has its ``auxiliary_step`` wrapped.  The
    solver's history (to check the descent) is the public ``solution_.history``."""

    def get_objective(self, problem):
        objective = super().get_objective(problem)
        penalty = objective.parts[0].penalty
        step, self.eps_ = penalty.auxiliary_step, []

        def recording_step(coef, eps):
            c = np.asarray(coef)
            self.eps_.append((eps, np.linalg.norm(c, 2) ** 2 if np.any(c) else 0.0))
            return step(coef, eps)

        penalty.auxiliary_step = recording_step
        return objective


def synthetic_data():
    return make_multitask_regression(**SYNTHETIC)


def school_data():
    school = load_school()
    train, _ = school.splits[0]
    X = school.X[train, :27]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, school.y[train], school.tasks[train]


def timed_fit(model, X, y, tasks):
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.process_time()
        model.fit(X, y, tasks=tasks)
        return time.process_time() - start


def solver_table(X, y, tasks, alphas):
    print("| alpha | solver | `n_iter_` | CPU s | `objective_` | rel. gap | converged | "
          "excess over fista | perturbed objective rises | eps rises | final eps / "
          "sigma_max(W)^2 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for alpha in alphas:
        best = None
        for solver in ("fista", "alternating"):
            # epsilon=1e-8: the figures in docs/relation.md were measured with it
            model = _RecordingRelation(alpha=alpha, solver=solver, epsilon=1e-8)
            cpu = timed_fit(model, X, y, tasks)
            if best is None:
                best = model.objective_
            excess = (model.objective_ - best) / best
            rises = eps_rises = final_eps = "—"
            if solver == "alternating":  # 4th history entry: the perturbed objective
                perturbed = np.array([h[3] for h in model.solution_.history])
                rises = str(int(np.sum(np.diff(perturbed) > 0)))
                eps = np.array(model.eps_)  # task_covariance_ comes from an SVD, not a step
                eps_rises = str(int(np.sum(np.diff(eps[:, 0]) > 0)))
                final_eps = f"{eps[-1, 0] / eps[-1, 1]:.2g}"
            print(f"| {alpha:g} | {solver} | {model.n_iter_} | {cpu:.3g} | "
                  f"{model.objective_:.6f} | {model.dual_gap_ / model.objective_:.1e} | "
                  f"{'yes' if model.converged_ else 'no'} | {excess:.1e} | {rises} | "
                  f"{eps_rises} | {final_eps} |")


def part_synthetic():
    data = synthetic_data()
    print("### Synthetic problem (12 tasks, 40 samples each, 30 features)\n")
    solver_table(data.X, data.y, data.tasks, [0.1, 0.01, 0.001])


def part_school():
    X, y, tasks = school_data()
    print(f"\n### School, split 1 training part ({X.shape[0]} samples, "
          f"{len(np.unique(tasks))} tasks, {X.shape[1]} standardized features)\n")
    solver_table(X, y, tasks, [1.0, 0.1, 0.01])
    # MTRL and MTFL share the penalty value ||W||_*^2, hence the optimum
    rel = mtlreg.RelationRegressor(alpha=0.1, tol=1e-10, max_iter=50000).fit(X, y, tasks=tasks)
    ftl = mtlreg.MTFLRegressor(alpha=0.1, tol=1e-10, max_iter=50000).fit(X, y, tasks=tasks)
    W, omega = rel.coef_.T, rel.task_covariance_
    nuclear = np.linalg.svd(W, compute_uv=False).sum()
    print(f"\nalpha=0.1, tol=1e-10: max |coef_ Relation - coef_ MTFL| = "
          f"{np.abs(rel.coef_ - ftl.coef_).max():.1e}; objectives {rel.objective_:.6f} and "
          f"{ftl.objective_:.6f}")
    s = np.linalg.svd(W, compute_uv=False)
    rank = int(np.sum(s > 1e-6 * s[0]))
    lam = np.linalg.eigvalsh(omega)  # ascending: the T - rank smallest belong to eps
    print(f"tr(W Omega^-1 W^T) = {np.trace(W @ np.linalg.solve(omega, W.T)):.4f}, "
          f"||W||_*^2 = {nuclear ** 2:.4f}, tr(Omega) = {np.trace(omega):.6f}; "
          f"rank of W {rank}; the {len(lam) - rank} smallest eigenvalues of Omega: "
          f"{lam[0]:.2e} to {lam[len(lam) - rank - 1]:.2e}, together "
          f"{lam[:len(lam) - rank].sum():.2%} of the trace")


def omega_correlation(W):
    """Correlation of Omega = (W^T W)^1/2 / tr(...): task_correlation_ for a given W."""
    lam, U = np.linalg.eigh(W.T @ W)
    omega = (U * np.sqrt(np.maximum(lam, 0.0))) @ U.T
    root = np.sqrt(np.diag(omega))
    return omega / np.outer(root, root)


def part_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtlreg.plotting import plot_task_matrix

    data = synthetic_data()
    order = np.argsort(-data.signs, kind="stable")  # the +1 tasks first
    boundary = int(np.sum(data.signs > 0))
    W0 = data.coef.T
    unit = W0 / np.linalg.norm(W0, axis=0)
    cosine, planted = unit.T @ unit, omega_correlation(W0)
    same = np.equal.outer(data.signs, data.signs)
    off = ~np.eye(len(data.signs), dtype=bool)
    print("\n### Task correlation on the synthetic problem\n")
    print("| matrix | pairs with the planted sign | mean, same sign | mean, opposite signs | "
          "rank of W (sigma > 1e-6 sigma_max) | ||coef_ - coef|| / ||coef|| |")
    print("|---|---|---|---|---|---|")

    def row(label, C, rank="—", error="—"):
        agree = np.mean(np.sign(C[off]) == np.outer(data.signs, data.signs)[off])
        print(f"| {label} | {agree:.0%} | {C[same & off].mean():.2f} | {C[~same].mean():.2f} | "
              f"{rank} | {error} |")

    row("cosine of the true w_s, w_t", cosine)
    row("correlation of Omega(true W)", planted)
    fitted = {}
    for alpha in (0.1, 0.01, 0.001, 0.0001):
        model = mtlreg.RelationRegressor(alpha=alpha).fit(data.X, data.y, tasks=data.tasks)
        C = np.asarray(model.task_correlation_)
        s = np.linalg.svd(model.coef_, compute_uv=False)
        error = np.linalg.norm(model.coef_ - data.coef) / np.linalg.norm(data.coef)
        row(f"`task_correlation_`, alpha={alpha:g}", C, int(np.sum(s > 1e-6 * s[0])),
            f"{error:.3f}")
        fitted[alpha] = C
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), constrained_layout=True)
    panels = [(planted, "planted: correlation of Omega(true W)"),
              (fitted[0.001], "task_correlation_, alpha=0.001"),
              (fitted[0.1], "task_correlation_, alpha=0.1")]
    for ax, (M, title) in zip(axes, panels):
        plot_task_matrix(M, np.arange(len(order)), order=order, ax=ax, title=title,
                         boundaries=[boundary])
        ax.images[0].set_clim(-1.0, 1.0)
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / "relation_task_correlation.png"
    fig.savefig(path, dpi=80)
    print(f"\nsaved {path.relative_to(IMG.parent.parent)}; planted signs of tasks 0..11: "
          f"{data.signs.tolist()}")


# -- the MALSAR / RMTL mapping ---------------------------------------------------------------

def part_mapping():
    import cvxpy as cp

    rng = np.random.default_rng(0)
    T, d = 6, 8
    n = [30, 45, 25, 50, 35, 40]
    Xs = [rng.standard_normal((m, d)) for m in n]
    # task models drifting along a chain, plus zero rows (for the L1 term)
    W0 = np.cumsum(0.5 * rng.standard_normal((d, T)), axis=1) + rng.standard_normal((d, 1))
    W0[:2] = 0.0
    ys = [X @ W0[:, t] + 0.5 + 0.3 * rng.standard_normal(X.shape[0]) for t, X in enumerate(Xs)]
    labels = [np.where(y > np.median(y), 1.0, -1.0) for y in ys]
    X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    _, ylab, _ = mtlreg.stack_tasks(Xs, labels)

    # MALSAR's "structure order" R (Least_SRMTL.m header): T x (T-1), R(t,t)=1, R(t+1,t)=-1
    R_chain = np.zeros((T, T - 1))
    R_chain[np.arange(T - 1), np.arange(T - 1)] = 1.0
    R_chain[np.arange(1, T), np.arange(T - 1)] = -1.0
    # RMTL's Create_simulated_data G for "Graph": square T x T, two blocks centred
    t1 = T // 2
    G_blocks = np.zeros((T, T))
    G_blocks[:t1, :t1] = -1.0 / t1
    G_blocks[t1:, t1:] = -1.0 / t1
    np.fill_diagonal(G_blocks, (t1 - 1) / t1)

    def least_sum(W, c, lib):  # MALSAR funVal_eval: sum_t 0.5 ||y_t - X_t w_t||^2
        if lib is cp:
            return sum(0.5 * cp.sum_squares(ys[t] - Xs[t] @ W[:, t]) for t in range(T))
        return sum(0.5 * float(np.sum((ys[t] - Xs[t] @ W[:, t]) ** 2)) for t in range(T))

    def least_mean(W, c, lib):  # RMTL LS_funcVal_eval: 0.5 mean((y - x w - c)^2), summed
        if lib is cp:
            return sum(0.5 * cp.sum_squares(ys[t] - Xs[t] @ W[:, t] - c[t]) / n[t]
                       for t in range(T))
        return sum(0.5 * float(np.mean((ys[t] - Xs[t] @ W[:, t] - c[t]) ** 2))
                   for t in range(T))

    def logistic_mean(W, c, lib):  # MALSAR unit_funcVal_eval / RMTL LR_funcVal_eval
        if lib is cp:
            return sum(cp.sum(cp.logistic(-cp.multiply(labels[t], Xs[t] @ W[:, t] + c[t])))
                       / n[t] for t in range(T))
        return sum(float(np.mean(np.logaddexp(0.0, -labels[t] * (Xs[t] @ W[:, t] + c[t]))))
                   for t in range(T))

    def peer_objective(loss, R, rho1, rho2, rho_l2, W, c, lib):
        """loss + rho1 ||W R||_F^2 + rho_L2 ||W||_F^2 + rho2 ||W||_1 (W is d x T)."""
        if lib is cp:
            return (loss(W, c, cp) + rho1 * cp.sum_squares(W @ R)
                    + rho_l2 * cp.sum_squares(W) + rho2 * cp.sum(cp.abs(W)))
        return (loss(W, c, np) + rho1 * float(np.sum((W @ R) ** 2))
                + rho_l2 * float(np.sum(W ** 2)) + rho2 * float(np.abs(W).sum()))

    # name, estimator, loss, R/G, rho1, rho2 (L1), rho_L2, mapped parameters, a wrong reading
    cases = [
        ("MALSAR Least_SRMTL(rho1=5, rho2=3, rho_L2=0.5), R = chain", mtlreg.GraphRegressor,
         least_sum, R_chain, 5.0, 3.0, 0.5,
         dict(alpha=5.0, beta=3.0, ridge=0.5, loss_scaling="sum", fit_intercept=False),
         dict(alpha=2.5, beta=1.5, ridge=0.25, loss_scaling="sum", fit_intercept=False)),
        ("MALSAR Least_SRMTL(rho1=5, rho2=0, rho_L2=0.5), R = chain", mtlreg.GraphRegressor,
         least_sum, R_chain, 5.0, 0.0, 0.5,
         dict(alpha=5.0, ridge=0.5, loss_scaling="sum", fit_intercept=False),
         dict(alpha=5.0, ridge=0.5, loss_scaling="sum")),
        ("MALSAR Logistic_SRMTL(rho1=0.2, rho2=0.01, rho_L2=0.01), R = chain",
         mtlreg.GraphClassifier, logistic_mean, R_chain, 0.2, 0.01, 0.01,
         dict(alpha=0.2, beta=0.01, ridge=0.01),
         dict(alpha=0.2, beta=0.01, ridge=0.01, loss_scaling="sum")),
        ("RMTL LS_Graph(Lam1=0.3, Lam2=0.01), G = two centred blocks", mtlreg.GraphRegressor,
         least_mean, G_blocks, 0.3, 0.0, 0.01, dict(alpha=0.3, ridge=0.01),
         dict(alpha=0.3, ridge=0.01, loss_scaling="sum")),
        ("RMTL LR_Graph(Lam1=0.2, Lam2=0), G = two centred blocks", mtlreg.GraphClassifier,
         logistic_mean, G_blocks, 0.2, 0.0, 0.0, dict(alpha=0.2),
         dict(alpha=0.2, loss_scaling="sum")),
    ]
    tight = dict(tol=1e-10, max_iter=200000)
    print(f"\n### MALSAR SRMTL and RMTL Graph objectives\n\nmtlreg {mtlreg.__version__}, "
          f"CVXPY {cp.__version__} (CLARABEL), NumPy {np.__version__}; T={T}, d={d}, "
          f"n_t={n}\n")
    print("| peer objective | mtlreg parameters (all with `graph=R`, "
          "`graph_format=\"incidence\"`) | peer objective at CVXPY's solution | "
          "at mtlreg's solution "
          "| relative excess (within 1e-6?) | max abs W difference | `dual_gap_` |")
    print("|---|---|---|---|---|---|---|")
    for name, Est, loss, R, rho1, rho2, rho_l2, mapped, wrong in cases:
        W, c = cp.Variable((d, T)), cp.Variable(T)
        problem = cp.Problem(cp.Minimize(peer_objective(loss, R, rho1, rho2, rho_l2, W, c, cp)))
        problem.solve(solver="CLARABEL")
        c_value = c.value if c.value is not None else np.zeros(T)
        opt = peer_objective(loss, R, rho1, rho2, rho_l2, W.value, c_value, np)
        target = ylab if loss is logistic_mean else y
        for params in (mapped, wrong):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a fit that does not converge stops the check
                model = Est(graph=R, graph_format="incidence", **params, **tight).fit(
                    X, target, tasks=tasks)
            value = peer_objective(loss, R, rho1, rho2, rho_l2, model.coef_.T,
                                   np.asarray(model.intercept_), np)
            args = ", ".join(f"{k}={v!r}" for k, v in params.items())
            ok = "yes" if value <= opt * (1 + 1e-6) else "no"
            gap = "None" if model.dual_gap_ is None else f"{model.dual_gap_:.1e}"
            print(f"| {name if params is mapped else '(wrong reading)'} | `{args}` | "
                  f"{opt:.10g} | {value:.10g} | {(value - opt) / abs(opt):.1e} ({ok}) | "
                  f"{np.abs(model.coef_.T - W.value).max():.1e} | {gap} |")

    # the MALSAR "all related" R and the complete graph (graph=None): alpha = rho1 / T
    R_all = np.eye(T) - np.ones((T, T)) / T
    a = mtlreg.GraphRegressor(alpha=5.0, graph=R_all, graph_format="incidence",
                              loss_scaling="sum", **tight).fit(X, y, tasks=tasks)
    b = mtlreg.GraphRegressor(alpha=5.0 / T, loss_scaling="sum", **tight).fit(X, y, tasks=tasks)
    print(f"\nR = I - 11^T/T with alpha=5 against graph=None with alpha=5/T: "
          f"max |coef_ difference| = {np.abs(a.coef_ - b.coef_).max():.1e}")
    # the chain as an edge list and as an adjacency give the same Laplacian as R R^T
    chain_edges = [(t, t + 1) for t in range(T - 1)]
    adjacency = np.zeros((T, T))
    for s, t in chain_edges:
        adjacency[s, t] = adjacency[t, s] = 1.0
    L = [mtlreg.GraphRegressor(graph=g, **kw).fit(X, y, tasks=tasks).laplacian_
         for g, kw in ((R_chain, dict(graph_format="incidence")), (chain_edges, {}),
                       (adjacency, {}))]
    print(f"chain: R R^T, edge list and adjacency give the same Laplacian: "
          f"{(L[0] != L[1]).nnz == 0 and (L[1] != L[2]).nnz == 0}")


PARTS = {"synthetic": part_synthetic, "school": part_school, "figure": part_figure,
         "mapping": part_mapping}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(PARTS)
    for name in chosen:
        PARTS[name]()
