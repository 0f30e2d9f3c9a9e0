"""Convex clustered MTL: the term ``c * min_M tr(W (eta I + M)^-1 W^T)``, its
conjugate and certificate, the two estimators, hard clusters and the plots.

``W = coef_.T`` is ``n_features x n_tasks``; ``M`` is ``n_tasks x n_tasks``,
symmetric, ``0 <= M <= I``, ``tr M = n_clusters``; ``eta = beta / alpha`` and
``c = alpha eta (1 + eta)`` (MALSAR's ``Least_CMTL``).

Every reference is computed independently here: the term at random feasible
``M`` (and at hard cluster projections), the minimum over ``M`` by a bisection of
its own, an SDP over ``M`` solved by CVXPY,
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

from certificates import (assert_converged, assert_same_optimum, objective_at_zero, rounding,
                          spectral_rounding, sum_rounding)
from cvxpy_reference import assert_matches_reference, solve_reference
from conftest import import_array_api_strict
from clustering_reference import (Evaluated as _Evaluated, constants as _constants,
                                  feasible_set as _feasible_set,
                                  project_feasible as _project_feasible, term_eig as _term_eig,
                                  water_filling as _water_filling)


# -- independent references ---------------------------------------------------------------------

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
    # the term and its evaluations below are sums of a few dozen positive terms, with
    # eta I + M (condition (1 + eta) / eta < 4) solved or inverted: rounding(value)
    slack = rounding(value)

    M_star = np.asarray(pen.optimal_M(coef))
    assert M_star.shape == (T, T)  # over the tasks, not the features
    assert np.abs(M_star - M_star.T).max() <= spectral_rounding(T)
    eig = np.linalg.eigvalsh(M_star)
    assert eig.min() >= -spectral_rounding(T) and eig.max() <= 1 + spectral_rounding(T)
    assert abs(value - (_term(W, M_star, eta, c) + ridge_part)) <= slack
    # (tr M* = k: test_optimal_M_has_trace_n_clusters)

    # no feasible M does better: random spectra and eigenvectors, and the hard
    # cluster projections (eigenvalues 0 / 1) of the non-convex problem
    for _ in range(300):
        M = _random_feasible_M(rng, T, k)
        assert _term(W, M, eta, c) + ridge_part >= value - slack
    for _ in range(50):
        labels = np.concatenate([np.arange(k), rng.integers(0, k, T - k)])
        M = _cluster_projection(rng.permutation(labels))
        assert _term(W, M, eta, c) + ridge_part >= value - slack


@pytest.mark.parametrize("T, d", [(9, 4), (4, 9), (5, 5)])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_clustered_and_caso_are_one_term_computed_on_the_smaller_side(T, d, ridge):
    """The term depends on the nonzero singular values of ``W`` alone (Zhou, Chen &
    Ye 2011): clustered MTL (``M`` over the tasks) and cASO (``M`` over the
    features) are one function, computed on the smaller side.  Each value and
    gradient equals the quadratic form at its own side's dense optimal ``M`` (the
    readout, from the other side's eigendecomposition when that side is the
    larger), and the two terms' values, gradients and conjugates agree."""
    from mtlreg.penalties import ASOPenalty

    rng = np.random.default_rng(T * 100 + d)
    coef, V = rng.standard_normal((T, d)), rng.standard_normal((T, d))
    alpha, beta = 0.7, 0.3
    eta, c = _constants(alpha, beta)
    lipschitz = 2 * c / eta + 2 * ridge
    for k in (1, 2, 6):
        clustered = ClusteredPenalty(xp, alpha, beta, k, ridge=ridge)
        caso = ASOPenalty(xp, alpha, beta, k, ridge=ridge)
        M_tasks, M_features = (np.asarray(p.optimal_M(coef)) for p in (clustered, caso))
        assert M_tasks.shape == (T, T) and M_features.shape == (d, d)
        inv_tasks = np.linalg.inv(eta * np.eye(T) + M_tasks)
        inv_features = np.linalg.inv(eta * np.eye(d) + M_features)
        ridge_part = ridge * np.sum(coef * coef)
        references = {
            clustered: (c * np.trace(coef.T @ inv_tasks @ coef) + ridge_part,
                        2 * c * inv_tasks @ coef + 2 * ridge * coef),
            caso: (c * np.trace(coef @ inv_features @ coef.T) + ridge_part,
                   2 * c * coef @ inv_features + 2 * ridge * coef)}
        results = {}
        for pen, (value, grad) in references.items():
            got_value, got_grad = (np.asarray(v) for v in pen.value_and_grad(coef))
            assert abs(float(got_value) - value) <= rounding(value)
            # a gradient Lipschitz in W, from eigendecompositions exact to O(n eps ||W||)
            bound = spectral_rounding(max(T, d)) * lipschitz * np.linalg.norm(coef)
            assert np.max(np.abs(got_grad - grad)) <= bound
            results[pen] = (float(got_value), got_grad, pen.conjugate(V))
        (v1, g1, s1), (v2, g2, s2) = results[clustered], results[caso]
        assert abs(v1 - v2) <= rounding(v1)
        assert np.max(np.abs(g1 - g2)) <= bound
        assert abs(s1 - s2) <= rounding(s1)


