"""Two checks of the decomposition family, printed as Markdown tables.

1. The MALSAR -> mtlreg mapping, with CVXPY.  For each MALSAR solver, the
   objective is written out as MALSAR's source computes it (its ``funcVal``
   line, its loss helper and its norm helpers; the solver itself is not
   reimplemented), minimized with CVXPY, and evaluated at the parts fitted by
   the mapped mtlreg estimator.  The mapping passes when mtlreg's value is at
   most CVXPY's optimum plus 1e-6 relative.  A wrong reading is evaluated too,
   to show that the check can fail: ``alpha = rho1, beta = rho2`` for least
   squares (the squared loss read with a 1/2), ``loss_scaling="sum"`` for the
   logistic loss (summed over samples instead of averaged per task).

2. The reductions to one-part models (``ridge=0``), at 1.01 times each upper
   threshold and 0.99 times each lower one (``beta <= alpha / sqrt(T)``, where
   the shared part of Robust and rMTFL vanishes and every task is fitted alone
   with ``beta * ||w_t||_2``): the part that should vanish is zero and
   ``coef_`` equals the one-part model's.  One row sits on the boundary
   ``beta = alpha``, where ``W`` is still the one-part model's but the split
   need not be unique.  With ``ridge > 0`` the ridge on each part rewards
   splitting ``W`` between the parts and the same settings no longer reduce:
   the last rows show by how much.

W is d x T (MALSAR's layout; mtlreg's ``coef_`` is its transpose).

Run:  python examples/decomposition_checks.py    (needs cvxpy: pip install -e ".[test]")
"""

import warnings

import cvxpy as cp
import numpy as np

import mtlreg

rng = np.random.default_rng(0)
T, d = 8, 10
n = [30, 45, 25, 50, 35, 40, 30, 60]
Xs = [rng.standard_normal((m, d)) for m in n]
# a shared sparse support with a low-rank core, two outlier tasks, a few single entries
W0 = np.outer(rng.standard_normal(d), rng.standard_normal(T)) * (rng.random((d, 1)) < 0.6)
W0[:, [2, 5]] = 2.0 * rng.standard_normal((d, 2))
W0[rng.integers(0, d, 4), rng.integers(0, T, 4)] += 2.0
ys = [X @ W0[:, t] + 0.5 + 0.3 * rng.standard_normal(X.shape[0]) for t, X in enumerate(Xs)]
labels = [np.where(y > np.median(y), 1.0, -1.0) for y in ys]
X, y, tasks = mtlreg.stack_tasks(Xs, ys)
_, ylab, _ = mtlreg.stack_tasks(Xs, labels)

# The norms of MALSAR's helpers on a d x T matrix (rows are features, columns tasks),
# once in NumPy and once in CVXPY.
NORMS = {
    "l1inf": (lambda A: np.abs(A).max(axis=1).sum(),          # L1infnorm.m
              lambda A: cp.sum(cp.max(cp.abs(A), axis=1))),
    "l11": (lambda A: np.abs(A).sum(),                        # L11norm.m
            lambda A: cp.sum(cp.abs(A))),
    "rows_l2": (lambda A: np.linalg.norm(A, axis=1).sum(),    # L12norm.m on P
                lambda A: cp.sum(cp.norm(A, 2, axis=1))),
    "cols_l2": (lambda A: np.linalg.norm(A, axis=0).sum(),    # L12norm.m on Q', S's columns
                lambda A: cp.sum(cp.norm(A, 2, axis=0))),
    "trace": (lambda A: np.linalg.svd(A, compute_uv=False).sum(),
              lambda A: cp.normNuc(A)),
}


def least_squares(W, c, lib):
    """MALSAR Least_*: sum_t ||X_t w_t - y_t||^2, no 1/2, no intercept (``c`` unused)."""
    if lib is cp:
        return sum(cp.sum_squares(Xs[t] @ W[:, t] - ys[t]) for t in range(T))
    return sum(float(np.sum((Xs[t] @ W[:, t] - ys[t]) ** 2)) for t in range(T))


def logistic(W, c, lib):
    """MALSAR Logistic_*: sum_t mean_i log(1 + exp(-y_ti (x_ti . w_t + c_t)))."""
    if lib is cp:
        return sum(cp.sum(cp.logistic(-cp.multiply(labels[t], Xs[t] @ W[:, t] + c[t]))) / n[t]
                   for t in range(T))
    return sum(float(np.mean(np.logaddexp(0.0, -labels[t] * (Xs[t] @ W[:, t] + c[t]))))
               for t in range(T))


