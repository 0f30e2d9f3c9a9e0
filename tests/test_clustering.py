"""Convex clustered MTL: the term ``c * min_M tr(W (eta I + M)^-1 W^T)``, its
conjugate and certificate, the two estimators, hard clusters and the plots.

``W = coef_.T`` is ``n_features x n_tasks``; ``M`` is ``n_tasks x n_tasks``,
symmetric, ``0 <= M <= I``, ``tr M = n_clusters``; ``eta = beta / alpha`` and
``c = alpha eta (1 + eta)`` (MALSAR's ``Least_CMTL``).

Every reference is computed independently here: the term at random feasible
``M`` (and at hard cluster projections), an SDP over ``M`` solved by CVXPY,
central differences, a numerical maximization for the conjugate, CVXPY
solutions of the full problems, KKT conditions written in NumPy, a per-task
ridge closed form, and the planted clusters of the synthetic generators.
"""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
import sklearn
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError

from mtlreg import ClusteredClassifier, ClusteredRegressor, stack_tasks
from mtlreg._backend import to_numpy
from mtlreg.clustering import cluster_tasks
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties import ClusteredPenalty

from cvxpy_reference import solve_clarabel


# -- independent references ---------------------------------------------------------------------

def _constants(alpha, beta):
    eta = beta / alpha
    return eta, alpha * eta * (1.0 + eta)


def _term(W, M, eta, c):
    """``c tr(W (eta I + M)^-1 W^T)`` for ``W`` of shape (d, T), ``M`` (T, T)."""
    T = W.shape[1]
    return c * np.trace(W @ np.linalg.solve(eta * np.eye(T) + M, W.T))


def _random_feasible_M(rng, T, k):
    """Symmetric, eigenvalues in [0, 1] summing to k, random eigenvectors."""
    Q = np.linalg.qr(rng.standard_normal((T, T)))[0]
    m = rng.dirichlet(np.ones(T)) * k
    while m.max() > 1 + 1e-12:  # redistribute the mass above 1
        over = m > 1
        extra = (m[over] - 1).sum()
        m[over] = 1
        m[~over] += extra / (~over).sum()
    m = np.minimum(m, 1.0)
    return (Q * m) @ Q.T


def _cluster_projection(labels):
    """``E (E^T E)^-1 E^T`` for the one-hot task-by-cluster matrix ``E``."""
    E = (labels[:, None] == np.unique(labels)[None, :]).astype(float)
    return E @ np.linalg.solve(E.T @ E, E.T)


def _cvxpy():
    return pytest.importorskip("cvxpy")


def _solve(problem, cp):
    return solve_clarabel(problem)


def _feasible_set(cp, M, T, k):
    return [cp.trace(M) == k, M >> 0, np.eye(T) - M >> 0]


# -- the term and its closed forms --------------------------------------------------------------

# (n_tasks, n_features, n_clusters); (6, 3, 4): W^T W has rank 3 < n_clusters
SHAPES = [(5, 7, 2), (4, 6, 1), (6, 3, 4)]


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_term_is_the_minimum_over_M_at_a_feasible_optimal_M(T, d, k, ridge):
    rng = np.random.default_rng(T * 10 + d)
    coef = rng.standard_normal((T, d))  # W = coef.T is d x T
    W = coef.T
    alpha, beta = 0.7, 0.3
    eta, c = _constants(alpha, beta)
    pen = ClusteredPenalty(xp, alpha, beta, k, ridge=ridge)
    value = float(pen.value(coef))
    ridge_part = ridge * np.sum(W * W)

    M_star = np.asarray(pen.optimal_M(coef))
    assert M_star.shape == (T, T)  # over the tasks, not the features
    np.testing.assert_allclose(M_star, M_star.T, atol=1e-12)
    eig = np.linalg.eigvalsh(M_star)
    assert eig.min() >= -1e-12 and eig.max() <= 1 + 1e-12
    np.testing.assert_allclose(np.trace(M_star), k, atol=1e-9)
    np.testing.assert_allclose(value, _term(W, M_star, eta, c) + ridge_part, rtol=1e-12)

    # no feasible M does better: random spectra and eigenvectors, and the hard
    # cluster projections (eigenvalues 0 / 1) of the non-convex problem
    for _ in range(300):
        M = _random_feasible_M(rng, T, k)
        assert _term(W, M, eta, c) + ridge_part >= value - 1e-10 * value
    for _ in range(50):
        labels = np.concatenate([np.arange(k), rng.integers(0, k, T - k)])
        M = _cluster_projection(rng.permutation(labels))
        assert _term(W, M, eta, c) + ridge_part >= value - 1e-10 * value


