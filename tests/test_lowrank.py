"""Low-rank family: the trace-norm prox, its certificate, and rank behaviour.

Tolerances: closed forms computed through an SVD or an eigendecomposition are compared
at the rounding level of a backward-stable factorization (``certificates.svd_rounding``);
fits are compared with CVXPY references through certificates (``cvxpy_reference``):
mtlreg's certified duality gap on one side, the reference's checked accuracy on the other.
"""

import numpy as np
import pytest

import array_api_compat.numpy as xp
from mtlreg import SparseTraceRegressor, TraceClassifier, TraceRegressor, alpha_max
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties import NuclearNorm

from certificates import (EPS, Point, assert_converged, assert_same_solution,
                          rounding, svd_rounding, task_weights)
from problems import low_rank_tasks as _tasks
from cvxpy_reference import TOLERANCES, assert_matches_reference, solve_reference


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_prox_is_singular_value_soft_thresholding(ridge):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((4, 7))
    step, alpha = 0.4, 0.8
    P = NuclearNorm(xp, alpha, ridge=ridge).prox(V, step)
    k = 1 + 2 * step * ridge
    U, s, Vt = np.linalg.svd(V / k, full_matrices=False)
    expected = (U * np.maximum(s - step * alpha / k, 0)) @ Vt
    # both are the exact prox of a perturbed V / k (the prox is 1-Lipschitz)
    error = 2 * svd_rounding(V / k)
    np.testing.assert_allclose(P, expected, rtol=0, atol=error)
    # optimality of the prox: its objective is k-strongly convex, so at its minimizer
    # P* it grows at least quadratically, obj(P* + D) >= obj(P*) + k ||D||^2 / 2.  P is
    # within `error` of P*: obj(P) <= obj(P*) + G error (G bounds a subgradient at P) and
    # ||D + P - P*|| >= ||D|| - error.
    pen = NuclearNorm(xp, alpha, ridge=ridge)

    def obj(W):
        return 0.5 * np.sum((W - V) ** 2) + step * float(pen.value(W))

    G = (np.linalg.norm(P - V) + step * alpha * np.sqrt(min(V.shape))
         + 2 * step * ridge * np.linalg.norm(P))
    for _ in range(50):
        D = 1e-3 * rng.standard_normal(P.shape)
        growth = 0.5 * k * (np.linalg.norm(D) - error) ** 2 - G * error
        assert obj(P + D) - obj(P) >= growth - 2 * rounding(obj(P))


def test_moreau_identity_with_the_spectral_ball():
    """V = prox_{t ||.||_*}(V) + P_{t B_2}(V): the conjugate's prox is the
    projection onto the spectral-norm ball (singular values clipped at t)."""
    rng = np.random.default_rng(1)
    V = 3 * rng.standard_normal((5, 6))
    t = 1.7
    P = NuclearNorm(xp, 1.0).norm_prox(V, t)
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    projection = (U * np.minimum(s, t)) @ Vt
    # each is the exact map of a perturbed V, and both maps are 1-Lipschitz
    np.testing.assert_allclose(P + projection, V, rtol=0, atol=2 * svd_rounding(V))
    assert np.linalg.norm(projection, 2) <= t + svd_rounding(projection)


def test_dual_norm_is_the_spectral_norm():
    rng = np.random.default_rng(2)
    pen = NuclearNorm(xp, 1.0)
    for _ in range(100):
        W, V = rng.standard_normal((2, 4, 6))
        # Hoelder, up to the rounding of the 24-term inner product (<= 24 eps ||W|| ||V||)
        # and of the two SVDs (relative to ||W||_F, ||V||_F)
        slack = (W.size * EPS * np.linalg.norm(W) * np.linalg.norm(V)
                 + svd_rounding(W) * np.linalg.norm(V) + np.linalg.norm(W) * svd_rounding(V))
        assert np.sum(W * V) <= float(pen.norm(W)) * float(pen.dual_norm(V)) + slack
    # equality at the maximizer u1 v1^T of <., V> (nuclear norm 1, value sigma_1(V))
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    W = np.outer(U[:, 0], Vt[0])
    np.testing.assert_allclose(np.sum(W * V), float(pen.norm(W)) * float(pen.dual_norm(V)),
                               rtol=0, atol=slack)