def cvxpy_optimum(loss, norm_p, norm_q, rho1, rho2):
    P, Q, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    objective = (loss(P + Q, c, cp) + rho1 * NORMS[norm_p][1](P)
                 + rho2 * NORMS[norm_q][1](Q))
    problem = cp.Problem(cp.Minimize(objective))
    problem.solve(solver="CLARABEL")
    return problem.value, P.value + Q.value


PART_NAMES = {"Dirty": ("coef_shared_", "coef_specific_"),
              "Robust": ("coef_lowrank_", "coef_outlier_"),
              "RMTFL": ("coef_shared_", "coef_outlier_")}


def parts(model):
    """The fitted parts (P, Q) as d x T arrays."""
    family = next(f for f in PART_NAMES if type(model).__name__.startswith(f))
    return tuple(np.asarray(getattr(model, name)).T for name in PART_NAMES[family])


def malsar_value(model, loss, norm_p, norm_q, rho1, rho2):
    P, Q = parts(model)
    return (loss(P + Q, model.intercept_, np) + rho1 * NORMS[norm_p][0](P)
            + rho2 * NORMS[norm_q][0](Q))


def describe_parts(P, Q, norm_p, norm_q):
    first = (f"rank {np.linalg.matrix_rank(P)}" if norm_p == "trace"
             else f"{int(np.any(P != 0, axis=1).sum())} rows")
    second = (f"{int(np.any(Q != 0, axis=0).sum())} tasks" if norm_q == "cols_l2"
              else f"{int(np.count_nonzero(Q))} entries")
    return f"{first} / {second}"


def halved(r1, r2):
    return dict(alpha=r1 / 2, beta=r2 / 2, loss_scaling="sum", fit_intercept=False)


def same(r1, r2):
    return dict(alpha=r1, beta=r2)


# MALSAR solver, mtlreg estimator, loss, norm on P, norm on Q, rho1, rho2, mapping, wrong reading
CASES = [
    ("Least_Dirty", mtlreg.DirtyRegressor, least_squares, "l1inf", "l11", 40.0, 6.0, halved,
     lambda r1, r2: dict(alpha=r1, beta=r2, loss_scaling="sum", fit_intercept=False)),
    ("Least_RMTL", mtlreg.RobustRegressor, least_squares, "trace", "cols_l2", 60.0, 50.0, halved,
     lambda r1, r2: dict(alpha=r1, beta=r2, loss_scaling="sum", fit_intercept=False)),
    ("Least_rMTFL", mtlreg.RMTFLRegressor, least_squares, "rows_l2", "cols_l2", 30.0, 40.0,
     halved, lambda r1, r2: dict(alpha=r1, beta=r2, loss_scaling="sum", fit_intercept=False)),
    ("Logistic_Dirty", mtlreg.DirtyClassifier, logistic, "l1inf", "l11", 0.3, 0.05, same,
     lambda r1, r2: dict(alpha=r1, beta=r2, loss_scaling="sum")),
    ("Logistic_rMTFL", mtlreg.RMTFLClassifier, logistic, "rows_l2", "cols_l2", 0.06, 0.07, same,
     lambda r1, r2: dict(alpha=r1, beta=r2, loss_scaling="sum")),
]


def check_mapping():
    tight = dict(tol=1e-10, max_iter=200000)
    print("### MALSAR objectives\n")
    print(f"mtlreg {mtlreg.__version__}, CVXPY {cp.__version__} (CLARABEL), "
          f"NumPy {np.__version__}\n")
    print("| MALSAR solver | mtlreg estimator | CVXPY optimum | MALSAR objective at mtlreg's "
          "solution | relative excess (within 1e-6?) | max abs W difference | parts |")
    print("|---|---|---|---|---|---|---|")
    for name, Est, loss, norm_p, norm_q, rho1, rho2, mapping, wrong in CASES:
        opt, W_cvx = cvxpy_optimum(loss, norm_p, norm_q, rho1, rho2)
        target = ylab if loss is logistic else y
        for mapper in (mapping, wrong):
            params = mapper(rho1, rho2)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a fit that does not converge stops the check
                model = Est(**params, **tight).fit(X, target, tasks=tasks)
            value = malsar_value(model, loss, norm_p, norm_q, rho1, rho2)
            args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}"
                             for k, v in params.items())
            ok = "yes" if value <= opt * (1 + 1e-6) else "no"
            print(f"| {name}(rho1={rho1:g}, rho2={rho2:g}) | `{Est.__name__}({args})` | "
                  f"{opt:.10g} | {value:.10g} | {(value - opt) / abs(opt):.1e} ({ok}) | "
                  f"{np.abs(model.coef_.T - W_cvx).max():.1e} | "
                  f"{describe_parts(*parts(model), norm_p, norm_q)} |")