@pytest.mark.parametrize("T, d, k", SHAPES)
def test_term_matches_an_sdp_over_M_by_cvxpy(T, d, k):
    cp = _cvxpy()
    rng = np.random.default_rng(T + d)
    coef = rng.standard_normal((T, d))
    alpha, beta = 0.4, 0.1
    eta, c = _constants(alpha, beta)
    M = cp.Variable((T, T), symmetric=True)
    # matrix_frac(X, P) = tr(X^T P^-1 X): X = W^T (T x d), P = eta I + M (T x T)
    problem = cp.Problem(cp.Minimize(c * cp.matrix_frac(coef, eta * np.eye(T) + M)),
                         _feasible_set(cp, M, T, k))
    optimum = _solve(problem, cp)
    value = float(ClusteredPenalty(xp, alpha, beta, k).value(coef))
    assert value == pytest.approx(optimum, rel=1e-6)


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_gradient_matches_central_differences(T, d, k, ridge):
    rng = np.random.default_rng(100 + T * d)
    coef = rng.standard_normal((T, d))
    pen = ClusteredPenalty(xp, 0.7, 0.3, k, ridge=ridge)
    _, grad = pen.value_and_grad(coef)
    grad = np.asarray(grad)
    assert grad.shape == coef.shape
    h = 1e-6
    numeric = np.zeros_like(coef)
    for idx in np.ndindex(coef.shape):
        E = np.zeros_like(coef)
        E[idx] = h
        numeric[idx] = (float(pen.value(coef + E)) - float(pen.value(coef - E))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7 * np.abs(numeric).max())


def _numerical_conjugate(pen, V, rng):
    """``max_W <W, V> - g(W)`` by BFGS with the analytic gradient, several starts."""
    def negative(x):
        C = x.reshape(V.shape)
        value, grad = pen.value_and_grad(C)
        return float(value) - np.sum(C * V), (np.asarray(grad) - V).ravel()

    starts = [np.zeros(V.size), V.ravel()] + [rng.standard_normal(V.size) for _ in range(3)]
    best = -np.inf
    for x0 in starts:
        res = minimize(negative, x0, jac=True, method="BFGS",
                       options=dict(gtol=1e-11, maxiter=5000))
        best = max(best, -res.fun)
    return best


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_conjugate_matches_a_numerical_maximization(T, d, k, ridge):
    rng = np.random.default_rng(200 + T * d)
    pen = ClusteredPenalty(xp, 0.7, 0.3, k, ridge=ridge)
    V = 2.0 * rng.standard_normal((T, d))
    conjugate = pen.conjugate(V)
    numeric = _numerical_conjugate(pen, V, rng)
    # any W gives a lower bound on the supremum, and BFGS reaches it
    assert numeric <= conjugate + 1e-10 * abs(conjugate)
    assert conjugate == pytest.approx(numeric, rel=1e-8)


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_fenchel_young_inequality_and_equality_at_the_gradient(T, d, k, ridge):
    rng = np.random.default_rng(300 + T * d)
    pen = ClusteredPenalty(xp, 0.7, 0.3, k, ridge=ridge)
    for _ in range(50):
        coef, V = rng.standard_normal((2, T, d)) * rng.uniform(0.1, 3.0, size=2)[:, None, None]
        lhs = float(pen.value(coef)) + pen.conjugate(V)
        assert lhs >= np.sum(coef * V) - 1e-12 * (abs(lhs) + 1)
    for _ in range(10):
        coef = rng.standard_normal((T, d))
        value, grad = pen.value_and_grad(coef)
        grad = np.asarray(grad)
        inner = np.sum(coef * grad)
        np.testing.assert_allclose(float(value) + pen.conjugate(grad), inner, rtol=1e-10)