@pytest.mark.parametrize("Est, make, loss", [
    (TraceRegressor, make_multitask_regression, "squared"),
    (TraceClassifier, make_multitask_classification, "logistic"),
])
def test_alpha_max_and_rank_falls_as_alpha_grows(Est, make, loss):
    data = make(n_tasks=8, n_samples=60, n_features=10, structure="low_rank", rank=3,
                random_state=0)
    amax = alpha_max(data.X, data.y, data.tasks, penalty="trace", loss=loss)
    # above alpha_max = sigma_max(grad at (0, b0)) W = 0 is optimal (KKT) and FISTA started
    # there stays there exactly: the prox of the first step thresholds every singular
    # value (1e-4 relative margin, far above the rounding of alpha_max)
    assert np.all(Est(alpha=amax * 1.0001).fit(data.X, data.y, tasks=data.tasks).coef_ == 0)
    # Structural, with a fixed seed (the rank of the solution is not monotone in alpha in
    # general): measured ranks 1, 2, 3, 3, 3 (squared) and 1, 2, 3, 7, 8 (logistic); the
    # smallest counted singular value is >= 8e-3 sigma_max and the thresholded ones are
    # ~1e-16 sigma_max, far on either side of rank_'s cutoff max(shape) eps sigma_max.
    ranks = [Est(alpha=f * amax, tol=1e-8).fit(data.X, data.y, tasks=data.tasks).rank_
             for f in (0.99, 0.5, 0.2, 0.05, 0.01)]
    assert ranks[0] >= 1
    assert all(a <= b for a, b in zip(ranks, ranks[1:])), ranks
    assert ranks[-1] > ranks[0]


def test_planted_rank_is_recovered():
    data = make_multitask_regression(n_tasks=10, n_samples=80, n_features=15,
                                     structure="low_rank", rank=2, noise=0.1, random_state=3)
    assert np.linalg.matrix_rank(data.coef) == 2
    amax = alpha_max(data.X, data.y, data.tasks, penalty="trace")
    est = TraceRegressor(alpha=0.05 * amax).fit(data.X, data.y, tasks=data.tasks)
    # Statistical, with a fixed seed: the noise (0.1) is small against the planted
    # rank-2 signal.  Measured: sigma_2 / sigma_1 = 0.68 and the thresholded singular
    # values ~1e-16 sigma_1 (rank_'s cutoff is 15 eps sigma_1); cosines of the principal
    # angles 0.99994 and 0.99947 (1 - cos is 19 times below the bound's 1e-2).
    assert est.rank_ == 2
    # the learned subspace is the planted one: principal angles near zero
    Q_true = np.linalg.svd(data.coef, full_matrices=False)[2][:2].T
    Q_est = np.linalg.svd(est.coef_, full_matrices=False)[2][:2].T
    cosines = np.linalg.svd(Q_true.T @ Q_est, compute_uv=False)
    assert cosines.min() > 0.99


# -- sparse + low rank ------------------------------------------------------------------------

cp = pytest.importorskip("cvxpy")