@pytest.mark.parametrize("T, d, k", SHAPES)
def test_optimal_M_has_trace_n_clusters(T, d, k):
    """To the rounding of the breakpoint sums: ``_water_filling``'s ``kappa``."""
    rng = np.random.default_rng(T * 10 + d)
    coef = rng.standard_normal((T, d))
    alpha, beta = 0.7, 0.3
    eta, _ = _constants(alpha, beta)
    M_star = np.asarray(ClusteredPenalty(xp, alpha, beta, k).optimal_M(coef))
    _, _, kappa = _water_filling(coef.T, eta, k)
    assert abs(np.trace(M_star) - k) <= spectral_rounding(T) * (1 + eta) * kappa


def test_water_filling_treats_rounding_level_singular_values_as_zero():
    """Three singular values at 1e-15 of the largest are zeros to the rounding of a
    Gram matrix's eigenvalues: with k = 4 and three positive ones, the masses must
    still sum to k (1 on the three, the last unit spread over the rest)."""
    from mtlreg.penalties.aso import aso_eigenvalues

    sigma = np.array([1e-15, 2e-15, 3e-15, 1.5, 3.2, 4.1])
    m = np.asarray(aso_eigenvalues(xp, sigma, 0.3 / 0.7, 4))
    assert np.all((m >= 0) & (m <= 1))
    assert abs(m.sum() - 4) <= spectral_rounding(len(sigma))


@pytest.mark.parametrize("T, d, k", SHAPES)
def test_term_matches_an_sdp_over_M_by_cvxpy(T, d, k):
    """Clarabel's ``M``, projected onto the feasible set, gives an upper bound on the
    minimum (``Reference.upper``), and Clarabel claims it is within its accuracy of
    the minimum; mtlreg's closed form has no gap: it must lie in between."""
    cp = _cvxpy()
    rng = np.random.default_rng(T + d)
    coef = rng.standard_normal((T, d))
    alpha, beta = 0.4, 0.1
    eta, c = _constants(alpha, beta)
    M = cp.Variable((T, T), symmetric=True)
    # matrix_frac(X, P) = tr(X^T P^-1 X): X = W^T (T x d), P = eta I + M (T x T)
    problem = cp.Problem(cp.Minimize(c * cp.matrix_frac(coef, eta * np.eye(T) + M)),
                         _feasible_set(cp, M, T, k))
    ref = solve_reference(problem, exact=_Evaluated(
        lambda: _term_eig(coef.T, *_project_feasible(M.value, k), eta, c)))
    value = float(ClusteredPenalty(xp, alpha, beta, k).value(coef))
    assert_matches_reference(value, 0.0, ref)


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_gradient_matches_central_differences(T, d, k, ridge):
    """``g`` is convex and, with ``M*`` optimal at ``W``, lies below the quadratic
    ``c tr(W' (eta I + M*)^-1 W'^T) + ridge ||W'||^2`` (``M*`` is feasible for every
    ``W'``), which touches it at ``W`` with the same gradient and has curvature
    ``L = 2 c / eta + 2 ridge`` at most.  So along a unit direction
    ``|central difference - gradient| <= L h / 4``, plus ``delta / h`` for values
    evaluated to within ``delta``; ``h = 2 sqrt(delta / L)`` makes the sum
    ``sqrt(L delta)``."""
    rng = np.random.default_rng(100 + T * d)
    coef = rng.standard_normal((T, d))
    alpha, beta = 0.7, 0.3
    eta, c = _constants(alpha, beta)
    pen = ClusteredPenalty(xp, alpha, beta, k, ridge=ridge)
    value, grad = pen.value_and_grad(coef)
    grad = np.asarray(grad)
    assert grad.shape == coef.shape
    L = 2 * c / eta + 2 * ridge
    delta = rounding(2 * float(value))  # the values at coef +- h E are below 2 g(coef) here
    h = 2 * np.sqrt(delta / L)
    numeric = np.zeros_like(coef)
    for idx in np.ndindex(coef.shape):
        E = np.zeros_like(coef)
        E[idx] = h
        numeric[idx] = (float(pen.value(coef + E)) - float(pen.value(coef - E))) / (2 * h)
    bound = np.sqrt(L * delta) + rounding(np.abs(grad).max())
    assert np.abs(grad - numeric).max() <= bound
    assert bound <= 1e-5 * np.abs(grad).max()  # the check is sharp (entries are O(1))