# -- MALSAR's / RMTL's gradient in M ----------------------------------------------------------

def test_malsar_gradient_in_M_is_not_the_gradient():
    """For ``f(M) = c tr(W (eta I + M)^-1 W^T)`` the gradient is
    ``-c P^-1 W^T W P^-1`` (``P = eta I + M``).  RMTL (``R/Cluster_penalty.R``:
    ``grad_M = - c * (t(W) %*% W %*% invIM %*% invIM)``), like MALSAR's
    ``Least_CMTL`` that it ports, uses ``-c W^T W P^-1 P^-1``, which is not even
    symmetric and disagrees with finite differences."""
    rng = np.random.default_rng(7)
    d, T, k = 6, 5, 2
    W = rng.standard_normal((d, T))
    eta, c = _constants(0.5, 0.2)
    M = _random_feasible_M(rng, T, k)
    P_inv = np.linalg.inv(eta * np.eye(T) + M)
    G = W.T @ W
    true = -c * P_inv @ G @ P_inv
    malsar = -c * G @ P_inv @ P_inv

    def f(A):
        return _term(W, A, eta, c)

    h = 1e-6
    numeric = np.zeros((T, T))
    for i, j in np.ndindex(T, T):
        E = np.zeros((T, T))
        E[i, j] = h
        numeric[i, j] = (f(M + E) - f(M - E)) / (2 * h)
    np.testing.assert_allclose(true, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(true, true.T, atol=1e-12)
    asymmetry = np.abs(malsar - malsar.T).max() / np.abs(malsar).max()
    assert asymmetry > 1e-2
    assert np.abs(malsar - true).max() > 1e-2 * np.abs(true).max()
    # also along symmetric directions, the only ones that keep M feasible
    S = rng.standard_normal((T, T))
    S = S + S.T
    directional = (f(M + h * S) - f(M - h * S)) / (2 * h)
    assert np.sum(true * S) == pytest.approx(directional, rel=1e-6)
    assert abs(np.sum(malsar * S) - directional) > 1e-3 * abs(directional)


# -- the estimators against CVXPY ---------------------------------------------------------------

SIZES = (14, 22, 9, 17, 12)


def _clustered_tasks(seed, logistic):
    """Five tasks of unequal sizes in two clusters, d = 4, intercepts."""
    rng = np.random.default_rng(seed)
    d = 4
    centroids = 1.5 * rng.standard_normal((d, 2))
    W = centroids[:, [0, 1, 0, 1, 0]] + 0.3 * rng.standard_normal((d, len(SIZES)))
    Xs = [rng.standard_normal((n, d)) for n in SIZES]
    zs = [X @ W[:, t] + 0.5 + 0.5 * rng.standard_normal(len(X)) for t, X in enumerate(Xs)]
    if logistic:
        ys = [np.where(z > 0, 1.0, -1.0) for z in zs]
        assert all(len(np.unique(y)) == 2 for y in ys)
        return Xs, ys
    return Xs, zs


def _cvxpy_clustered(Xs, ys, alpha, beta, k, ridge, loss_scaling, logistic):
    cp = _cvxpy()
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((T, T), symmetric=True)
    eta, c = _constants(alpha, beta)
    terms = []
    for t, (X, y) in enumerate(zip(Xs, ys)):
        weight = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        z = X @ W[:, t] + b[t]
        terms.append(weight * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                               else 0.5 * cp.sum_squares(y - z)))
    objective = (sum(terms) + c * cp.matrix_frac(W.T, eta * np.eye(T) + M)
                 + ridge * cp.sum_squares(W))
    return _solve(cp.Problem(cp.Minimize(objective), _feasible_set(cp, M, T, k)), cp)