def check_reductions():
    tight = dict(tol=1e-12, max_iter=200000)
    a, b = 0.3, 0.05  # a strength for the structured part, one for the Lasso part

    def fit(Est, **kw):
        return Est(**kw, **tight).fit(X, y, tasks=tasks)

    print("\n### Reductions (regression on the same data, loss_scaling='mean')\n")
    print("| setting | part that should be zero: max abs | max abs `coef_` difference to the "
          "one-part model |")
    print("|---|---|---|")
    # every task alone with beta ||w_t||_2: rMTFL with its shared part switched off
    per_task = fit(mtlreg.RMTFLRegressor, alpha=1e6, beta=0.99 * a / np.sqrt(T))
    for ridge in (0.0, 0.05):
        rows = [
            ("Dirty linf, beta = 1.01 alpha", "coef_specific_",
             fit(mtlreg.DirtyRegressor, alpha=a, beta=1.01 * a, ridge=ridge),
             fit(mtlreg.DirtyRegressor, alpha=a, beta=1e6, ridge=ridge)),
            ("Dirty l2, beta = 1.01 alpha", "coef_specific_",
             fit(mtlreg.DirtyRegressor, alpha=a, beta=1.01 * a, group_norm="l2", ridge=ridge),
             fit(mtlreg.L21Regressor, alpha=a, ridge=ridge)),
            ("Dirty linf, alpha = 1.01 T beta", "coef_shared_",
             fit(mtlreg.DirtyRegressor, alpha=1.01 * T * b, beta=b, ridge=ridge),
             fit(mtlreg.LassoRegressor, alpha=b, ridge=ridge)),
            ("Dirty l2, alpha = 1.01 sqrt(T) beta", "coef_shared_",
             fit(mtlreg.DirtyRegressor, alpha=1.01 * np.sqrt(T) * b, beta=b, group_norm="l2",
                 ridge=ridge),
             fit(mtlreg.LassoRegressor, alpha=b, ridge=ridge)),
            ("Robust, beta = 1.01 alpha", "coef_outlier_",
             fit(mtlreg.RobustRegressor, alpha=a, beta=1.01 * a, ridge=ridge),
             fit(mtlreg.TraceRegressor, alpha=a, ridge=ridge)),
            ("rMTFL, beta = 1.01 sqrt(d) alpha", "coef_outlier_",
             fit(mtlreg.RMTFLRegressor, alpha=a, beta=1.01 * np.sqrt(d) * a, ridge=ridge),
             fit(mtlreg.L21Regressor, alpha=a, ridge=ridge)),
        ]
        if ridge == 0.0:
            rows += [
                ("Dirty linf, beta = alpha (boundary: the split may not be unique)",
                 "coef_specific_", fit(mtlreg.DirtyRegressor, alpha=a, beta=a),
                 fit(mtlreg.DirtyRegressor, alpha=a, beta=1e6)),
                ("Robust, beta = 0.99 alpha / sqrt(T)", "coef_lowrank_",
                 fit(mtlreg.RobustRegressor, alpha=a, beta=0.99 * a / np.sqrt(T)), per_task),
                ("rMTFL, beta = 0.99 alpha / sqrt(T)", "coef_shared_",
                 fit(mtlreg.RMTFLRegressor, alpha=a, beta=0.99 * a / np.sqrt(T)), per_task),
            ]
        for label, zero_part, model, single in rows:
            print(f"| {label}, ridge={ridge:g} | {np.abs(getattr(model, zero_part)).max():.1e} "
                  f"(`{zero_part}`) | {np.abs(model.coef_ - single.coef_).max():.1e} |")


if __name__ == "__main__":
    check_mapping()
    check_reductions()