def _cvxpy_sparse_trace(Xs, ys, alpha, beta, ridge, loss_scaling, logistic):
    d, T = Xs[0].shape[1], len(Xs)
    L, S, b = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    terms = []
    for t, (X, y) in enumerate(zip(Xs, ys)):
        c = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        z = X @ (L[:, t] + S[:, t]) + b[t]
        terms.append(c * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                          else 0.5 * cp.sum_squares(y - z)))
    objective = (sum(terms) + alpha * cp.normNuc(L) + beta * cp.sum(cp.abs(S))
                 + ridge * (cp.sum_squares(L) + cp.sum_squares(S)))
    return solve_reference(cp.Problem(cp.Minimize(objective)))  # unconstrained


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, ridge", [("mean", 0.0), ("sum", 0.0), ("mean", 0.05)])
def test_sparse_trace_matches_cvxpy_and_certifies_its_gap(logistic, loss_scaling, ridge):
    from mtlreg import SparseTraceClassifier, SparseTraceRegressor, stack_tasks

    Xs, ys = _tasks(0, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 16.0
    alpha, beta = 0.1 * scale, 0.05 * scale
    Est = SparseTraceClassifier if logistic else SparseTraceRegressor
    tol = 1e-10
    est = Est(alpha=alpha, beta=beta, ridge=ridge * scale, loss_scaling=loss_scaling,
              tol=tol).fit(X, y, tasks=tasks)
    reference = _cvxpy_sparse_trace(Xs, ys, alpha, beta, ridge * scale, loss_scaling, logistic)
    assert_converged(est, tol)
    assert_matches_reference(est.objective_, est.dual_gap_, reference)
    # coef_ is L + S: one addition, so equal to its rounding
    L, S = est.coef_lowrank_, est.coef_sparse_
    np.testing.assert_array_less(np.abs(L + S - est.coef_), EPS * (np.abs(L) + np.abs(S))
                                 + np.finfo(np.float64).tiny)
    # L is a singular-value soft threshold: the thresholded singular values reconstruct
    # to the rounding level (measured: <= 7e-17 sigma_max) and the kept ones are far above
    # it (measured: >= 4.5e-4 sigma_max), so any cutoff in between counts the same
    assert est.rank_ == np.linalg.matrix_rank(L, tol=1e-8 * np.abs(L).max())


def test_sparse_trace_with_large_beta_is_the_trace_model():
    """beta >= max |grad| at the trace solution: S = 0 and L is TraceRegressor's W.

    KKT: (W*, 0) is optimal for the sparse + trace objective when beta bounds the loss
    gradient at W* entrywise; FISTA started at S = 0 keeps S = 0 exactly while every
    gradient along the way stays below beta (here 1e3, against gradients of order 1).
    Then both fits are points of one objective (F(L, 0) = F_trace(L)) with certified
    gaps: their objectives agree within the larger gap, their points within the
    strong-convexity bound (every task has n_t > d: the squared loss is strongly convex
    in (w_t, b_t))."""
    from mtlreg import SparseTraceRegressor, stack_tasks

    Xs, ys = _tasks(1, False)
    X, y, tasks = stack_tasks(Xs, ys)
    tol = 1e-12
    trace = TraceRegressor(alpha=0.1, tol=tol).fit(X, y, tasks=tasks)
    both = SparseTraceRegressor(alpha=0.1, beta=1e3, tol=tol).fit(X, y, tasks=tasks)
    assert_converged(trace, tol)
    assert_converged(both, tol)
    grads = [X_t.T @ (X_t @ w + b - y_t) / len(y_t)
             for X_t, y_t, w, b in zip(Xs, ys, trace.coef_, trace.intercept_)]
    assert np.abs(grads).max() <= 1e-2 * 1e3  # the premise, with a 100-fold margin
    assert np.all(both.coef_sparse_ == 0)
    # both are points of one objective with certified gaps: their objectives agree within
    # them, their points within the curvature metric's bounds, H = (1 / n_t) [X_t 1]^T
    # [X_t 1] per task (each excess: its gap plus 2 rounding of the objectives)
    r = rounding(trace.objective_)
    assert_same_solution(Point(both.coef_lowrank_, both.intercept_, both.objective_,
                               both.dual_gap_),
                         trace, Xs, ys, loss="squared", weights=task_weights(ys),
                         excess=(both.dual_gap_ + 2 * r, trace.dual_gap_ + 2 * r))


# -- convex alternating structure optimization ----------------------------------------------

def test_aso_term_is_the_minimum_over_M_and_its_gradient_is_exact():
    from mtlreg.penalties import ASOPenalty

    rng = np.random.default_rng(4)
    coef = rng.standard_normal((4, 6))  # W = coef.T is 6 x 4
    alpha, beta, k = 0.7, 0.3, 2
    pen = ASOPenalty(xp, alpha, beta, k)
    eta, c = beta / alpha, alpha * (beta / alpha) * (1 + beta / alpha)
    value, grad = pen.value_and_grad(coef)
    W = coef.T

    def term(M):
        return c * np.trace(W.T @ np.linalg.solve(eta * np.eye(6) + M, W))

    M_star = pen.optimal_M(coef)
    # M* = U diag(m) U^T with m in [0, 1] summing to k: exact up to the rounding of the
    # d clipped values (of size <= 1 + eta), of their piecewise-linear solve over 2d
    # events, and of the reconstruction (orthonormal U to a few d eps)
    d = W.shape[0]
    np.testing.assert_allclose(np.trace(M_star), k, rtol=0, atol=16 * d * EPS * (k + 1 + eta))
    eig = np.linalg.eigvalsh(M_star)
    assert eig.min() >= -16 * d * EPS and eig.max() <= 1 + 16 * d * EPS
    # two evaluations of one objective sum (eigenvalues vs a solve with eta I + M, whose
    # condition number is at most (1 + eta) / eta)
    level = rounding(value)
    assert abs(value - term(M_star)) <= 2 * level
    # no random feasible M does better: eigenvalues in [0, 1] summing to k
    for _ in range(300):
        Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
        m = rng.dirichlet(np.ones(6)) * k
        while m.max() > 1:  # redistribute the mass above 1
            over = m > 1
            extra = (m[over] - 1).sum()
            m[over] = 1
            m[~over] += extra / (~over).sum()
        assert term((Q * m) @ Q.T) >= value - 2 * level
    # the gradient (Danskin): the term is convex (a partial minimum of the jointly convex
    # matrix fraction over a convex set of M), so its directional derivative lies between
    # the backward and forward difference quotients, up to the rounding of the values
    # (h balances the bracket's width, ~ h f'', against that rounding, ~ level / h)
    E = rng.standard_normal(coef.shape)
    h = 2e-6
    f0 = float(pen.value(coef))
    forward = (float(pen.value(coef + h * E)) - f0) / h
    backward = (f0 - float(pen.value(coef - h * E))) / h
    slope = float(np.sum(grad * E))
    assert backward - 2 * level / h <= slope <= forward + 2 * level / h


def _feasible_aso_M(W, eta, k):
    """``(P, m)`` with ``M = P diag(m) P^T`` feasible (``0 <= M <= I``, ``tr M <= k``) and
    minimizing ``tr(W^T (eta I + M)^-1 W)`` in closed form (Chen et al. 2009): ``W W^T``'s
    eigenvectors, eigenvalues ``clip(s sigma_i - eta, 0, 1)`` with ``s`` found by
    bisection, from below, so that they sum to at most ``k`` (the term decreases in ``M``:
    a value at this ``M`` is at least the minimum over ``tr M = k``).  Written here
    independently of mtlreg."""
    P, sigma, _ = np.linalg.svd(W, full_matrices=True)
    sigma = np.r_[sigma, np.zeros(W.shape[0] - len(sigma))]

    def mass(s):
        return np.clip(s * sigma - eta, 0.0, 1.0)

    lo, hi = 0.0, (1.0 + eta) / sigma[sigma > 0].min()
    assert mass(hi).sum() >= k  # enough positive singular values for k
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mass(mid).sum() <= k else (lo, mid)
    return P, mass(lo)


class _AtTheOptimalM:
    """The cASO objective in ``(W, b)`` alone, the minimum over ``M`` in closed form: a
    CVXPY expression at ``W``'s value, built when ``solve_reference`` reads ``.value``
    after the solve (the SDP's own value can land below the optimum with a slightly
    infeasible ``M``)."""

    def __init__(self, fit, W, eta, c, k):
        self.fit, self.W, self.eta, self.c, self.k = fit, W, eta, c, k

    @property
    def value(self):
        # tr(W^T (eta I + M)^-1 W) in M's eigenbasis: ||diag(eta + m)^-1/2 P^T W||_F^2
        P, m = _feasible_aso_M(self.W.value, self.eta, self.k)
        scaled = (P / np.sqrt(self.eta + m)).T
        return (self.fit + self.c * cp.sum_squares(scaled @ self.W)).value


def _cvxpy_caso(Xs, ys, alpha, beta, k, logistic):
    d, T = Xs[0].shape[1], len(Xs)
    W, M, b = cp.Variable((d, T)), cp.Variable((d, d), symmetric=True), cp.Variable(T)
    eta = beta / alpha
    c = alpha * eta * (1 + eta)
    terms = []
    for t, (X, y) in enumerate(zip(Xs, ys)):
        z = X @ W[:, t] + b[t]
        terms.append((cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                      else 0.5 * cp.sum_squares(y - z)) / len(y))
    fit = sum(terms)
    problem = cp.Problem(cp.Minimize(fit + c * cp.matrix_frac(W, eta * np.eye(d) + M)),
                         [cp.trace(M) == k, M >> 0, np.eye(d) - M >> 0])
    # the SDP is harder for Clarabel: it may call the tighter tolerances inaccurate
    return solve_reference(problem, exact=_AtTheOptimalM(fit, W, eta, c, k),
                           tolerances=TOLERANCES)


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("alpha, beta, k", [(0.1, 0.05, 1), (0.3, 0.2, 2)])
def test_caso_matches_an_sdp_solution_by_cvxpy(logistic, alpha, beta, k):
    from mtlreg import CASOClassifier, CASORegressor, stack_tasks

    Xs, ys = _tasks(5, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    Est = CASOClassifier if logistic else CASORegressor
    tol = 1e-10
    est = Est(alpha=alpha, beta=beta, n_components=k, tol=tol).fit(X, y, tasks=tasks)
    assert_converged(est, tol)
    reference = _cvxpy_caso(Xs, ys, alpha, beta, k, logistic)
    assert_matches_reference(est.objective_, est.dual_gap_, reference)
    # tr M* = k to rounding (see test_aso_term_is_the_minimum_over_M_and_its_gradient_is_exact)
    d, eta = X.shape[1], beta / alpha
    np.testing.assert_allclose(np.trace(est.structure_matrix_), k, rtol=0,
                               atol=16 * d * EPS * (k + 1 + eta))


def test_caso_with_more_components_than_features_is_m_equal_identity():
    """tr M = k needs k <= n_features; a larger n_components means M = I, where the
    term is c / (eta + 1) ||W||_F^2: the same fit as n_components = n_features, and
    a ridge of that strength (closed form per task, with the intercept)."""
    from mtlreg import CASORegressor, stack_tasks

    Xs, ys = _tasks(6, False)
    X, y, tasks = stack_tasks(Xs, ys)
    alpha, beta, d = 0.1, 0.2, X.shape[1]
    many = CASORegressor(alpha=alpha, beta=beta, n_components=7, tol=1e-12).fit(
        X, y, tasks=tasks)
    full = CASORegressor(alpha=alpha, beta=beta, n_components=d, tol=1e-12).fit(
        X, y, tasks=tasks)
    assert many.n_components_ == d and np.array_equal(many.coef_, full.coef_)
    eta = beta / alpha
    lam = alpha * eta * (1 + eta) / (eta + 1)  # c / (eta + 1)
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):  # ridge: (Xc^T Xc / n + 2 lam I) w = Xc^T yc / n
        Xc, yc = Xt - Xt.mean(axis=0), yt - yt.mean()
        w = np.linalg.solve(Xc.T @ Xc / len(yt) + 2 * lam * np.eye(d), Xc.T @ yc / len(yt))
        assert np.abs(many.coef_[t] - w).max() <= 1e-6 * np.abs(w).max()


def test_trace_norm_with_many_features_does_not_use_feature_working_sets():
    """The trace norm is not separable over features: with n_features above the
    working-set threshold it must still be solved whole (it raised
    NotImplementedError from feature_scores at 200+ features)."""
    from mtlreg.penalties import L21, NuclearNorm
    from mtlreg.solvers.working_set import MIN_FEATURES, use_working_set

    rng = np.random.RandomState(0)
    n_features = MIN_FEATURES + 10
    X = rng.standard_normal((120, n_features))
    tasks = np.repeat([0, 1, 2], 40)
    y = X[:, :3].sum(axis=1) + rng.standard_normal(120)
    # tol = 1e-7: with d > n_t the objective is exact to rounding after 510 iterations
    # while the residuals' dual point rests at a relative gap of 5.8e-8 (its square-root
    # rate at rounding level, measured); the stopping rule has no floor (issue 17)
    for Est in (TraceRegressor, SparseTraceRegressor):
        est = Est(alpha=0.1, tol=1e-7).fit(X, y, tasks=tasks)
        assert_converged(est, 1e-7)

    class Fit:  # what use_working_set reads from a data fit
        can_restrict_features = True
        data = type("D", (), {"n_features": n_features})()

    assert not use_working_set(Fit(), NuclearNorm(np, 0.1))
    assert use_working_set(Fit(), L21(np, 0.1))
