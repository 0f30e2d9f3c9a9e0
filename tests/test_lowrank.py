"""Low-rank family: the trace-norm prox, its certificate, and rank behaviour."""

import warnings

import numpy as np
import pytest

import array_api_compat.numpy as xp
from mtlreg import SparseTraceRegressor, TraceClassifier, TraceRegressor, alpha_max
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties import NuclearNorm

from cvxpy_reference import solve_clarabel


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_prox_is_singular_value_soft_thresholding(ridge):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((4, 7))
    step, alpha = 0.4, 0.8
    P = NuclearNorm(xp, alpha, ridge=ridge).prox(V, step)
    k = 1 + 2 * step * ridge
    U, s, Vt = np.linalg.svd(V / k, full_matrices=False)
    expected = (U * np.maximum(s - step * alpha / k, 0)) @ Vt
    np.testing.assert_allclose(P, expected, atol=1e-12)
    # optimality of the prox: no random perturbation lowers its objective
    pen = NuclearNorm(xp, alpha, ridge=ridge)

    def obj(W):
        return 0.5 * np.sum((W - V) ** 2) + step * float(pen.value(W))

    for _ in range(50):
        assert obj(P) <= obj(P + 1e-3 * rng.standard_normal(P.shape)) + 1e-12


def test_moreau_identity_with_the_spectral_ball():
    """V = prox_{t ||.||_*}(V) + P_{t B_2}(V): the conjugate's prox is the
    projection onto the spectral-norm ball (singular values clipped at t)."""
    rng = np.random.default_rng(1)
    V = 3 * rng.standard_normal((5, 6))
    t = 1.7
    P = NuclearNorm(xp, 1.0).norm_prox(V, t)
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    projection = (U * np.minimum(s, t)) @ Vt
    np.testing.assert_allclose(P + projection, V, atol=1e-12)
    assert np.linalg.norm(projection, 2) <= t + 1e-12


def test_dual_norm_is_the_spectral_norm():
    rng = np.random.default_rng(2)
    pen = NuclearNorm(xp, 1.0)
    for _ in range(100):
        W, V = rng.standard_normal((2, 4, 6))
        assert np.sum(W * V) <= float(pen.norm(W)) * float(pen.dual_norm(V)) + 1e-12
    # equality at the maximizer u1 v1^T of <., V>
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    W = np.outer(U[:, 0], Vt[0])
    np.testing.assert_allclose(np.sum(W * V), float(pen.norm(W)) * float(pen.dual_norm(V)))


@pytest.mark.parametrize("Est, make, loss", [
    (TraceRegressor, make_multitask_regression, "squared"),
    (TraceClassifier, make_multitask_classification, "logistic"),
])
def test_alpha_max_and_rank_falls_as_alpha_grows(Est, make, loss):
    data = make(n_tasks=8, n_samples=60, n_features=10, structure="low_rank", rank=3,
                random_state=0)
    amax = alpha_max(data.X, data.y, data.tasks, penalty="trace", loss=loss)
    assert np.all(Est(alpha=amax * 1.0001).fit(data.X, data.y, tasks=data.tasks).coef_ == 0)
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
    assert est.rank_ == 2
    # the learned subspace is the planted one: principal angles near zero
    Q_true = np.linalg.svd(data.coef, full_matrices=False)[2][:2].T
    Q_est = np.linalg.svd(est.coef_, full_matrices=False)[2][:2].T
    cosines = np.linalg.svd(Q_true.T @ Q_est, compute_uv=False)
    assert cosines.min() > 0.99


# -- sparse + low rank ------------------------------------------------------------------------

cp = pytest.importorskip("cvxpy")