def _numerical_conjugate(pen, V, rng):
    """``max_W <W, V> - g(W)`` by BFGS with the analytic gradient, several starts:
    the best value, the point reaching it, and the size of the two terms there."""
    def negative(x):
        C = x.reshape(V.shape)
        value, grad = pen.value_and_grad(C)
        return float(value) - np.sum(C * V), (np.asarray(grad) - V).ravel()

    starts = [np.zeros(V.size), V.ravel()] + [rng.standard_normal(V.size) for _ in range(3)]
    best, best_W = -np.inf, None
    for x0 in starts:
        res = minimize(negative, x0, jac=True, method="BFGS",
                       options=dict(gtol=1e-11, maxiter=5000))
        if -res.fun > best:
            best, best_W = -res.fun, res.x.reshape(V.shape)
    size = float(pen.value(best_W)) + abs(np.sum(best_W * V))
    return best, best_W, size


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_conjugate_matches_a_numerical_maximization(T, d, k, ridge):
    """``h(W) = <W, V> - g(W)`` is concave, so at BFGS's point ``W`` with
    ``r = V - grad g(W)``: ``sup h <= h(W) + ||r|| ||W* - W||``.  The maximizer is
    bounded: ``g(W) >= (beta + ridge) ||W||^2`` (``eta I + M <= (1 + eta) I`` and
    ``c / (1 + eta) = beta``) and ``h(W*) >= h(0) = 0`` give
    ``||W*|| <= ||V|| / (beta + ridge)``."""
    rng = np.random.default_rng(200 + T * d)
    alpha, beta = 0.7, 0.3
    pen = ClusteredPenalty(xp, alpha, beta, k, ridge=ridge)
    V = 2.0 * rng.standard_normal((T, d))
    conjugate = pen.conjugate(V)
    numeric, W, size = _numerical_conjugate(pen, V, rng)
    slack = rounding(size, conjugate)
    # any W gives a lower bound on the supremum ...
    assert numeric <= conjugate + slack
    # ... and BFGS's is within its certificate of it
    grad = np.asarray(pen.value_and_grad(W)[1])
    residual = np.linalg.norm(V - grad) + rounding(np.linalg.norm(grad))
    radius = np.linalg.norm(V) / (beta + ridge) + np.linalg.norm(W)
    certificate = residual * radius
    assert conjugate <= numeric + certificate + slack
    # BFGS converged, so the check is sharp: an error in the closed form (a wrong
    # eigenvalue weight) would show at O(1)
    assert certificate <= 1e-6 * abs(conjugate)