# an orthogonal array over (loss_scaling, ridge, n_clusters): every pair of levels once
CVXPY_CASES = [("mean", 0.0, 1), ("sum", 0.0, 2), ("mean", 0.05, 2), ("sum", 0.05, 1)]


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, ridge, k", CVXPY_CASES)
def test_estimators_match_cvxpy_and_certify_their_gap(logistic, loss_scaling, ridge, k):
    Xs, ys = _clustered_tasks(0, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 15.0  # about the mean task size
    alpha, beta, ridge = 0.1 * scale, 0.05 * scale, ridge * scale
    optimum = _cvxpy_clustered(Xs, ys, alpha, beta, k, ridge, loss_scaling, logistic)
    Est = ClusteredClassifier if logistic else ClusteredRegressor

    tol = 1e-10
    est = Est(alpha=alpha, beta=beta, n_clusters=k, ridge=ridge, loss_scaling=loss_scaling,
              tol=tol).fit(X, y, tasks=tasks)
    assert est.converged_
    assert est.objective_ == pytest.approx(optimum, rel=1e-6)
    assert est.dual_gap_ is not None
    assert 0 <= est.dual_gap_ <= tol * est.objective_
    assert est.objective_ - optimum <= est.dual_gap_ + 1e-8 * optimum
    np.testing.assert_allclose(np.trace(est.cluster_matrix_), k, atol=1e-9)

    # a few iterations only: the suboptimality is far above CVXPY's accuracy, and
    # the gap still bounds it from above
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rough = Est(alpha=alpha, beta=beta, n_clusters=k, ridge=ridge,
                    loss_scaling=loss_scaling, max_iter=3).fit(X, y, tasks=tasks)
    assert not rough.converged_
    assert rough.objective_ - optimum > 1e-6 * optimum
    assert rough.dual_gap_ >= rough.objective_ - optimum - 1e-8 * optimum


# -- optimality conditions at the fitted solution -----------------------------------------------

def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("fit_intercept, loss_scaling, ridge",
                         [(False, "mean", 0.0), (True, "sum", 0.02), (True, "mean", 0.0)])
def test_kkt_conditions_and_objective_at_the_solution(logistic, fit_intercept, loss_scaling,
                                                     ridge):
    """The gradient of the whole objective at ``(coef_, intercept_)``, written
    in NumPy with ``M = cluster_matrix_``:

        sum_t c_t X_t^T dloss_t + 2 c W (eta I + M)^-1 + 2 ridge W  (and sum_t c_t dloss_t),

    vanishes up to what the certified gap allows: for a convex objective ``P``
    with an ``L``-Lipschitz gradient, ``||grad P||^2 <= 2 L (P - P*) <= 2 L gap``.
    ``objective_`` is the formula at the solution."""
    Xs, ys = _clustered_tasks(1, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 15.0
    alpha, beta, ridge, k = 0.2 * scale, 0.05 * scale, ridge * scale, 2
    Est = ClusteredClassifier if logistic else ClusteredRegressor
    est = Est(alpha=alpha, beta=beta, n_clusters=k, ridge=ridge, loss_scaling=loss_scaling,
              fit_intercept=fit_intercept, tol=1e-13).fit(X, y, tasks=tasks)
    eta, c = _constants(alpha, beta)
    W, b, M = est.coef_.T, est.intercept_, est.cluster_matrix_
    T = len(Xs)
    if not fit_intercept:
        assert np.all(b == 0)

    grad_fit = np.zeros_like(W)
    grad_b = np.zeros(T)
    loss = 0.0
    lipschitz_fit = 0.0  # of the data fit in (W, b): the largest block c_t ||[X_t 1]||^2 (/4)
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        weight = 1.0 / len(yt) if loss_scaling == "mean" else 1.0
        z = Xt @ W[:, t] + b[t]
        if logistic:
            loss += weight * np.sum(np.logaddexp(0.0, -yt * z))
            dz = -weight * yt * _sigmoid(-yt * z)
        else:
            loss += weight * 0.5 * np.sum((yt - z) ** 2)
            dz = weight * (z - yt)
        grad_fit[:, t] = Xt.T @ dz
        grad_b[t] = dz.sum()
        design = np.column_stack([Xt, np.ones(len(yt))]) if fit_intercept else Xt
        lipschitz_fit = max(lipschitz_fit, weight * np.linalg.norm(design, 2) ** 2
                            * (0.25 if logistic else 1.0))
    P_inv = np.linalg.inv(eta * np.eye(T) + M)
    grad_term = 2 * c * W @ P_inv + 2 * ridge * W
    assert np.abs(grad_term).max() > 1e-2  # the structure term is active
    grad = np.concatenate([(grad_fit + grad_term).ravel(), grad_b if fit_intercept else []])
    lipschitz = lipschitz_fit + 2 * c / eta + 2 * ridge
    gap = est.dual_gap_ + 1e-13 * est.objective_  # the objective's rounding
    assert np.linalg.norm(grad) <= np.sqrt(2 * lipschitz * gap)
    assert np.linalg.norm(grad) <= 1e-5 * np.abs(grad_fit).max()

    objective = loss + c * np.trace(W @ P_inv @ W.T) + ridge * np.sum(W * W)
    assert est.objective_ == pytest.approx(objective, rel=1e-10)


def test_as_many_clusters_as_tasks_is_per_task_ridge():
    """``M = I`` is the only feasible ``M`` with ``tr M = n_tasks``: the term is
    ``c / (1 + eta) ||W||^2 = beta ||W||^2``, and each task solves its own ridge
    problem ``(c_t Xc^T Xc + 2 (beta + ridge) I) w_t = c_t Xc^T yc``.  The
    objective is ``2 (beta + ridge)``-strongly convex, so the certified gap
    bounds the distance to that solution: ``||W - W*||^2 <= 2 gap / mu``."""
    Xs, ys = _clustered_tasks(2, False)
    X, y, tasks = stack_tasks(Xs, ys)
    alpha, beta, ridge = 0.3, 0.07, 0.01
    est = ClusteredRegressor(alpha=alpha, beta=beta, n_clusters=len(Xs), ridge=ridge,
                             tol=1e-12).fit(X, y, tasks=tasks)
    np.testing.assert_allclose(est.cluster_matrix_, np.eye(len(Xs)), atol=1e-12)
    np.testing.assert_array_equal(est.clusters_, np.arange(len(Xs)))
    expected = np.empty_like(est.coef_)
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        Xc, yc = Xt - Xt.mean(axis=0), yt - yt.mean()
        ct = 1.0 / len(yt)
        expected[t] = np.linalg.solve(ct * Xc.T @ Xc + 2 * (beta + ridge) * np.eye(Xt.shape[1]),
                                      ct * Xc.T @ yc)
        # the intercept that is optimal for the fitted w_t
        assert est.intercept_[t] == pytest.approx(yt.mean() - Xt.mean(axis=0) @ est.coef_[t],
                                                  abs=1e-12)
    mu = 2 * (beta + ridge)
    gap = est.dual_gap_ + 1e-13 * est.objective_  # the objective's rounding
    assert np.linalg.norm(est.coef_ - expected) <= np.sqrt(2 * gap / mu)
    assert np.linalg.norm(est.coef_ - expected) <= 1e-5 * np.linalg.norm(expected)


def test_one_cluster():
    Xs, ys = _clustered_tasks(3, False)
    X, y, tasks = stack_tasks(Xs, ys)
    est = ClusteredRegressor(alpha=0.3, beta=0.07, n_clusters=1, tol=1e-10).fit(X, y,
                                                                                 tasks=tasks)
    np.testing.assert_array_equal(est.clusters_, np.zeros(len(Xs), dtype=int))
    np.testing.assert_allclose(np.trace(est.cluster_matrix_), 1.0, atol=1e-9)
    eig = np.linalg.eigvalsh(est.cluster_matrix_)
    assert eig.min() >= -1e-12 and eig.max() <= 1 + 1e-12


# -- planted clusters and the hard assignment ---------------------------------------------------

@pytest.mark.parametrize("random_state", [0, 1])
def test_planted_clusters_are_recovered_in_regression(random_state):
    data = make_multitask_regression(n_tasks=20, n_samples=50, n_features=10,
                                     structure="clustered", n_clusters=3, noise=0.1,
                                     random_state=random_state)
    est = ClusteredRegressor(alpha=0.1, beta=0.01, n_clusters=3).fit(data.X, data.y,
                                                                     tasks=data.tasks)
    assert est.converged_
    assert adjusted_rand_score(data.clusters, est.clusters_) >= 0.9
    # labels 0 .. k-1 numbered in order of first appearance
    labels, first = np.unique(est.clusters_, return_index=True)
    np.testing.assert_array_equal(labels, np.arange(3))
    assert np.all(np.diff(first) > 0)
    # M is close to the projection onto the planted cluster indicators
    P = _cluster_projection(data.clusters)
    assert np.linalg.norm(est.cluster_matrix_ - P, 2) < 0.2


def test_planted_clusters_are_recovered_in_classification():
    data = make_multitask_classification(n_tasks=12, n_samples=100, n_features=5,
                                         structure="clustered", n_clusters=3, noise=0.5,
                                         random_state=0)
    est = ClusteredClassifier(alpha=0.01, beta=0.001, n_clusters=3).fit(data.X, data.y,
                                                                        tasks=data.tasks)
    assert est.converged_
    assert adjusted_rand_score(data.clusters, est.clusters_) >= 0.9


def test_cluster_tasks_on_an_exact_projection():
    labels = np.array([2, 0, 2, 1, 0, 1, 1, 2])
    M = _cluster_projection(labels)
    found = cluster_tasks(M, 3)
    assert adjusted_rand_score(labels, found) == 1.0
    # numbered in order of first appearance: task 0's cluster is 0, task 1's is 1, ...
    np.testing.assert_array_equal(found, [0, 1, 0, 2, 1, 2, 2, 0])
    np.testing.assert_array_equal(cluster_tasks(M, 1), np.zeros(8, dtype=int))
    np.testing.assert_array_equal(cluster_tasks(M, 8), np.arange(8))
    # the same with a relaxed M: a convex combination with the identity's share
    relaxed = 0.8 * M + 0.2 * (3 / 8) * np.eye(8)
    np.testing.assert_array_equal(cluster_tasks(relaxed, 3), [0, 1, 0, 2, 1, 2, 2, 0])


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("Est", [ClusteredRegressor, ClusteredClassifier])
def test_more_clusters_than_tasks_raises(Est):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] > 0).astype(float)
    with pytest.raises(ValueError, match=r"n_clusters=2 exceeds n_tasks=1"):
        Est().fit(X, y)  # the default n_clusters=2 on a single task
    tasks = np.repeat(np.arange(3), 10)
    with pytest.raises(ValueError, match=r"n_clusters=4 exceeds n_tasks=3"):
        Est(n_clusters=4).fit(X, y, tasks=tasks)