def _tasks(seed, logistic):
    rng = np.random.default_rng(seed)
    sizes, d = (15, 25, 10), 6
    Xs = [rng.standard_normal((n, d)) for n in sizes]
    W = rng.standard_normal((d, 1)) @ rng.standard_normal((1, 3))
    W[0, 1] += 3.0  # one entry-wise exception
    zs = [X @ W[:, t] + 0.3 * rng.standard_normal(len(X)) + 0.5 for t, X in enumerate(Xs)]
    ys = [np.where(z > 0, 1.0, -1.0) for z in zs] if logistic else zs
    return Xs, ys


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
    return solve_clarabel(cp.Problem(cp.Minimize(objective)))


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, ridge", [("mean", 0.0), ("sum", 0.0), ("mean", 0.05)])
def test_sparse_trace_matches_cvxpy_and_certifies_its_gap(logistic, loss_scaling, ridge):
    from mtlreg import SparseTraceClassifier, SparseTraceRegressor, stack_tasks

    Xs, ys = _tasks(0, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 16.0
    alpha, beta = 0.1 * scale, 0.05 * scale
    Est = SparseTraceClassifier if logistic else SparseTraceRegressor
    est = Est(alpha=alpha, beta=beta, ridge=ridge * scale, loss_scaling=loss_scaling,
              tol=1e-10).fit(X, y, tasks=tasks)
    optimum = _cvxpy_sparse_trace(Xs, ys, alpha, beta, ridge * scale, loss_scaling, logistic)
    assert est.converged_
    assert est.objective_ == pytest.approx(optimum, rel=1e-6)
    assert 0 <= est.dual_gap_ and est.objective_ - optimum <= est.dual_gap_ + 1e-8 * optimum
    np.testing.assert_allclose(est.coef_lowrank_ + est.coef_sparse_, est.coef_, atol=1e-14)
    assert est.rank_ == np.linalg.matrix_rank(est.coef_lowrank_, tol=1e-8 * np.abs(
        est.coef_lowrank_).max())


def test_sparse_trace_with_large_beta_is_the_trace_model():
    """beta >= max |grad| at the trace solution: S = 0 and L is TraceRegressor's W."""
    from mtlreg import SparseTraceRegressor, stack_tasks

    Xs, ys = _tasks(1, False)
    X, y, tasks = stack_tasks(Xs, ys)
    trace = TraceRegressor(alpha=0.1, tol=1e-12).fit(X, y, tasks=tasks)
    both = SparseTraceRegressor(alpha=0.1, beta=1e3, tol=1e-12).fit(X, y, tasks=tasks)
    assert np.all(both.coef_sparse_ == 0)
    np.testing.assert_allclose(both.coef_lowrank_, trace.coef_, atol=1e-7)
    np.testing.assert_allclose(both.objective_, trace.objective_, rtol=1e-10)


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
    np.testing.assert_allclose(np.trace(M_star), k, atol=1e-9)
    eig = np.linalg.eigvalsh(M_star)
    assert eig.min() >= -1e-12 and eig.max() <= 1 + 1e-12
    np.testing.assert_allclose(value, term(M_star), rtol=1e-12)
    # no random feasible M does better: eigenvalues in [0, 1] summing to k
    for _ in range(300):
        Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
        m = rng.dirichlet(np.ones(6)) * k
        while m.max() > 1:  # redistribute the mass above 1
            over = m > 1
            extra = (m[over] - 1).sum()
            m[over] = 1
            m[~over] += extra / (~over).sum()
        assert term((Q * m) @ Q.T) >= value - 1e-10
    # the gradient (Danskin) against central differences
    E = rng.standard_normal(coef.shape)
    h = 1e-6
    numeric = (pen.value(coef + h * E) - pen.value(coef - h * E)) / (2 * h)
    np.testing.assert_allclose(np.sum(grad * E), numeric, rtol=1e-6)


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
    problem = cp.Problem(cp.Minimize(sum(terms) + c * cp.matrix_frac(W, eta * np.eye(d) + M)),
                         [cp.trace(M) == k, M >> 0, np.eye(d) - M >> 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL)
    assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    return problem.value


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("alpha, beta, k", [(0.1, 0.05, 1), (0.3, 0.2, 2)])
def test_caso_matches_an_sdp_solution_by_cvxpy(logistic, alpha, beta, k):
    from mtlreg import CASOClassifier, CASORegressor, stack_tasks

    Xs, ys = _tasks(5, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    Est = CASOClassifier if logistic else CASORegressor
    est = Est(alpha=alpha, beta=beta, n_components=k, tol=1e-10).fit(X, y, tasks=tasks)
    assert est.converged_
    optimum = _cvxpy_caso(Xs, ys, alpha, beta, k, logistic)
    assert est.objective_ == pytest.approx(optimum, rel=1e-6)
    np.testing.assert_allclose(np.trace(est.structure_matrix_), k, atol=1e-9)


def test_caso_rejects_more_components_than_features():
    from mtlreg import CASORegressor, stack_tasks

    Xs, ys = _tasks(6, False)
    X, y, tasks = stack_tasks(Xs, ys)
    with pytest.raises(ValueError, match="n_components=7 exceeds n_features=6"):
        CASORegressor(n_components=7).fit(X, y, tasks=tasks)


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
    for Est in (TraceRegressor, SparseTraceRegressor):
        est = Est(alpha=0.1, tol=1e-8).fit(X, y, tasks=tasks)
        assert est.converged_ and est.dual_gap_ <= 1e-6 * est.objective_

    class Fit:  # what use_working_set reads from a data fit
        restrict_features = None
        data = type("D", (), {"n_features": n_features})()

    assert not use_working_set(Fit(), NuclearNorm(np, 0.1))
    assert use_working_set(Fit(), L21(np, 0.1))