@pytest.mark.parametrize("T, d, k", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_fenchel_young_inequality_and_equality_at_the_gradient(T, d, k, ridge):
    """``g(W) + g*(V) >= <W, V>``, with equality at ``V = grad g(W)``: to the rounding
    of the three terms (the equality's gap is minimal at the exact gradient, so the
    gradient's own rounding enters only to second order)."""
    rng = np.random.default_rng(300 + T * d)
    pen = ClusteredPenalty(xp, 0.7, 0.3, k, ridge=ridge)
    for _ in range(50):
        coef, V = rng.standard_normal((2, T, d)) * rng.uniform(0.1, 3.0, size=2)[:, None, None]
        value, conjugate, inner = float(pen.value(coef)), pen.conjugate(V), np.sum(coef * V)
        assert value + conjugate >= inner - rounding(value + conjugate + abs(inner))
    for _ in range(10):
        coef = rng.standard_normal((T, d))
        value, grad = pen.value_and_grad(coef)
        value, grad = float(value), np.asarray(grad)
        conjugate, inner = pen.conjugate(grad), np.sum(coef * grad)
        assert abs(value + conjugate - inner) <= rounding(value + conjugate + abs(inner))


# -- MALSAR's / RMTL's gradient in M ----------------------------------------------------------

def _central_difference_in_M(f, M, E, W, eta, c):
    """``(f(M + h E) - f(M - h E)) / 2h`` for ``f = c tr(W (eta I + .)^-1 W^T)`` at a
    feasible ``M`` (``eta I + M >= eta I``), and a bound on its error.  Along ``E``,
    ``|f'''| = 6 c |tr(W R E R E R E R W^T)| <= 6 c ||W||_F^2 ||E||^3 / (eta - t ||E||)^4``
    (``R = (eta I + M + t E)^-1``), so the truncation is at most
    ``c ||W||_F^2 ||E||^3 h^2 / (eta - h ||E||)^4``; values evaluated to within
    ``delta`` add ``delta / h``.  ``h`` balances the two."""
    norm_E = np.linalg.norm(E, 2)
    A = c * np.linalg.norm(W) ** 2 * norm_E ** 3 / eta ** 4
    delta = rounding(2 * f(M))  # f(M +- h E) < 2 f(M) for these small h
    h = (delta / (2 * A)) ** (1 / 3)
    assert h * norm_E <= eta / 2
    bound = A * eta ** 4 * h ** 2 / (eta - h * norm_E) ** 4 + delta / h
    return (f(M + h * E) - f(M - h * E)) / (2 * h), bound


def test_malsar_gradient_in_M_is_not_the_gradient():
    """For ``f(M) = c tr(W (eta I + M)^-1 W^T)`` the gradient is
    ``-c P^-1 W^T W P^-1`` (``P = eta I + M``).  RMTL (``R/Cluster_penalty.R``:
    ``grad_M = - c * (t(W) %*% W %*% invIM %*% invIM)``), like MALSAR's
    ``Least_CMTL`` that it ports, uses ``-c W^T W P^-1 P^-1``, which is not even
    symmetric and disagrees with finite differences by more than their error."""
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

    numeric = np.zeros((T, T))
    bound = 0.0
    for i, j in np.ndindex(T, T):
        E = np.zeros((T, T))
        E[i, j] = 1.0
        numeric[i, j], bound_ij = _central_difference_in_M(f, M, E, W, eta, c)
        bound = max(bound, bound_ij)
    bound += rounding(np.abs(true).max())  # true's own rounding (P_inv's condition < 4)
    assert np.abs(true - numeric).max() <= bound
    assert np.abs(true - true.T).max() <= rounding(np.abs(true).max())
    assert np.abs(malsar - malsar.T).max() > rounding(np.abs(malsar).max())
    assert np.abs(malsar - numeric).max() > bound
    # also along symmetric directions, the only ones that keep M feasible
    S = rng.standard_normal((T, T))
    S = S + S.T
    directional, bound = _central_difference_in_M(f, M, S, W, eta, c)
    bound += rounding(np.sum(np.abs(true * S)))
    assert abs(np.sum(true * S) - directional) <= bound
    assert abs(np.sum(malsar * S) - directional) > bound


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


def _data_fit(Xs, ys, W, b, loss_scaling, logistic, skip=()):
    """``sum_t c_t loss_t`` at ``W`` (d x T) and ``b``, in NumPy (tasks in ``skip``
    have no loss)."""
    total = 0.0
    for t, (X, y) in enumerate(zip(Xs, ys)):
        if t in skip:
            continue
        weight = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        z = X @ W[:, t] + b[t]
        total += weight * (np.sum(np.logaddexp(0.0, -y * z)) if logistic
                           else 0.5 * np.sum((y - z) ** 2))
    return total


def _cvxpy_clustered(Xs, ys, alpha, beta, k, ridge, loss_scaling, logistic, skip=()):
    """The joint problem over ``(W, b, M)`` by Clarabel: a :class:`Reference` whose
    ``upper`` is the objective at Clarabel's ``(W, b)`` with the minimum over ``M``
    in closed form (``_water_filling``: a feasible ``M``, so an upper bound), and
    Clarabel's ``(W, b)``."""
    cp = _cvxpy()
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((T, T), symmetric=True)
    eta, c = _constants(alpha, beta)
    terms = []
    for t, (X, y) in enumerate(zip(Xs, ys)):
        if t in skip:
            continue
        weight = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        z = X @ W[:, t] + b[t]
        terms.append(weight * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                               else 0.5 * cp.sum_squares(y - z)))
    objective = (sum(terms) + c * cp.matrix_frac(W.T, eta * np.eye(T) + M)
                 + ridge * cp.sum_squares(W))

    def exact():
        V, m, _ = _water_filling(W.value, eta, k)
        return (_data_fit(Xs, ys, W.value, b.value, loss_scaling, logistic, skip)
                + _term_eig(W.value, V, m, eta, c) + ridge * np.sum(W.value ** 2))

    ref = solve_reference(cp.Problem(cp.Minimize(objective), _feasible_set(cp, M, T, k)),
                          exact=_Evaluated(exact))
    return ref, W.value, b.value