@pytest.mark.parametrize("Est", [ClusteredRegressor, ClusteredClassifier])
@pytest.mark.parametrize("params, name", [(dict(alpha=0.0), "alpha"), (dict(beta=0.0), "beta"),
                                          (dict(alpha=-1.0), "alpha"),
                                          (dict(n_clusters=0), "n_clusters")])
def test_invalid_parameters_raise(Est, params, name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] > 0).astype(float)
    tasks = np.repeat(np.arange(3), 10)
    with pytest.raises(InvalidParameterError, match=name) as info:
        Est(**params).fit(X, y, tasks=tasks)
    assert isinstance(info.value, ValueError)


def test_nan_in_X_raises():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = X[:, 0].copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ClusteredRegressor().fit(X, y, tasks=np.repeat(np.arange(3), 10))


# -- determinism and warm start -----------------------------------------------------------------

@pytest.mark.parametrize("logistic", [False, True])
def test_fits_are_deterministic_and_warm_start_is_immediate(logistic):
    Xs, ys = _clustered_tasks(4, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    Est = ClusteredClassifier if logistic else ClusteredRegressor
    first = Est(alpha=0.1, beta=0.02, tol=1e-10).fit(X, y, tasks=tasks)
    second = Est(alpha=0.1, beta=0.02, tol=1e-10).fit(X, y, tasks=tasks)
    np.testing.assert_array_equal(first.clusters_, second.clusters_)
    np.testing.assert_array_equal(first.coef_, second.coef_)
    assert first.objective_ == second.objective_

    warm = Est(alpha=0.1, beta=0.02, tol=1e-10, warm_start=True).fit(X, y, tasks=tasks)
    n_cold = warm.n_iter_
    warm.fit(X, y, tasks=tasks)
    assert warm.converged_
    assert n_cold > 10 and warm.n_iter_ <= 10  # the first gap check (every 10 iterations)
    assert warm.objective_ == pytest.approx(first.objective_, rel=1e-9)
    np.testing.assert_array_equal(warm.clusters_, first.clusters_)


# -- plotting -----------------------------------------------------------------------------------

@pytest.fixture
def pyplot():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def test_plot_task_clusters_draws_M_in_cluster_order(pyplot):
    from mtlreg.plotting import plot_task_clusters

    data = make_multitask_regression(n_tasks=8, n_samples=40, n_features=6,
                                     structure="clustered", n_clusters=3, noise=0.1,
                                     random_state=2)
    names = np.array(list("hgfedcba"))  # labels whose sorted order is not the data's
    est = ClusteredRegressor(alpha=0.1, beta=0.01, n_clusters=3).fit(
        data.X, data.y, tasks=names[data.tasks])
    ax = plot_task_clusters(est)
    order = np.argsort(est.clusters_, kind="stable")
    assert not np.all(order == np.arange(8))  # the drawing order is not the labels' order
    image = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(image, est.cluster_matrix_[np.ix_(order, order)])
    expected = [str(v) for v in est.tasks_[order]]
    assert [t.get_text() for t in ax.get_xticklabels()] == expected
    assert [t.get_text() for t in ax.get_yticklabels()] == expected
    # lines between clusters, after each cluster but the last
    sizes = np.bincount(est.clusters_)
    rows = sorted({line.get_ydata()[0] for line in ax.lines if line.get_ydata()[0] ==
                   line.get_ydata()[1]})
    np.testing.assert_allclose(rows, np.cumsum(sizes)[:-1] - 0.5)


def test_plot_task_matrix_orders_and_validates(pyplot):
    from mtlreg.plotting import plot_task_matrix

    A = np.arange(9.0).reshape(3, 3)  # not symmetric: a transposition would show
    ax = plot_task_matrix(A, np.array(["x", "y", "z"]), order=[2, 0, 1], colorbar=False)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()),
                                  A[np.ix_([2, 0, 1], [2, 0, 1])])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["z", "x", "y"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z", "x", "y"]
    with pytest.raises(ValueError, match="square"):
        plot_task_matrix(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="labels"):
        plot_task_matrix(np.eye(3), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="permutation"):
        plot_task_matrix(np.eye(3), order=[0, 0, 1])


def test_plot_task_matrix_takes_python_lists(pyplot):
    from mtlreg.plotting import plot_task_matrix

    ax = plot_task_matrix([[1.0, 0.5], [0.5, 1.0]], ["a", "b"], colorbar=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


# -- array API ----------------------------------------------------------------------------------

@pytest.mark.parametrize("device_name, dtype_name, rtol", [
    pytest.param("CPU_DEVICE", "float64", 1e-10, id="cpu-float64"),
    pytest.param("device1", "float32", 2e-5, id="device1-float32"),
])
def test_regressor_follows_the_input_namespace(device_name, dtype_name, rtol):
    xps = pytest.importorskip("array_api_strict")
    data = make_multitask_regression(n_tasks=6, n_samples=30, n_features=5,
                                     structure="clustered", n_clusters=2, noise=0.1,
                                     random_state=5)
    ref = ClusteredRegressor(alpha=0.1, beta=0.02, tol=1e-10).fit(data.X, data.y,
                                                                   tasks=data.tasks)
    dev = xps.Device(device_name)
    dtype = getattr(xps, dtype_name)
    with sklearn.config_context(array_api_dispatch=True):
        Xa = xps.asarray(data.X, dtype=dtype, device=dev)
        ya = xps.asarray(data.y, dtype=dtype, device=dev)
        est = ClusteredRegressor(alpha=0.1, beta=0.02, tol=1e-10).fit(Xa, ya, tasks=data.tasks)
        assert est.coef_.device == dev and est.coef_.dtype == dtype
        assert est.cluster_matrix_.device == dev and est.cluster_matrix_.dtype == dtype
        assert est.clusters_.device == dev
    assert est.objective_ == pytest.approx(ref.objective_, rel=rtol)
    np.testing.assert_allclose(to_numpy(est.cluster_matrix_), ref.cluster_matrix_, rtol=0,
                               atol=np.sqrt(rtol) * 10)
    np.testing.assert_array_equal(to_numpy(est.clusters_), ref.clusters_)