# an orthogonal array over (loss_scaling, ridge, n_clusters): every pair of levels once
CVXPY_CASES = [("mean", 0.0, 1), ("sum", 0.0, 2), ("mean", 0.05, 2), ("sum", 0.05, 1)]


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, ridge, k", CVXPY_CASES)
def test_estimators_match_cvxpy_and_certify_their_gap(logistic, loss_scaling, ridge, k):
    Xs, ys = _clustered_tasks(0, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 15.0  # about the mean task size
    alpha, beta, ridge = 0.1 * scale, 0.05 * scale, ridge * scale
    eta, _ = _constants(alpha, beta)
    ref, W_ref, b_ref = _cvxpy_clustered(Xs, ys, alpha, beta, k, ridge, loss_scaling,
                                         logistic)
    Est = ClusteredClassifier if logistic else ClusteredRegressor

    tol = 1e-10
    est = Est(alpha=alpha, beta=beta, n_clusters=k, ridge=ridge, loss_scaling=loss_scaling,
              tol=tol).fit(X, y, tasks=tasks)
    assert_converged(est, tol)
    # mtlreg's objective (NumPy's loss, its term) at Clarabel's point is the reference's
    at_reference = (_data_fit(Xs, ys, W_ref, b_ref, loss_scaling, logistic)
                    + float(ClusteredPenalty(xp, alpha, beta, k, ridge=ridge).value(W_ref.T)))
    assert_matches_reference(est.objective_, est.dual_gap_, ref, at_reference=at_reference)
    _, _, kappa = _water_filling(est.coef_.T, eta, k)
    trace_rounding = spectral_rounding(len(Xs)) * (1 + eta) * kappa
    assert abs(np.trace(est.cluster_matrix_) - k) <= trace_rounding

    # a few iterations only: the suboptimality is far above CVXPY's accuracy, and
    # the gap still bounds it from above
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rough = Est(alpha=alpha, beta=beta, n_clusters=k, ridge=ridge,
                    loss_scaling=loss_scaling, max_iter=3).fit(X, y, tasks=tasks)
    assert not rough.converged_
    assert rough.objective_ - ref.upper > ref.accuracy + rounding(ref.upper)
    assert_matches_reference(rough.objective_, rough.dual_gap_, ref)


def test_one_class_task_stays_in_the_clustering_term():
    """Task 2 has one class: its loss vanishes as b_2 -> +-inf whatever w_2 is.
    Zeroing a task never raises the clustering term, so w_2 = 0; the term still
    sees the zero direction (M may give it some of its trace, which changes the
    other tasks' problem).  objective_ is that problem's objective at the
    returned coefficients, certified against CVXPY."""
    Xs, ys = _clustered_tasks(0, True)
    ys[2] = np.ones_like(ys[2])
    X, y, tasks = stack_tasks(Xs, ys)
    alpha, beta, k = 0.1, 0.05, 2
    ref, _, _ = _cvxpy_clustered(Xs, ys, alpha, beta, k, 0.0, "mean", True, skip=(2,))
    est = ClusteredClassifier(alpha=alpha, beta=beta, n_clusters=k, tol=1e-10).fit(
        X, y, tasks=tasks)
    assert est.converged_ and est.intercept_[2] == pytest.approx(np.log(1 / np.finfo(float).eps))
    assert np.all(est.coef_[2] == 0)
    W = est.coef_.T
    eta, c = _constants(alpha, beta)
    V, m, _ = _water_filling(W, eta, k)  # the minimum over M, written in this module
    formula = (_data_fit(Xs, ys, W, est.intercept_, "mean", True, skip=(2,))
               + _term_eig(W, V, m, eta, c))
    assert abs(est.objective_ - formula) <= rounding(formula)
    assert_matches_reference(est.objective_, est.dual_gap_, ref)


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
    lipschitz_fit = 0.0  # of the data fit in (W, b): the largest block c_t ||[X_t 1]||^2 (/4)
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        weight = 1.0 / len(yt) if loss_scaling == "mean" else 1.0
        z = Xt @ W[:, t] + b[t]
        dz = -weight * yt * _sigmoid(-yt * z) if logistic else weight * (z - yt)
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
    # the gap bounds the exact objective's excess up to the objective's rounding; the
    # NumPy gradient is a sum of terms of about the size of grad_fit and grad_term
    gap = est.dual_gap_ + rounding(est.objective_)
    grad_rounding = np.sqrt(grad.size) * rounding(np.abs(grad_fit).max()
                                                  + np.abs(grad_term).max())
    assert np.linalg.norm(grad) <= np.sqrt(2 * lipschitz * gap) + grad_rounding
    # and the bound is sharp: it holds the gradient's two parts to a cancellation of
    # 1e-4, where a wrong M or factor in the term would leave O(1).  (tol = 1e-13 is
    # near the gap's rounding floor, 2e-14 F(0, b0) without intercepts: the fit is
    # not required to reach it.)
    assert np.sqrt(2 * lipschitz * gap) + grad_rounding <= 1e-4 * np.abs(grad_fit).max()

    objective = (_data_fit(Xs, ys, W, b, loss_scaling, logistic)
                 + c * np.trace(W @ P_inv @ W.T) + ridge * np.sum(W * W))
    assert abs(est.objective_ - objective) <= rounding(objective)


def test_as_many_clusters_as_tasks_is_per_task_ridge():
    """``M = I`` is the only feasible ``M`` with ``tr M = n_tasks``: the term is
    ``c / (1 + eta) ||W||^2 = beta ||W||^2``, and each task solves its own ridge
    problem ``(c_t Xc^T Xc + 2 (beta + ridge) I) w_t = c_t Xc^T yc``.  The
    objective is ``2 (beta + ridge)``-strongly convex, so the certified gap
    bounds the distance to that solution: ``||W - W*||^2 <= 2 gap / mu``."""
    Xs, ys = _clustered_tasks(2, False)
    X, y, tasks = stack_tasks(Xs, ys)
    T = len(Xs)
    alpha, beta, ridge = 0.3, 0.07, 0.01
    tol = 1e-12
    est = ClusteredRegressor(alpha=alpha, beta=beta, n_clusters=T, ridge=ridge,
                             tol=tol).fit(X, y, tasks=tasks)
    assert np.abs(est.cluster_matrix_ - np.eye(T)).max() <= spectral_rounding(T)
    np.testing.assert_array_equal(est.clusters_, np.arange(T))
    expected = np.empty_like(est.coef_)
    condition = 1.0
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        Xc, yc = Xt - Xt.mean(axis=0), yt - yt.mean()
        ct = 1.0 / len(yt)
        A = ct * Xc.T @ Xc + 2 * (beta + ridge) * np.eye(Xt.shape[1])
        expected[t] = np.linalg.solve(A, ct * Xc.T @ yc)
        condition = max(condition, np.linalg.cond(A))
        # the intercept that is optimal for the fitted w_t, a closed form (means and a
        # dot product: the rounding of their terms' size)
        mean_x = Xt.mean(axis=0)
        assert abs(est.intercept_[t] - (yt.mean() - mean_x @ est.coef_[t])) <= rounding(
            np.abs(yt).mean() + np.abs(mean_x) @ np.abs(est.coef_[t]))
    mu = 2 * (beta + ridge)
    gap = est.dual_gap_ + rounding(est.objective_)  # the objective's rounding
    # expected: a solve, exact to its condition number times the rounding
    solve_rounding = condition * rounding(np.linalg.norm(expected))
    assert np.linalg.norm(est.coef_ - expected) <= np.sqrt(2 * gap / mu) + solve_rounding
    # converged, the bound is sharp
    assert_converged(est, tol)
    assert np.sqrt(2 * gap / mu) + solve_rounding <= 1e-5 * np.linalg.norm(expected)


def test_one_cluster():
    Xs, ys = _clustered_tasks(3, False)
    X, y, tasks = stack_tasks(Xs, ys)
    alpha, beta = 0.3, 0.07
    est = ClusteredRegressor(alpha=alpha, beta=beta, n_clusters=1, tol=1e-10).fit(X, y,
                                                                                   tasks=tasks)
    T = len(Xs)
    np.testing.assert_array_equal(est.clusters_, np.zeros(T, dtype=int))
    eta, _ = _constants(alpha, beta)
    _, _, kappa = _water_filling(est.coef_.T, eta, 1)
    assert abs(np.trace(est.cluster_matrix_) - 1.0) <= spectral_rounding(T) * (1 + eta) * kappa
    eig = np.linalg.eigvalsh(est.cluster_matrix_)
    assert eig.min() >= -spectral_rounding(T) and eig.max() <= 1 + spectral_rounding(T)


# -- planted clusters and the hard assignment ---------------------------------------------------

# Recovery from the generators' data with fixed seeds: thresholds with large margins.
# Measured: adjusted Rand index 1.0 in all three fits; ||M - P||_2 = 0.058 and 0.097
# (seeds 0, 1) against 0.2 (a top-3 eigenspace within 1/2 of P's is what spectral
# clustering needs).  A fit's variation across BLAS kernels is bounded by its
# certified gap (tol = 1e-6: ||W - W*|| of order 1e-3), far inside those margins.

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
def test_more_clusters_than_tasks_is_one_cluster_per_task(Est):
    """tr M = k needs k <= n_tasks; a larger n_clusters means one cluster per task
    (M = I), the same fit as n_clusters = n_tasks, reported in n_clusters_; the
    default n_clusters=2 on a single task fits (scikit-learn's checks use one)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] > 0).astype(float)
    single = Est().fit(X, y)
    assert single.n_clusters_ == 1 and single.clusters_.tolist() == [0]
    tasks = np.repeat(np.arange(3), 10)
    many = Est(n_clusters=4, tol=1e-12).fit(X, y, tasks=tasks)
    each = Est(n_clusters=3, tol=1e-12).fit(X, y, tasks=tasks)
    assert many.n_clusters_ == 3 and np.array_equal(many.coef_, each.coef_)
    assert many.clusters_.tolist() == [0, 1, 2]


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
    # the same operations on the same data in one process: bitwise equal
    np.testing.assert_array_equal(first.clusters_, second.clusters_)
    np.testing.assert_array_equal(first.coef_, second.coef_)
    assert first.objective_ == second.objective_

    warm = Est(alpha=0.1, beta=0.02, tol=1e-10, warm_start=True).fit(X, y, tasks=tasks)
    n_cold = warm.n_iter_
    warm.fit(X, y, tasks=tasks)
    assert warm.converged_
    # the first gap check (every 10 iterations) passes: measured at 0.2 (squared) and
    # 0.002 (logistic) of the threshold
    assert n_cold > 10 and warm.n_iter_ <= 10
    # both within their certified gaps above the same optimum
    assert_same_optimum(warm.objective_, warm.dual_gap_, first.objective_, first.dual_gap_)
    np.testing.assert_array_equal(warm.clusters_, first.clusters_)


# -- plotting -----------------------------------------------------------------------------------

def test_plot_task_clusters_draws_M_in_cluster_order(plt):
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
    np.testing.assert_array_equal(rows, np.cumsum(sizes)[:-1] - 0.5)  # halves: exact


def test_plot_task_matrix_orders_and_validates(plt):
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


def test_plot_task_matrix_takes_python_lists(plt):
    from mtlreg.plotting import plot_task_matrix

    ax = plot_task_matrix([[1.0, 0.5], [0.5, 1.0]], ["a", "b"], colorbar=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


# -- array API ----------------------------------------------------------------------------------

@pytest.mark.parametrize("device_name, dtype_name", [
    pytest.param("CPU_DEVICE", "float64", id="cpu-float64"),
    pytest.param("device1", "float32", id="device1-float32"),
])
def test_regressor_follows_the_input_namespace(device_name, dtype_name):
    """The NumPy model, to the certified gaps and the rounding of the dtype.

    Objectives: both fits are within their gaps above the optimum of the same
    problem, with data and objective sums rounded in the dtype: ``n eps F(0, b0)``
    for sums of ``n`` (the number of samples) terms of total size ``F(0, b0)``.
    ``M``: here a projector (eigenvalues 0 and 1) onto the top ``k`` eigenvectors of
    ``G = W^T W``, so Davis-Kahan bounds ``||M - M_ref||_2 <= e / (delta - e)`` with
    ``delta`` the eigengap of ``G_ref`` after the ``k``-th eigenvalue and ``e`` the
    Grams' difference plus ``eigh``'s rounding in the dtype."""
    xps = import_array_api_strict()
    data = make_multitask_regression(n_tasks=6, n_samples=30, n_features=5,
                                     structure="clustered", n_clusters=2, noise=0.1,
                                     random_state=5)
    k = 2
    ref = ClusteredRegressor(alpha=0.1, beta=0.02, n_clusters=k, tol=1e-10).fit(
        data.X, data.y, tasks=data.tasks)
    dev = xps.Device(device_name)
    dtype = getattr(xps, dtype_name)
    with sklearn.config_context(array_api_dispatch=True):
        Xa = xps.asarray(data.X, dtype=dtype, device=dev)
        ya = xps.asarray(data.y, dtype=dtype, device=dev)
        est = ClusteredRegressor(alpha=0.1, beta=0.02, n_clusters=k, tol=1e-10).fit(
            Xa, ya, tasks=data.tasks)
        assert est.coef_.device == dev and est.coef_.dtype == dtype
        assert est.cluster_matrix_.device == dev and est.cluster_matrix_.dtype == dtype
        assert est.clusters_.device == dev
    T = len(ref.tasks_)
    ys = [data.y[data.tasks == t] for t in range(T)]
    F0 = objective_at_zero(ys, loss="squared")
    assert_same_optimum(est.objective_, est.dual_gap_, ref.objective_, ref.dual_gap_,
                        slack=sum_rounding(len(data.y), F0, dtype_name))

    M, M_ref = np.asarray(to_numpy(est.cluster_matrix_), dtype=float), ref.cluster_matrix_
    for matrix, dtype_of in ((M, dtype_name), (M_ref, np.float64)):  # projectors, to rounding
        m = np.linalg.eigvalsh(matrix)
        assert np.all((np.abs(m) <= spectral_rounding(T, dtype_of))
                      | (np.abs(m - 1) <= spectral_rounding(T, dtype_of)))
        assert np.sum(m > 0.5) == k
    W = np.asarray(to_numpy(est.coef_), dtype=float).T
    G, G_ref = W.T @ W, ref.coef_ @ ref.coef_.T
    lam = np.linalg.eigvalsh(G_ref)
    delta = lam[-k] - lam[-k - 1]
    e = (np.linalg.norm(G - G_ref, 2)
         + (spectral_rounding(T, dtype_name) + spectral_rounding(T)) * np.linalg.norm(G_ref, 2))
    assert e < delta / 2
    assert np.linalg.norm(M - M_ref, 2) <= e / (delta - e) + spectral_rounding(T, dtype_name)
    np.testing.assert_array_equal(to_numpy(est.clusters_), ref.clusters_)


def test_many_tasks_fit_without_a_tasks_by_tasks_matrix():
    """With more tasks than features the term, its gap and the readouts work on the
    features' side and on ``M``'s factors: the fit allocates less than one
    ``T x T`` float64 matrix (tracemalloc), ``clusters_`` are those of the dense
    ``cluster_matrix_`` (built on request), and ``cluster_factors_`` hold ``r <= d``
    orthonormal columns."""
    from benchmarks.suites.memory import traced_peak
    from mtlreg.clustering import cluster_tasks

    rng = np.random.default_rng(21)
    T, n_t, d, k = 1500, 6, 5, 3
    centers = rng.standard_normal((k, d))
    W = centers[rng.integers(0, k, T)] + 0.1 * rng.standard_normal((T, d))
    X = rng.standard_normal((T * n_t, d))
    tasks = np.repeat(np.arange(T), n_t)
    y = np.einsum("nd,nd->n", X, W[tasks]) + 0.1 * rng.standard_normal(T * n_t)
    est = ClusteredRegressor(alpha=0.1, beta=0.1, n_clusters=k, max_iter=200)
    problem = est.prepare(X, y, tasks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the readouts matter here
        est.fit_problem(problem)  # warm-up: imports, caches
        peak = traced_peak(lambda: est.fit_problem(problem))
    assert peak < 8 * T * T
    V, m, rest = est.cluster_factors_
    assert V.shape[0] == T and V.shape[1] <= d and m.shape == (V.shape[1],)
    np.testing.assert_allclose(V.T @ V, np.eye(V.shape[1]), atol=spectral_rounding(T))
    np.testing.assert_array_equal(est.clusters_, cluster_tasks(est.cluster_matrix_, k))
