"""Task-relation family: MTRL (learned task covariance) and a known task graph.

``W = coef_.T`` is ``n_features x n_tasks``; ``Omega`` is ``n_tasks x
n_tasks``, ``Omega >= 0``, ``tr Omega = 1``.  MTRL's penalty is
``alpha * min_Omega tr(W Omega^-1 W^T) = alpha * ||W||_*^2``; the graph
penalty is ``alpha * sum_{a<b} A_ab ||w_a - w_b||^2 (+ beta ||W||_1)``.

Every reference is computed independently here: the Omega-step by
``scipy.linalg.sqrtm``, the minimum over Omega by its closed form
``(tr M^1/2)^2`` and by random feasible Omegas, CVXPY solutions of the full
problems (the squared nuclear norm through DCP, and the SDP over Omega with
``matrix_frac``; the graph term written edge by edge), scikit-learn's
per-task LinearRegression / LogisticRegression / Lasso, and the planted
signs of the synthetic generators.
"""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
import scipy.linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression

from mtlreg import (
    GraphClassifier,
    GraphRegressor,
    MeanRegularizedClassifier,
    MeanRegularizedRegressor,
    RelationClassifier,
    RelationRegressor,
    alpha_max,
    stack_tasks,
)
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties.graph import GraphQuadratic, graph_laplacian
from mtlreg.relation import mean_regularized_as_graph
from mtlreg.penalties.quadratic import MetricQuadratic
from mtlreg.penalties.trace import TaskSquaredTraceNorm

from certificates import (EPS, assert_same_optimum, assert_same_solution, assert_stopping_rule,
                          distance_between, rounding, spectral_rounding, split_tasks,
                          sum_rounding,
                          squared_loss_certificate, task_weights)
from cvxpy_reference import TOLERANCES, assert_matches_reference, solve_reference

cp = pytest.importorskip("cvxpy")


# -- independent references ---------------------------------------------------------------------

def _omega_closed_form(coef, eps):
    """``(W^T W + eps I)^1/2 / tr(...)`` with ``W = coef.T``, by scipy's sqrtm."""
    M = coef @ coef.T + eps * np.eye(coef.shape[0])
    root = np.real(scipy.linalg.sqrtm(M))
    return root / np.trace(root)


def _nuclear(coef):
    return np.linalg.svd(coef, compute_uv=False).sum()


def _random_omega(rng, T):
    """A random feasible task covariance: positive definite, trace 1."""
    Q = np.linalg.qr(rng.standard_normal((T, T)))[0]
    lam = rng.dirichlet(np.full(T, 0.5)) + 1e-9
    return (Q * (lam / lam.sum())) @ Q.T


def _tasks(seed, logistic, sizes=(15, 25, 10, 20), d=5):
    rng = np.random.default_rng(seed)
    Xs = [rng.standard_normal((n, d)) for n in sizes]
    W = rng.standard_normal((d, len(sizes)))
    zs = [X @ W[:, t] + 0.5 * rng.standard_normal(len(X)) + 0.3 for t, X in enumerate(Xs)]
    ys = [np.where(z > 0, 1.0, -1.0) for z in zs] if logistic else zs
    return Xs, ys


def _loss_terms(Xs, ys, W, b, loss_scaling, logistic):
    terms = []
    for t, (X, y) in enumerate(zip(Xs, ys)):
        c = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        z = X @ W[:, t] + b[t]
        terms.append(c * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                          else 0.5 * cp.sum_squares(y - z)))
    return sum(terms)


def _solve(objective, constraints=(), exact=None, tolerances=TOLERANCES):
    return solve_reference(cp.Problem(cp.Minimize(objective), list(constraints)), exact,
                           tolerances)


def _cvxpy_mtrl(Xs, ys, alpha, ridge, loss_scaling, logistic, form="nuclear"):
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    fit = _loss_terms(Xs, ys, W, b, loss_scaling, logistic) + ridge * cp.sum_squares(W)
    # square(.) is increasing on the non-negative normNuc: DCP
    nuclear = fit + alpha * cp.square(cp.normNuc(W))
    if form == "nuclear":
        return _solve(nuclear)
    # the SDP over the task covariance: tr(W Omega^-1 W^T) = matrix_frac(W^T, Omega).  Its
    # reported value can land below the optimum (Omega slightly infeasible); the reference
    # is the objective in W re-evaluated at its solution (the squared nuclear norm is the
    # minimum over Omega in closed form).  (The SDP is harder for Clarabel: it may call 1e-8
    # "inaccurate" and 1e-7 optimal.)
    Omega = cp.Variable((T, T), symmetric=True)
    return _solve(fit + alpha * cp.matrix_frac(W.T, Omega), [cp.trace(Omega) == 1, Omega >> 0],
                  exact=nuclear, tolerances=TOLERANCES)


def _cvxpy_graph(Xs, ys, graph_term, alpha, beta, ridge, loss_scaling, logistic):
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    objective = (_loss_terms(Xs, ys, W, b, loss_scaling, logistic) + alpha * graph_term(W)
                 + beta * cp.sum(cp.abs(W)) + ridge * cp.sum_squares(W))
    return _solve(objective)


# -- the Omega-step ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 3), (3, 6)])  # W^T W rank deficient / full rank
@pytest.mark.parametrize("eps", [1e-1, 1e-6])
def test_omega_step_is_the_closed_form(shape, eps):
    rng = np.random.default_rng(0)
    coef = rng.standard_normal(shape)  # W = coef.T: tasks are rows of coef
    U, lam = TaskSquaredTraceNorm(xp, 0.7).auxiliary_step(coef, eps)
    Omega = (U * lam) @ U.T
    np.testing.assert_allclose(Omega, _omega_closed_form(coef, eps), atol=1e-12)
    assert np.trace(Omega) == pytest.approx(1.0, abs=1e-12)
    assert lam.min() > 0


def test_perturbed_term_at_the_omega_step_is_its_minimum():
    """``min_{Omega feasible} tr(Omega^-1 (W^T W + eps I)) = (tr (W^T W + eps I)^1/2)^2``,
    attained at the Omega-step; the penalty's W-step term plus its
    perturbation give that value; no random feasible Omega does better, and
    the step lowers the objective from a non-optimal Omega."""
    rng = np.random.default_rng(1)
    alpha, eps = 0.8, 1e-3
    coef = rng.standard_normal((5, 3))
    T = coef.shape[0]
    M = coef @ coef.T + eps * np.eye(T)
    pen = TaskSquaredTraceNorm(xp, alpha)
    aux = pen.auxiliary_step(coef, eps)
    U, lam = aux

    def perturbed(Omega):
        return alpha * np.trace(np.linalg.solve(Omega, M))

    minimum = alpha * np.sum(np.sqrt(np.linalg.eigvalsh(M))) ** 2
    Omega_star = (U * lam) @ U.T
    assert perturbed(Omega_star) == pytest.approx(minimum, rel=1e-12)
    mine = float(pen.step_penalty(aux).value(coef)) + pen.perturbation(aux, eps)
    assert mine == pytest.approx(minimum, rel=1e-12)
    for _ in range(300):
        assert perturbed(_random_omega(rng, T)) >= minimum * (1 - 1e-12)
    # one Omega-step from a non-optimal Omega lowers the (perturbed) objective
    Omega0 = np.diag([0.5, 0.2, 0.1, 0.1, 0.1])
    assert perturbed(Omega0) > 1.01 * perturbed(Omega_star)


@pytest.mark.parametrize("shape", [(5, 3), (3, 6)])
def test_unperturbed_term_tends_to_the_squared_trace_norm(shape):
    rng = np.random.default_rng(2)
    alpha = 0.3
    coef = rng.standard_normal(shape)
    pen = TaskSquaredTraceNorm(xp, alpha)
    target = alpha * _nuclear(coef) ** 2
    assert float(pen.value(coef)) == pytest.approx(target, rel=1e-12)
    errors = []
    for eps in 10.0 ** -np.arange(2, 14, 2):
        U, lam = pen.auxiliary_step(coef, eps)
        Omega = (U * lam) @ U.T
        value = alpha * np.trace(coef.T @ np.linalg.solve(Omega, coef))  # tr(W Omega^-1 W^T)
        assert value >= target * (1 - 1e-12)  # the minimum over Omega is ||W||_*^2
        errors.append(value / target - 1)
    assert all(b <= a + 1e-14 for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-5  # O(sqrt(eps)) when W^T W is singular, O(eps) otherwise


def test_task_metric_quadratic_value_and_prox():
    rng = np.random.default_rng(3)
    T, d, alpha, ridge, step = 4, 3, 0.6, 0.2, 0.7
    Q = np.linalg.qr(rng.standard_normal((T, T)))[0]
    Omega = (Q * [0.4, 0.3, 0.2, 0.1]) @ Q.T  # well conditioned, trace 1
    lam, U = np.linalg.eigh(Omega)
    pen = MetricQuadratic(xp, alpha, U, lam, ridge=ridge, over_tasks=True)
    coef = rng.standard_normal((T, d))
    W = coef.T
    inv = np.linalg.inv(Omega)
    expected = alpha * np.trace(W @ inv @ W.T) + ridge * np.sum(W * W)
    assert float(pen.value(coef)) == pytest.approx(expected, rel=1e-12)
    # prox: (I + 2 s alpha Omega^-1 + 2 s ridge I) coef_new = coef
    A = np.eye(T) * (1 + 2 * step * ridge) + 2 * step * alpha * inv
    np.testing.assert_allclose(pen.prox(coef, step), np.linalg.solve(A, coef), atol=1e-12)


# -- MTRL: the full problem ----------------------------------------------------------------------

@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, ridge", [("mean", 0.0), ("sum", 0.0), ("mean", 0.05)])
def test_relation_matches_cvxpy(logistic, loss_scaling, ridge):
    Xs, ys = _tasks(4, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    scale = 1.0 if loss_scaling == "mean" else 16.0
    alpha = 0.05 * scale
    Est = RelationClassifier if logistic else RelationRegressor
    est = Est(alpha=alpha, ridge=ridge * scale, loss_scaling=loss_scaling,
              tol=1e-10).fit(X, y, tasks=tasks)
    reference = _cvxpy_mtrl(Xs, ys, alpha, ridge * scale, loss_scaling, logistic)
    assert est.converged_
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


@pytest.mark.parametrize("logistic", [False, True])
def test_relation_matches_the_sdp_over_the_task_covariance(logistic):
    """The penalty as MTRL writes it, minimized jointly over ``Omega`` by CVXPY."""
    Xs, ys = _tasks(5, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    alpha = 0.1
    Est = RelationClassifier if logistic else RelationRegressor
    est = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    reference = _cvxpy_mtrl(Xs, ys, alpha, 0.0, "mean", logistic, form="sdp")
    assert est.converged_
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


def _alternating_problem():
    return make_multitask_regression(n_tasks=6, n_samples=30, n_features=8, structure="related",
                                     noise=0.5, task_std=1.0, random_state=1)


def _descends(history):
    """The perturbed objective ``J_eps`` (4th column) never increases, to rounding."""
    J = history[:, 3]
    return np.all(np.diff(J) <= [rounding(v) for v in J[1:]])


def test_alternating_solver_reaches_the_fista_optimum_when_it_is_full_rank(monkeypatch):
    """alpha small: the optimal W has full rank (6 tasks, 8 features) and the
    paper's scheme converges to the certified FISTA optimum (measured: 1e-13
    relative).  Asserted: both certificates hold against each other, the
    alternating fit is within its tol of the optimum (what ``converged_``
    means), and the coefficients within the distance that strong convexity
    gives from the two gaps."""
    data = _alternating_problem()
    alpha = 1e-3
    exact = RelationRegressor(alpha=alpha, tol=1e-12).fit(data.X, data.y, tasks=data.tasks)
    s = np.linalg.svd(exact.coef_, compute_uv=False)
    assert s[-1] > 0.02 * s[0]  # full rank, well away from the boundary
    alt = RelationRegressor(alpha=alpha, solver="alternating").fit(data.X, data.y,
                                                                    tasks=data.tasks)
    assert alt.converged_
    assert _descends(np.array(alt.solution_.history))
    # both report a certified gap, and it bounds their suboptimality: each objective
    # within its own gap above the other, and the coefficients (with the intercepts)
    # within the distance the squared loss's curvature gives the gaps (the mean squared
    # loss in (W, b) is strongly convex: min_t lambda_min([X_t 1]^T [X_t 1] / n_t))
    assert alt.dual_gap_ is not None and exact.dual_gap_ is not None
    slack = rounding(exact.objective_)
    Xs, ys = split_tasks(data.X, data.tasks), split_tasks(data.y, data.tasks)
    assert_same_solution(alt, exact, Xs, ys, loss="squared", weights=task_weights(ys),
                         excess=(alt.dual_gap_, exact.dual_gap_), slack=slack,
                         coefficients=True, point_rounding=slack)
    lower = exact.objective_ - exact.dual_gap_  # certified lower bound on the optimum
    assert alt.objective_ - lower <= alt.tol * alt.objective_


def test_alternating_solver_descends_where_the_optimum_is_rank_deficient(monkeypatch):
    """alpha = 0.01 on the same data: the optimal W has rank 5 of 6 and the
    eps-perturbed scheme creeps (measured: 5.3e-5 relative above the optimum
    after 60 outer iterations; 2.5e-5 when its change criterion stops it,
    after 532).  Still: the perturbed objective never
    increases, it lies above the unperturbed one, the objective stays above
    the certified optimum and the gap bounds the distance to it."""
    data = _alternating_problem()
    alpha = 1e-2
    exact = RelationRegressor(alpha=alpha, tol=1e-12).fit(data.X, data.y, tasks=data.tasks)
    s = np.linalg.svd(exact.coef_, compute_uv=False)
    assert s[-1] < 1e-10 * s[0] < s[-2]  # the optimum is rank deficient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alt = RelationRegressor(alpha=alpha, solver="alternating", max_iter=60).fit(
            data.X, data.y, tasks=data.tasks)
    history = np.array(alt.solution_.history)
    assert len(history) == alt.n_iter_
    assert _descends(history)
    # J_eps >= objective: the perturbation is non-negative
    assert np.all(history[:, 3] >= history[:, 1] - [rounding(v) for v in history[:, 1]])
    # the last recorded objective, re-evaluated on the raw data by the estimator
    assert abs(history[-1, 1] - alt.objective_) <= rounding(alt.objective_)
    assert alt.objective_ < history[0, 1]  # it made progress
    # the objective stays above the certified optimum, and the gap bounds the distance
    # to it (certified both ways)
    assert_same_optimum(alt.objective_, alt.dual_gap_, exact.objective_, exact.dual_gap_,
                        rounding(exact.objective_))


# -- planted relations -------------------------------------------------------------------------

def _check_task_matrices(est):
    C, R = est.task_covariance_, est.task_correlation_
    np.testing.assert_allclose(C, C.T, atol=1e-14)
    assert np.linalg.eigvalsh(C).min() > 0
    assert np.trace(C) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(np.diag(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(R, C / np.sqrt(np.outer(np.diag(C), np.diag(C))), atol=1e-14)
    # the documented Omega_eps with eps = epsilon * sigma_max(W)^2
    eps = est.epsilon * np.linalg.norm(est.coef_, 2) ** 2
    np.testing.assert_allclose(C, _omega_closed_form(est.coef_, eps), atol=1e-10)


@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_planted_signs_are_recovered_in_regression(alpha):
    data = make_multitask_regression(n_tasks=12, n_samples=40, n_features=8, structure="related",
                                     n_groups=2, noise=0.1, random_state=0)
    assert set(data.signs) == {-1, 1}
    np.testing.assert_array_equal(data.signs, np.where(data.groups % 2 == 0, 1, -1))
    est = RelationRegressor(alpha=alpha).fit(data.X, data.y, tasks=data.tasks)
    _check_task_matrices(est)
    np.testing.assert_array_equal(np.sign(est.task_correlation_),
                                  np.outer(data.signs, data.signs))


def test_planted_signs_are_recovered_in_classification():
    data = make_multitask_classification(n_tasks=12, n_samples=40, n_features=8,
                                         structure="related", n_groups=2, random_state=0)
    assert set(data.signs) == {-1, 1}
    # alpha = 0.03 recovers every sign on seeds 0..2 (measured; at 0.01 one pair misses)
    est = RelationClassifier(alpha=0.03).fit(data.X, data.y, tasks=data.tasks)
    _check_task_matrices(est)
    np.testing.assert_array_equal(np.sign(est.task_correlation_),
                                  np.outer(data.signs, data.signs))


# -- graph: penalty conventions ----------------------------------------------------------------

def test_graph_penalty_counts_each_unordered_edge_once():
    rng = np.random.default_rng(6)
    labels = np.array(["a", "b", "c"])
    coef = rng.standard_normal((3, 4))  # rows w_a, w_b, w_c
    alpha = 0.4

    def penalty(graph):
        L = graph_laplacian(graph, labels)
        return GraphQuadratic(xp, alpha, L).value(coef)

    expected = alpha * 2.0 * np.sum((coef[0] - coef[1]) ** 2)
    assert penalty([("a", "b", 2.0)]) == pytest.approx(expected, rel=1e-12)
    assert penalty([("b", "a", 2.0)]) == pytest.approx(expected, rel=1e-12)
    # repeated edges add up, in either orientation; self-loops count nothing
    assert penalty([("a", "b", 1.5), ("b", "a", 0.5), ("c", "c", 9.0)]) == pytest.approx(
        expected, rel=1e-12)
    assert penalty([("a", "b")]) == pytest.approx(expected / 2, rel=1e-12)  # unit weight
    # graph=None: the complete graph, alpha * T * sum_t ||w_t - mean||^2
    spread = np.sum((coef - coef.mean(axis=0)) ** 2)
    assert penalty(None) == pytest.approx(alpha * 3 * spread, rel=1e-12)
    with pytest.warns(UserWarning, match="non-zero diagonal, which is ignored"):
        ones = graph_laplacian(np.ones((3, 3)), labels)
    np.testing.assert_allclose(graph_laplacian(None, labels).toarray(), ones.toarray(), atol=0)
    # incidence R: alpha ||W R||_F^2
    R = rng.standard_normal((3, 2))
    L = graph_laplacian(R, labels, "incidence")
    assert GraphQuadratic(xp, alpha, L).value(coef) == pytest.approx(
        alpha * np.sum((coef.T @ R) ** 2), rel=1e-12)
    # the gradient 2 alpha L coef against central differences
    value, grad = GraphQuadratic(xp, alpha, L, ridge=0.3).value_and_grad(coef)
    E = rng.standard_normal(coef.shape)
    h = 1e-6
    q = GraphQuadratic(xp, alpha, L, ridge=0.3)
    numeric = (q.value(coef + h * E) - q.value(coef - h * E)) / (2 * h)
    assert np.sum(grad * E) == pytest.approx(numeric, rel=1e-7)


def _string_tasks(seed, logistic):
    """Four tasks labelled c, a, d, b in the data (sorted order a, b, c, d)."""
    Xs, ys = _tasks(seed, logistic)
    names = ["c", "a", "d", "b"]
    X, y, index = stack_tasks(Xs, ys)
    tasks = np.array(names)[index]
    order = np.argsort(names)  # position of a, b, c, d in Xs
    return [Xs[i] for i in order], [ys[i] for i in order], X, y, tasks


_EDGES = [("a", "b", 1.0), ("c", "b", 0.5), ("a", "c", 2.0), ("d", "b", 0.3)]


def _laplacian(edges, names="abcd"):
    """``sum_edges w (e_a - e_b)(e_a - e_b)^T``: ``tr(W L W^T) = sum w ||w_a - w_b||^2``."""
    L = np.zeros((len(names), len(names)))
    for a, b, w in edges:
        e = np.zeros(len(names))
        e[names.index(a)], e[names.index(b)] = 1.0, -1.0
        L += w * np.outer(e, e)
    return L


def _adjacency(edges, names="abcd"):
    A = np.zeros((len(names), len(names)))
    for a, b, w in edges:
        i, j = names.index(a), names.index(b)
        A[i, j] += w
        A[j, i] += w
    return A


def test_fitted_objective_and_laplacian_follow_the_convention():
    """objective_ = sum_t 1/n_t * 1/2 ||y_t - X_t w_t - b_t||^2 + alpha * 2 ||w_a - w_b||^2
    for the one-edge graph [(a, b, 2.0)], computed here from coef_ and intercept_."""
    Xs, ys, X, y, tasks = _string_tasks(7, False)
    alpha = 0.2
    est = GraphRegressor(alpha=alpha, graph=[("a", "b", 2.0)]).fit(X, y, tasks=tasks)
    assert est.tasks_.tolist() == ["a", "b", "c", "d"]
    expected_L = np.zeros((4, 4))
    expected_L[:2, :2] = [[2.0, -2.0], [-2.0, 2.0]]
    np.testing.assert_allclose(est.laplacian_.toarray(), expected_L, atol=0)
    W, b = est.coef_, est.intercept_
    loss = sum(0.5 * np.mean((yt - Xt @ W[t] - b[t]) ** 2) for t, (Xt, yt) in
               enumerate(zip(Xs, ys)))
    assert est.objective_ == pytest.approx(loss + alpha * 2.0 * np.sum((W[0] - W[1]) ** 2),
                                           rel=1e-10)
    # the same edge listed twice adds up to the same model
    twice = GraphRegressor(alpha=alpha, graph=[("a", "b", 1.0), ("b", "a", 1.0)]).fit(
        X, y, tasks=tasks)
    np.testing.assert_allclose(twice.coef_, est.coef_, atol=1e-12)
    np.testing.assert_allclose(twice.laplacian_.toarray(), est.laplacian_.toarray(), atol=0)


def test_laplacian_attribute_and_graph_none():
    Xs, ys, X, y, tasks = _string_tasks(8, False)
    A = _adjacency(_EDGES)
    est = GraphRegressor(alpha=0.3, graph=A).fit(X, y, tasks=tasks)
    np.testing.assert_allclose(est.laplacian_.toarray(), np.diag(A.sum(axis=1)) - A, atol=0)
    # graph=None is the complete graph with unit weights (the diagonal is ignored)
    none = GraphRegressor(alpha=0.3, tol=1e-12).fit(X, y, tasks=tasks)
    with pytest.warns(UserWarning, match="graph_format='incidence'"):
        complete = GraphRegressor(alpha=0.3, graph=np.ones((4, 4)), tol=1e-12).fit(X, y,
                                                                                  tasks=tasks)
    np.testing.assert_allclose(none.laplacian_.toarray(), 4 * np.eye(4) - np.ones((4, 4)),
                               atol=0)
    np.testing.assert_allclose(none.coef_, complete.coef_, atol=1e-10)
    W = none.coef_
    loss = sum(0.5 * np.mean((yt - Xt @ W[t] - none.intercept_[t]) ** 2) for t, (Xt, yt) in
               enumerate(zip(Xs, ys)))
    spread = np.sum((W - W.mean(axis=0)) ** 2)
    assert none.objective_ == pytest.approx(loss + 0.3 * 4 * spread, rel=1e-10)


# -- graph: the full problem against CVXPY -----------------------------------------------------

@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("graph_format", ["adjacency", "edges", "incidence"])
@pytest.mark.parametrize("loss_scaling, ridge, beta", [
    ("mean", 0.0, 0.0), ("sum", 0.0, 0.02), ("mean", 0.05, 0.0), ("sum", 0.05, 0.02)])
def test_graph_matches_cvxpy(logistic, graph_format, loss_scaling, ridge, beta):
    Xs, ys, X, y, tasks = _string_tasks(9, logistic)
    if graph_format == "incidence":
        graph = np.random.default_rng(10).standard_normal((4, 3))  # a generic R

        def term(W):
            return cp.sum_squares(W @ graph)
    else:
        graph = _adjacency(_EDGES) if graph_format == "adjacency" else list(_EDGES)

        def term(W):  # each unordered edge once, columns in sorted label order
            return sum(w * cp.sum_squares(W[:, "abcd".index(a)] - W[:, "abcd".index(b)])
                       for a, b, w in _EDGES)
    scale = 1.0 if loss_scaling == "mean" else 16.0
    alpha, beta, ridge = 0.1 * scale, beta * scale, ridge * scale
    Est = GraphClassifier if logistic else GraphRegressor
    est = Est(alpha=alpha, beta=beta, ridge=ridge, graph=graph, loss_scaling=loss_scaling,
              tol=1e-10).fit(X, y, tasks=tasks)
    reference = _cvxpy_graph(Xs, ys, term, alpha, beta, ridge, loss_scaling, logistic)
    assert est.converged_
    # every setting is certified (issue 17): without the L1 term through the quadratic's
    # conjugate (with ridge) or its conjugate on the Laplacian's range (the loss's dual
    # point moved there); with it, the quadratic as a squared loss of W
    assert est.dual_gap_ is not None
    assert_matches_reference(est.objective_, est.dual_gap_, reference)
    if not logistic:
        # the squared loss's independent bound (strong convexity, tests/certificates.py)
        # agrees that the fit is within tol of the optimum
        M = graph @ graph.T if graph_format == "incidence" else _laplacian(_EDGES)
        d = Xs[0].shape[1]
        weights = [1.0 / len(yt) if loss_scaling == "mean" else 1.0 for yt in ys]
        bound = squared_loss_certificate(
            Xs, ys, est.coef_, est.intercept_, weights=weights, l1=beta,
            quadratic=2 * alpha * np.kron(M, np.eye(d)) + 2 * ridge * np.eye(4 * d)
        ).suboptimality
        slack = rounding(est.objective_, reference.upper)
        assert est.objective_ - reference.upper <= bound + slack  # the bound is sound
        assert bound <= est.tol * est.objective_ + slack


# -- graph without edges: independent tasks ----------------------------------------------------

@pytest.mark.parametrize("graph, alpha", [(np.zeros((4, 4)), 5.0), ([], 5.0), (None, 0.0)],
                         ids=["zero-adjacency", "no-edges", "alpha-0"])
def test_no_edges_gives_independent_least_squares(graph, alpha):
    Xs, ys, X, y, tasks = _string_tasks(11, False)
    est = GraphRegressor(alpha=alpha, graph=graph, tol=1e-12).fit(X, y, tasks=tasks)
    if graph is not None:
        np.testing.assert_allclose(est.laplacian_.toarray(), 0, atol=0)
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        ref = LinearRegression().fit(Xt, yt)
        # both points are within their certified distance of the per-task least squares
        ours, theirs = (squared_loss_certificate([Xt], [yt], c[None, :], [b], weights=[1.0])
                        for c, b in ((est.coef_[t], est.intercept_[t]),
                                     (ref.coef_, ref.intercept_)))
        gap = np.linalg.norm(np.r_[est.coef_[t] - ref.coef_, est.intercept_[t] - ref.intercept_])
        assert gap <= ours.distance + theirs.distance
        # without edges the graph term is 0 and the fit is certified (issue 17): task
        # t's excess (weights 1) is at most n_t dual_gap_, and the loss is mu-strongly
        # convex, so the fit lies within sqrt(2 n_t dual_gap_ / mu) of the optimum
        assert est.converged_ and theirs.distance <= 1e-8
        assert gap <= np.sqrt(2 * len(yt) * est.dual_gap_ / ours.mu) + theirs.distance


@pytest.mark.parametrize("graph, alpha", [(np.zeros((3, 3)), 3.0), (None, 0.0)],
                         ids=["zero-adjacency", "alpha-0"])
def test_no_edges_gives_independent_logistic_regressions(graph, alpha):
    rng = np.random.default_rng(12)
    Xs = [rng.standard_normal((n, 3)) for n in (60, 80, 50)]
    # noisy labels: not separable, so the unpenalized MLE exists
    ys = [np.where(X @ [1.0, -0.5, 0.3] + 0.2 + rng.standard_normal(len(X)) > 0, 1, 0)
          for X in Xs]
    X, y, tasks = stack_tasks(Xs, ys)
    est = GraphClassifier(alpha=alpha, graph=graph, tol=1e-12).fit(X, y, tasks=tasks)
    # certified: each task is its own component of the (empty) graph term (issue 17)
    assert est.converged_ and est.dual_gap_ is not None
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12,
                                 max_iter=1000).fit(Xt, yt)
        # a bound on their distance from both gradients and the curvature between them
        ours = np.r_[est.coef_[t], est.intercept_[t]]
        theirs = np.r_[ref.coef_[0], ref.intercept_[0]]
        bound = distance_between([Xt], [2.0 * yt - 1.0], (est.coef_[t], [est.intercept_[t]]),
                                 (ref.coef_[0], ref.intercept_), loss="logistic", weights=[1.0])
        assert np.linalg.norm(ours - theirs) <= bound
        assert bound <= 1e-6  # and both are that close to the maximum likelihood estimate


@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_no_edges_with_l1_gives_a_lasso_per_task(loss_scaling):
    Xs, ys, X, y, tasks = _string_tasks(13, False)
    beta = 0.1 if loss_scaling == "mean" else 2.0
    est = GraphRegressor(alpha=5.0, graph=[], beta=beta, loss_scaling=loss_scaling,
                         tol=1e-12).fit(X, y, tasks=tasks)
    n_zero = 0
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        # sklearn: 1/(2n) ||y - Xw - b||^2 + a ||w||_1
        a = beta if loss_scaling == "mean" else beta / len(yt)
        ref = Lasso(alpha=a, tol=1e-14, max_iter=100_000).fit(Xt, yt)
        # both within their certified distance of the task's Lasso (strong convexity)
        c = 1.0 / len(yt) if loss_scaling == "mean" else 1.0
        ours, theirs = (squared_loss_certificate([Xt], [yt], w[None, :], [b], weights=[c],
                                                 l1=beta)
                        for w, b in ((est.coef_[t], est.intercept_[t]),
                                     (ref.coef_, ref.intercept_)))
        gap = np.linalg.norm(np.r_[est.coef_[t] - ref.coef_, est.intercept_[t] - ref.intercept_])
        assert gap <= ours.distance + theirs.distance
        assert ours.distance <= 1e-7 and theirs.distance <= 1e-7  # both converged
        n_zero += int(np.sum(ref.coef_ == 0))
    assert n_zero > 0  # the L1 term is active somewhere


# -- bad graph input -----------------------------------------------------------------------------

def _three_tasks():
    Xs, ys = _tasks(14, False, sizes=(10, 12, 9), d=3)
    X, y, index = stack_tasks(Xs, ys)
    return X, y, np.array(["x", "y", "z"])[index]


@pytest.mark.parametrize("kwargs, match", [
    (dict(graph=[("x", "y"), ("y", "w"), ("q", "x", 2.0)]), r"not among the fitted.*'q'.*'w'"),
    (dict(graph=np.eye(4) * 0 + 1, graph_format="adjacency"), r"3 x 3.*\(4, 4\)"),
    (dict(graph=np.ones((4, 4))), r"shape \(4, 4\) for 3 tasks: an adjacency must be 3 x 3"),
    (dict(graph=np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0.0]])), "symmetric"),
    (dict(graph=np.array([[0, -1, 0], [-1, 0, 1], [0, 1, 0.0]])), "negative"),
    (dict(graph=np.array([[0, np.nan, 0], [np.nan, 0, 1], [0, 1, 0]])), "NaN"),
    (dict(graph=[("x", "y", float("nan"))]), r"weight nan.*finite"),
    (dict(graph=[("x", "y", -1.0)]), r"weight -1.0.*>= 0"),
    (dict(graph=np.ones((2, 3)), graph_format="incidence"), r"one row per task.*\(2, 3\)"),
    (dict(graph=[("x", "y", 1.0, 5)]), "each edge must be"),
    (dict(graph_format="matrix"), "graph_format"),
    (dict(graph=np.zeros((3, 3, 3))), r"2-D matrix or a list of edges.*\(3, 3, 3\)"),
    (dict(graph=np.zeros(3)), r"2-D matrix or a list of edges.*\(3,\)"),
])
def test_bad_graph_input_raises_a_clear_error(kwargs, match):
    X, y, tasks = _three_tasks()
    with pytest.raises(ValueError, match=match):
        GraphRegressor(**kwargs).fit(X, y, tasks=tasks)


# -- plotting ------------------------------------------------------------------------------------

def test_plot_task_correlation_draws_the_matrix_with_task_labels():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtlreg.plotting import plot_task_correlation, plot_task_matrix

    Xs, ys, X, y, tasks = _string_tasks(15, False)
    est = RelationRegressor(alpha=0.05).fit(X, y, tasks=tasks)
    try:
        ax = plot_task_correlation(est)
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()),
                                      est.task_correlation_)
        assert ax.images[0].get_clim() == (-1.0, 1.0)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c", "d"]
        order = [2, 0, 3, 1]
        ax2 = plot_task_matrix(est.task_covariance_, est.tasks_, order=order)
        np.testing.assert_array_equal(np.asarray(ax2.images[0].get_array()),
                                      est.task_covariance_[np.ix_(order, order)])
        assert [t.get_text() for t in ax2.get_xticklabels()] == ["c", "a", "d", "b"]
    finally:
        plt.close("all")


# -- warm start ---------------------------------------------------------------------------------

@pytest.mark.parametrize("Est, kwargs, a1, a2", [
    (RelationRegressor, {}, 0.05, 0.04),
    (RelationClassifier, {}, 0.02, 0.015),
    (GraphRegressor, dict(graph=_adjacency(_EDGES)), 0.05, 0.04),
    (GraphClassifier, dict(graph=_adjacency(_EDGES), beta=0.01), 0.02, 0.015),
])
def test_warm_start_reaches_the_cold_solution_faster(Est, kwargs, a1, a2):
    logistic = Est in (RelationClassifier, GraphClassifier)
    Xs, ys, X, y, tasks = _string_tasks(16, logistic)
    cold = Est(alpha=a2, tol=1e-9, **kwargs).fit(X, y, tasks=tasks)
    warm = Est(alpha=a1, tol=1e-9, warm_start=True, **kwargs).fit(X, y, tasks=tasks)
    warm.set_params(alpha=a2).fit(X, y, tasks=tasks)
    assert warm.converged_ and cold.converged_
    if cold.dual_gap_ is not None:  # MTRL, and the graph regressor (issue 17)
        # both within their certified gaps of the optimum, hence of each other
        assert_same_optimum(warm.objective_, warm.dual_gap_, cold.objective_, cold.dual_gap_)
    else:
        # no certificate (the graph classifier with beta > 0): the distance between the two points
        # that the curvature between them allows (certificates.distance_between)
        T, d = cold.coef_.shape
        bound = assert_same_solution(
            warm, cold, Xs, ys, loss="logistic" if logistic else "squared",
            weights=task_weights(ys), l1=kwargs.get("beta", 0.0),
            quadratic=2 * a2 * np.kron(_laplacian(_EDGES), np.eye(d)))
        assert bound <= 1e-5  # both converged to tol=1e-9 in the gradient mapping
    # refitting at the solution: the solver stops at its first check
    n_cold = cold.n_iter_
    cold.set_params(warm_start=True).fit(X, y, tasks=tasks)
    assert cold.n_iter_ < n_cold


def test_warm_start_with_the_alternating_solver():
    """The warm-started alternating fit reaches the cold one's solution, as far as
    their certificates tell: that solver stops on a change rule, which bounds
    neither fit's distance to the optimum, so both are compared with a FISTA fit
    whose certified gap is at rounding level, and each reports converged_ only
    where its own certified gap meets the stopping rule (a change-rule stop
    above it warns).  It is not asserted to be faster: the eps continuation
    restarts at ``sigma_max(W)^2`` on every fit (a refit from the solution took
    161 outer iterations against 162 cold, measured)."""
    Xs, ys, X, y, tasks = _string_tasks(16, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = RelationRegressor(alpha=8e-4, solver="alternating", tol=1e-9).fit(
            X, y, tasks=tasks)
        warm = RelationRegressor(alpha=1e-3, solver="alternating", tol=1e-9,
                                 warm_start=True).fit(X, y, tasks=tasks)
        warm.set_params(alpha=8e-4).fit(X, y, tasks=tasks)
    exact = RelationRegressor(alpha=8e-4, tol=1e-12).fit(X, y, tasks=tasks)
    assert exact.converged_
    for fit in (cold, warm):
        assert_stopping_rule(fit.converged_, fit.dual_gap_, fit.objective_, fit.tol,
                             objective_rounding=rounding(fit.objective_))
    slack = rounding(exact.objective_)
    for fit in (cold, warm):  # each within its certified gap above the optimum
        assert_same_optimum(fit.objective_, fit.dual_gap_, exact.objective_, exact.dual_gap_,
                            slack)
    # hence the two agree within the larger of their certified gaps
    assert abs(warm.objective_ - cold.objective_) <= max(warm.dual_gap_, cold.dual_gap_) + \
        exact.dual_gap_ + slack


def test_a_change_rule_stop_above_the_certified_tol_is_not_convergence():
    """Rank-deficient optimum: the change rule settles while the certified gap is
    still above tol * objective; that stop warns and reports converged_=False
    (it used to report True)."""
    data = _alternating_problem()
    with pytest.warns(ConvergenceWarning, match="settled.*certified duality gap.*above tol.*not certified"):
        alt = RelationRegressor(alpha=1e-2, solver="alternating", max_iter=3000).fit(
            data.X, data.y, tasks=data.tasks)
    assert not alt.converged_ and alt.n_iter_ < alt.max_iter
    assert alt.dual_gap_ > alt.tol * alt.objective_


# -- a task of one class under the graph: it keeps its w_t in the graph term -----------------------

def test_one_class_task_keeps_its_coefficients_in_the_graph_term():
    """Task "b" has one class: its loss vanishes as b_b -> +inf, whatever w_b is, so
    the problem is the others' losses plus the graph term over all four w_t.  The
    graph pulls w_b towards its neighbours (it is not 0), objective_ is that
    problem's objective at the returned coefficients, and it is certified
    against CVXPY (ridge > 0: the quadratic's conjugate gives the gap)."""
    Xs, ys, X, y, tasks = _string_tasks(9, True)
    y = np.where(tasks == "b", 1.0, y)
    ys[1] = np.ones_like(ys[1])  # "b" is the second task in sorted order
    alpha, ridge = 0.1, 0.05

    def term(W):
        return sum(w * cp.sum_squares(W[:, "abcd".index(a)] - W[:, "abcd".index(b)])
                   for a, b, w in _EDGES)

    others = [0, 2, 3]
    reference = _solve_one_class_graph(Xs, ys, others, term, alpha, ridge)
    est = GraphClassifier(alpha=alpha, ridge=ridge, graph=list(_EDGES), tol=1e-10).fit(
        X, y, tasks=tasks)
    assert est.converged_ and est.dual_gap_ is not None
    assert np.abs(est.coef_[1]).max() > 0.01  # pulled towards its neighbours
    assert est.intercept_[1] == pytest.approx(np.log(1 / np.finfo(float).eps))
    W = est.coef_.T
    formula = sum(np.mean(np.logaddexp(0.0, -ys[t] * (Xs[t] @ W[:, t] + est.intercept_[t])))
                  for t in others)
    formula += alpha * sum(w * np.sum((W[:, "abcd".index(a)] - W[:, "abcd".index(b)]) ** 2)
                           for a, b, w in _EDGES) + ridge * np.sum(W ** 2)
    assert abs(est.objective_ - formula) <= rounding(formula)
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


def _solve_one_class_graph(Xs, ys, others, term, alpha, ridge):
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(ys[t], Xs[t] @ W[:, t] + b[t]))) / len(ys[t])
               for t in others)
    return _solve(loss + alpha * term(W) + ridge * cp.sum_squares(W))


# -- ADMM splits the squared loss from the graph quadratic (issue 16, item 3) ---------------------

@pytest.mark.parametrize("step", [0.3, np.array([0.1, 1.0, 7.0])])
def test_graph_quadratic_prox_is_its_optimality_condition(step):
    """``Z = prox_{step g}(V)`` solves ``Z - V + step grad g(Z) = 0``, with a step per
    feature (column) too: g is a sum over the features."""
    rng = np.random.default_rng(0)
    L = graph_laplacian([(0, 1), (1, 2, 2.0), (3, 0)], np.arange(4))
    term = GraphQuadratic(xp, 0.7, L, ridge=0.2)
    V = rng.standard_normal((4, 3))
    Z = term.prox(V, step)
    residual = Z - V + np.asarray(step) * term.value_and_grad(Z)[1]
    # eigh's backward error (a few n eps ||Q||) through (I + 2 step Q)^-1, and the sums
    bound = sum_rounding(64, (1.0 + 2.0 * np.max(step) * term.lipschitz()) * np.abs(V).max())
    assert np.abs(residual).max() <= bound


def _badly_scaled_graph_problem():
    rng = np.random.default_rng(4)
    T, d, n = 5, 4, 30
    scales = np.array([1e-2, 1.0, 10.0, 1e2])
    Xs = [rng.standard_normal((n, d)) * scales for _ in range(T)]
    w = rng.standard_normal(d) / scales
    ys = [X @ (w + 0.3 * rng.standard_normal(d) / scales) + rng.standard_normal(n) for X in Xs]
    return Xs, ys


def test_graph_regressor_on_badly_scaled_features_converges_by_admm():
    """Feature scales 1e-2 to 1e2 (curvatures 1e-4 to 1e4), default parameters: ADMM
    in feature-scaled variables certifies tol within the default max_iter, and its
    objective is within the certified gap of the optimum of the normal equations
    (the objective is a quadratic: solved here by a dense linear solve)."""
    Xs, ys = _badly_scaled_graph_problem()
    X, y, tasks = stack_tasks(Xs, ys)
    est = GraphRegressor(tol=1e-9).fit(X, y, tasks=tasks)
    assert est.converged_ and est.solution_.raw.solver == "admm"
    T, d = len(Xs), Xs[0].shape[1]
    L = graph_laplacian(None, np.arange(T))
    H = np.kron(2.0 * L.toarray(), np.eye(d))  # alpha = 1: 2 alpha (L kron I)
    b = np.zeros(T * d)
    const = 0.0
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        Xc, yc = Xt - Xt.mean(0), yt - yt.mean()
        H[t * d:(t + 1) * d, t * d:(t + 1) * d] += Xc.T @ Xc / len(yt)
        b[t * d:(t + 1) * d] = Xc.T @ yc / len(yt)
        const += 0.5 * yc @ yc / len(yt)
    D = np.sqrt(np.diag(H))  # Jacobi scaling: the solve's error follows cond(H / D D^T)
    Hs = H / np.outer(D, D)
    ws = np.linalg.solve(Hs, b / D)
    optimum = const - 0.5 * (b / D) @ ws
    # the solve's backward error (n eps relative) amplified by cond(Hs), on b.w
    solve_error = sum_rounding(64 * T * d, np.linalg.cond(Hs) * abs((b / D) @ ws))
    assert_same_optimum(est.objective_, est.dual_gap_, optimum, 0.0,
                        slack=rounding(optimum) + solve_error)


def _sparse_chain_problem(scales, seed=6):
    """Six tasks on a chain, ten features of the given scales, four of them relevant."""
    rng = np.random.default_rng(seed)
    T, d, n = 6, 10, 40
    base = np.zeros(d)
    base[:4] = rng.standard_normal(4)
    Xs = [rng.standard_normal((n, d)) * scales for _ in range(T)]
    ys = [X @ ((base + 0.2 * rng.standard_normal(d) * (base != 0)) / scales)
          + 0.5 * rng.standard_normal(n) for X in Xs]
    return Xs, ys, [(t, t + 1) for t in range(T - 1)]


def test_graph_l1_splits_three_ways_on_badly_scaled_features():
    """``beta > 0`` on the Gram path: ADMM splits the loss, the L1 term and the graph
    quadratic (``W = V = Z``), in feature-scaled variables (curvatures from 1e-4 to
    1e4); its certified gap bounds the distance to an independent CVXPY solve."""
    from dataclasses import replace

    from mtlreg.problem import solve

    scales = np.logspace(-2, 2, 10)
    Xs, ys, edges = _sparse_chain_problem(scales)
    X, y, tasks = stack_tasks(Xs, ys)
    beta = 0.05 * alpha_max(X, y, tasks, estimator=GraphRegressor(graph=edges), param="beta")
    est = GraphRegressor(alpha=0.1, beta=beta, graph=edges)
    problem = est.prepare(X, y, tasks)
    split = solve(problem, replace(est.get_objective(problem), solver="admm"), tol=1e-9,
                  max_iter=20000)
    assert split.converged and split.raw.solver == "admm"

    def term(W):
        return sum(cp.sum_squares(W[:, a] - W[:, b]) for a, b in edges)

    reference = _cvxpy_graph(Xs, ys, term, 0.1, beta, 0.0, "mean", False)
    assert_matches_reference(split.objective, split.dual_gap, reference)


def test_graph_l1_solver_follows_the_feature_scales():
    """``solver="auto"`` with ``beta > 0`` on the Gram path: FISTA alone when the
    features' curvature scales span at most a factor 10; on badly scaled features FISTA
    first and the three-way split after 500 iterations.  The small sparse chain problems
    certify within FISTA's 500 (with scales 1e-2 to 1e2 the split alone took 81 to 431
    iterations where FISTA took 10 to 90, a review found); raw School (scales 0.07 to
    15, ``beta = 0.01``) goes on to the split and converges at the default
    ``max_iter``."""
    from mtlreg.datasets import load_school
    from mtlreg.problem import _badly_scaled, solver_inputs

    for scales, badly in ((np.ones(10), False), (np.logspace(-2, 2, 10), True)):
        Xs, ys, edges = _sparse_chain_problem(scales)
        X, y, tasks = stack_tasks(Xs, ys)
        beta = 0.05 * alpha_max(X, y, tasks, estimator=GraphRegressor(graph=edges),
                                param="beta")
        est = GraphRegressor(alpha=0.1, beta=beta, graph=edges)
        problem = est.prepare(X, y, tasks)
        datafit = solver_inputs(problem, est.get_objective(problem))[0]
        assert _badly_scaled(datafit.inner) is badly
        assert est.fit(X, y, tasks=tasks).solution_.raw.solver == "fista"  # within 500
    school = load_school()
    est = GraphRegressor(alpha=1.0, beta=0.01).fit(school.X, school.y, tasks=school.tasks)
    assert est.converged_ and est.solution_.raw.solver == "fista, then admm"


def _certified_at_its_point(problem, objective, solution, tol):
    """The solver's reported objective and gap are those of the point it returns, and
    that gap meets ``tol``."""
    from mtlreg.problem import solver_inputs
    from mtlreg.solvers import duality_gap

    fit, penalty, _, _ = solver_inputs(problem, objective)
    raw = solution.raw
    state = fit.state(raw.coef, None)
    assert raw.objective == float(fit.value(raw.coef, None, state) + penalty.value(raw.coef))
    assert raw.dual_gap == duality_gap(fit, penalty, raw.coef, None, state)
    assert raw.dual_gap <= tol * raw.objective


def test_graph_l1_admm_returns_the_optimum_zeros():
    """ADMM certifies before its L1 iterate has found every zero of the solution; the
    proximal-gradient steps that follow set them when their point certifies too
    (standardized School with ``beta=0.1``: 139 exact zeros without them, 1,248 with
    them, as FISTA).  On a problem whose solution has a clear KKT margin (every zero
    entry's gradient at most 90% of ``beta``, checked here on a tight FISTA solve), the
    zero pattern ADMM returns at the default ``tol`` is the optimum's, and the point
    returned is the one its gap certifies."""
    from dataclasses import replace

    from mtlreg.problem import solve, solver_inputs

    Xs, ys, edges = _sparse_chain_problem(np.ones(10), seed=5)
    X, y, tasks = stack_tasks(Xs, ys)
    beta = 0.4 * alpha_max(X, y, tasks, estimator=GraphRegressor(graph=edges), param="beta")
    est = GraphRegressor(alpha=0.1, beta=beta, graph=edges)
    problem = est.prepare(X, y, tasks)
    objective = replace(est.get_objective(problem), solver="admm")
    split = solve(problem, objective, tol=1e-6)
    assert split.converged and split.raw.solver == "admm"
    _certified_at_its_point(problem, objective, split, 1e-6)
    tight = solve(problem, replace(objective, solver="fista"), tol=1e-13, max_iter=100000)
    assert tight.converged
    fit, _, _, _ = solver_inputs(problem, objective)  # the solver's own inputs
    W = tight.raw.coef
    grad = fit.value_and_grad(W, None, fit.state(W, None))[1]
    zero = W == 0
    assert 0 < zero.sum() < zero.size
    assert np.max(np.abs(grad[zero])) <= 0.9 * beta  # the margin the claim rests on
    np.testing.assert_array_equal(split.raw.coef == 0, zero)


def test_graph_l1_admm_keeps_its_point_when_the_polished_one_does_not_certify():
    """Raw School, ``beta = 0.01``: the proximal-gradient steps after ADMM lower the
    objective, but their points' gaps stay far above ``tol`` (the features' scales
    span 0.07 to 15), so ADMM's own certified point is returned, with its gap."""
    from mtlreg.datasets import load_school

    school = load_school()
    est = GraphRegressor(alpha=1.0, beta=0.01).fit(school.X, school.y, tasks=school.tasks)
    assert est.converged_ and est.solution_.raw.solver == "fista, then admm"
    problem = est.prepare(school.X, school.y, school.tasks)
    _certified_at_its_point(problem, est.get_objective(problem), est.solution_, est.tol)


def test_graph_l1_admm_warm_start_at_the_solution_stays_there():
    """The split's scaled duals start at ``U_W = -grad F' / rho``, ``U_V = (grad F' +
    grad g') / rho``: with ``Z_0`` optimal that is a fixed point, so from a solve
    certified to ``1e-12`` a refit at ``tol=1e-6`` is certified at ADMM's first check
    (10 iterations).  With the duals at 0 the iterates first move away from the start."""
    from dataclasses import replace

    from mtlreg.problem import solve

    Xs, ys, edges = _sparse_chain_problem(np.logspace(-2, 2, 10))
    X, y, tasks = stack_tasks(Xs, ys)
    beta = 0.05 * alpha_max(X, y, tasks, estimator=GraphRegressor(graph=edges), param="beta")
    est = GraphRegressor(alpha=0.1, beta=beta, graph=edges)
    problem = est.prepare(X, y, tasks)
    objective = replace(est.get_objective(problem), solver="admm")
    first = solve(problem, objective, tol=1e-12, max_iter=20000)
    assert first.converged
    again = solve(problem, objective, start=first, tol=1e-6)
    k, value, gap = again.history[0]  # ADMM's first check (proximal-gradient steps may follow)
    assert again.converged and k == 10 and gap <= 1e-6 * value
    # the steps that follow stay within max_iter
    assert solve(problem, objective, start=first, tol=1e-6, max_iter=10).n_iter == 10


# -- many tasks: factored covariance, sparse and closed-form graphs (issue 18) ------------------

def _many_small_tasks(seed, T, n_t, d):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(d) + 0.3 * rng.standard_normal((T, d))
    X = rng.standard_normal((T * n_t, d))
    tasks = np.repeat(np.arange(T), n_t)
    y = np.einsum("nd,nd->n", X, W[tasks]) + 0.1 * rng.standard_normal(T * n_t)
    return X, y, tasks


def _fit_traced(est, X, y, tasks):
    """Peak of the memory allocated by a fit (tracemalloc), after an untraced warm-up."""
    from benchmarks.suites.memory import traced_peak

    problem = est.prepare(X, y, tasks)
    est.fit_problem(problem)  # warm-up: imports, caches, compiled kernels
    return traced_peak(lambda: est.fit_problem(problem))


def test_relation_keeps_the_task_covariance_factored():
    """More tasks than features: the fit allocates less than one ``T x T`` float64
    matrix; ``task_covariance_factors_`` hold ``r <= d`` orthonormal columns, and the
    dense ``task_covariance_`` built on request is the documented ``Omega_eps`` (its
    eigenvalues are ``m`` on ``V`` and ``rest`` elsewhere, trace 1)."""
    T, n_t, d = 1500, 6, 5
    X, y, tasks = _many_small_tasks(31, T, n_t, d)
    est = RelationRegressor(alpha=0.05)
    peak = _fit_traced(est, X, y, tasks)
    assert peak < 8 * T * T
    assert est.converged_
    V, m, rest = est.task_covariance_factors_
    assert V.shape == (T, d) and m.shape == (d,)
    np.testing.assert_allclose(V.T @ V, np.eye(d), atol=spectral_rounding(T))
    # the documented Omega_eps = R / tr R with R^2 = M = W^T W + eps I: C^2 tr(M) / tr(C^2)
    # = M (squaring is well conditioned, unlike a dense square root at eps's level)
    s_max = np.linalg.norm(est.coef_, 2)
    M = est.coef_ @ est.coef_.T + est.epsilon * s_max**2 * np.eye(T)
    C = est.task_covariance_
    C2 = C @ C
    np.testing.assert_allclose(C2 * (np.trace(M) / np.trace(C2)), M, rtol=0,
                               atol=spectral_rounding(T) * np.abs(M).max())
    assert np.trace(C) == pytest.approx(1.0, abs=spectral_rounding(T))


def _ring(T):
    return [(t, (t + 1) % T) for t in range(T)]


def test_graph_on_a_sparse_ring_of_many_tasks_stays_sparse():
    """``T`` above the eigendecomposition's limit: the ring's Laplacian stays sparse
    (``3 T`` entries in ``laplacian_``; the fit allocates less than one ``T x T``
    matrix) and the fit reaches the optimum of the normal equations, solved here by
    a sparse direct solve of the ``T d x T d`` system, to its certified gap."""
    from scipy.sparse import block_diag, identity, kron
    from scipy.sparse.linalg import spsolve

    from mtlreg.penalties.graph import EIGEN_LIMIT

    T, n_t, d, alpha = EIGEN_LIMIT + 500, 6, 3, 0.5
    X, y, tasks = _many_small_tasks(32, T, n_t, d)
    est = GraphRegressor(alpha=alpha, graph=_ring(T), tol=1e-10)
    peak = _fit_traced(est, X, y, tasks)
    assert peak < 8 * T * T
    assert est.converged_ and est.laplacian_.nnz == 3 * T
    Xs = [X[tasks == t] for t in range(T)]
    ys = [y[tasks == t] for t in range(T)]
    Xc = [Xt - Xt.mean(0) for Xt in Xs]
    yc = [yt - yt.mean() for yt in ys]
    H = block_diag([A.T @ A / n_t for A in Xc]) + kron(2 * alpha * est.laplacian_, identity(d))
    b = np.concatenate([A.T @ v / n_t for A, v in zip(Xc, yc)])
    w = spsolve(H.tocsc(), b)
    optimum = 0.5 * sum(v @ v / n_t for v in yc) - 0.5 * b @ w
    # the direct solve's residual r = H w - b, measured: b.w - b.w* = w*.r, and
    # ||w*|| <= ||w|| + ||r|| / lambda_min(H), lambda_min(H) >= min_t lambda_min(Gc_t / n_t)
    residual = np.linalg.norm(H @ w - b)
    lam_min = min(np.linalg.eigvalsh(A.T @ A / n_t).min() for A in Xc)
    slack = rounding(optimum) + residual * (np.linalg.norm(w) + residual / lam_min)
    assert_same_optimum(est.objective_, est.dual_gap_, optimum, 0.0, slack=slack)


@pytest.mark.parametrize("Est", [GraphRegressor, GraphClassifier])
def test_complete_graph_of_many_tasks_in_closed_form(Est):
    """``graph=None`` above the eigendecomposition's limit: no ``T x T`` matrix in the
    fit (the complete graph's closed form), a certified fit, and ``laplacian_`` built
    when read."""
    from mtlreg.penalties.graph import EIGEN_LIMIT

    T, n_t, d = EIGEN_LIMIT + 500, 6, 3
    X, y, tasks = _many_small_tasks(33, T, n_t, d)
    if Est is GraphClassifier:
        y = (y > np.median(y)).astype(int)
    est = Est(alpha=1e-3, tol=1e-8)
    peak = _fit_traced(est, X, y, tasks)
    assert peak < 8 * T * T
    assert est.converged_ and est.dual_gap_ <= 1e-8 * max(1.0, abs(est.objective_))
    np.testing.assert_array_equal(est.laplacian_.toarray(), T * np.eye(T) - np.ones((T, T)))


def _components_graph():
    """Weighted edges over 9 tasks: a triangle, a path of 3 and an edge, and an isolated
    task (4 connected components)."""
    return [(0, 1, 0.5), (1, 2, 2.0), (0, 2, 1.0), (3, 4, 1.5), (4, 5, 0.7), (6, 7, 3.0)]


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_sparse_laplacian_form_against_the_pseudo_inverse(ridge):
    """The sparse form on a graph with several components and an isolated task: value and
    gradient, the conjugate ``tr(V^T Q^+ V) / 4`` (on the range of ``L`` when ``ridge =
    0``, after projecting ``V`` there) against NumPy's pseudo-inverse of the dense ``Q``,
    the null space against the components' indicators, and a Lipschitz constant at
    least ``2 (alpha lambda_max(L) + ridge)``."""
    rng = np.random.default_rng(40)
    T, d, alpha = 9, 4, 0.8
    L = graph_laplacian(_components_graph(), np.arange(T))
    term = GraphQuadratic(xp, alpha, L, ridge=ridge, sparse=True)
    assert type(term.form).__name__ == "_Sparse" and not term.has_prox
    dense = L.toarray()
    coef, V = rng.standard_normal((T, d)), rng.standard_normal((T, d))
    value, grad = term.value_and_grad(coef)
    Q = alpha * dense + ridge * np.eye(T)
    assert abs(value - np.sum(coef * (Q @ coef))) <= sum_rounding(
        T * d, np.sum(np.abs(coef) * (np.abs(Q) @ np.abs(coef))))
    np.testing.assert_allclose(grad, 2 * Q @ coef, rtol=0, atol=sum_rounding(T, np.abs(
        2 * Q).sum(1).max() * np.abs(coef).max()))
    N = np.asarray(term.null_space)
    assert N.shape == (T, 4)
    np.testing.assert_allclose(N.T @ N, np.eye(4), atol=sum_rounding(T, 1.0))
    np.testing.assert_allclose(dense @ N, 0.0, atol=sum_rounding(T, np.abs(dense).max()))
    lam = np.linalg.eigvalsh(dense)
    assert term.lipschitz() >= 2 * (alpha * lam[-1] + ridge) * (1 - 1e-12)
    if ridge:
        conj, expected = term.conjugate(V), np.sum(V * np.linalg.solve(Q, V)) / 4
    else:
        Vr = V - N @ (N.T @ V)
        conj, expected = term.range_conjugate(Vr), np.sum(Vr * (np.linalg.pinv(Q) @ Vr)) / 4
    # both solves are backward stable: relative errors of cond(Q) eps, with a margin
    lam_range = lam[lam > 1e-9]
    cond = (alpha * lam[-1] + ridge) / (alpha * lam_range[0] + ridge)
    assert conj == pytest.approx(expected, rel=64 * T * cond * np.finfo(float).eps)


def test_graph_laplacian_of_a_sparse_adjacency_leaves_it_unchanged():
    """A SciPy sparse adjacency gives the Laplacian of its dense copy, the same warning
    for a non-zero diagonal and the same errors, and the caller's matrix is unchanged."""
    from scipy import sparse

    labels = np.arange(4)
    A = np.array([[1.0, 2.0, 0.0, 0.0], [2.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.5],
                  [0.0, 0.0, 0.5, 0.0]])
    given = sparse.csr_matrix(A)
    before = (given.data.copy(), given.indices.copy(), given.indptr.copy())
    with pytest.warns(UserWarning, match="non-zero diagonal"):
        L = graph_laplacian(given, labels)
    for now, then in zip((given.data, given.indices, given.indptr), before):
        np.testing.assert_array_equal(now, then)
    off = A - np.diag(np.diag(A))
    np.testing.assert_array_equal(L.toarray(), np.diag(off.sum(1)) - off)
    with pytest.raises(ValueError, match="must be symmetric"):
        graph_laplacian(sparse.csr_matrix(np.triu(off)), labels)
    with pytest.raises(ValueError, match="negative weights"):
        graph_laplacian(sparse.csr_matrix(-off), labels)


def test_graph_classifier_on_standardized_landmine_certifies_despite_extrapolation():
    """FISTA's jumps to extrapolated points reset its momentum.  Taken on any decrease of
    the objective, they kept this strongly coupled fit (the complete graph, ``alpha=1``,
    29 tasks) from certifying ``tol`` in the default 5,000 iterations; plain FISTA
    certifies it (2,610 iterations in one run).  With the jump rule it certifies, and
    its gap is the one of the point returned."""
    from sklearn.preprocessing import StandardScaler

    from mtlreg.datasets import load_landmine

    data = load_landmine()
    X = StandardScaler().fit_transform(data.X)
    est = GraphClassifier(alpha=1.0).fit(X, data.y, tasks=data.tasks)
    assert est.converged_ and est.dual_gap_ <= est.tol * est.objective_


# -- mean-regularized MTL (Evgeniou & Pontil 2004) -----------------------------------------------

@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, alpha, beta, ridge", [
    ("mean", 0.3, 0.05, 0.0), ("sum", 2.0, 0.5, 0.1), ("mean", 0.3, 0.0, 0.0)])
def test_mean_regularized_matches_cvxpy(logistic, loss_scaling, alpha, beta, ridge):
    """The docstring's objective over ``w_0``, ``V`` and ``b`` (CVXPY, every variable
    free) against the fit's certified gap; the fitted ``coef_shared_`` minimizes
    ``alpha sum_t ||w_t - w_0||^2 + beta ||w_0||^2`` for the fitted ``W`` (its gradient
    in ``w_0`` vanishes), so the penalty evaluated on the two fitted parts is the
    one of the optimum."""
    Xs, ys, X, y, tasks = _string_tasks(21, logistic)
    Est = MeanRegularizedClassifier if logistic else MeanRegularizedRegressor
    est = Est(alpha=alpha, beta=beta, ridge=ridge, loss_scaling=loss_scaling,
              tol=1e-10).fit(X, y, tasks=tasks)
    assert est.converged_ and est.dual_gap_ is not None
    d, T = Xs[0].shape[1], len(Xs)
    w0, V, b = cp.Variable(d), cp.Variable((d, T)), cp.Variable(T)
    W = cp.reshape(w0, (d, 1), order="F") @ np.ones((1, T)) + V
    reference = _solve(_loss_terms(Xs, ys, W, b, loss_scaling, logistic)
                       + alpha * cp.sum_squares(V) + beta * cp.sum_squares(w0)
                       + ridge * cp.sum_squares(W))
    assert_matches_reference(est.objective_, est.dual_gap_, reference)
    coef, shared = est.coef_, est.coef_shared_
    np.testing.assert_array_equal(est.coef_specific_, coef - shared)
    # d/dw_0 [alpha sum_t ||w_t - w_0||^2 + beta ||w_0||^2] = 0 at w_0 = coef_shared_
    grad = -2 * alpha * np.sum(coef - shared, axis=0) + 2 * beta * shared
    scale = 2 * (alpha * T + beta) * np.max(np.abs(coef)) + 1e-300
    assert np.max(np.abs(grad)) <= 8 * T * EPS * scale


def test_mean_regularized_is_the_complete_graph_with_mapped_parameters():
    """``min_{w_0} alpha sum_t ||w_t - w_0||^2 + beta ||w_0||^2 + ridge ||W||^2`` is the
    complete graph's ``alpha' sum_{a<b} ||w_a - w_b||^2 + ridge' ||W||^2`` with
    ``alpha' = alpha^2 / (alpha T + beta)``, ``ridge' = ridge + alpha beta / (alpha T +
    beta)`` (:func:`mean_regularized_as_graph`): the two penalties agree on random
    ``W`` to rounding, and the two estimators reach the same solution within their
    certified gaps."""
    rng = np.random.default_rng(3)
    T, d, alpha, beta, ridge = 5, 4, 0.7, 0.2, 0.05
    a, r = mean_regularized_as_graph(alpha, beta, T, ridge)
    assert (a, r) == pytest.approx((alpha**2 / (alpha * T + beta),
                                    ridge + alpha * beta / (alpha * T + beta)), rel=1e-15)
    for _ in range(3):
        W = rng.standard_normal((T, d))  # rows are tasks, as coef_
        w0 = alpha * T * W.mean(axis=0) / (alpha * T + beta)
        mean_reg = (alpha * np.sum((W - w0) ** 2) + beta * np.sum(w0**2)
                    + ridge * np.sum(W**2))
        graph = (a * sum(np.sum((W[i] - W[j]) ** 2) for i in range(T) for j in range(i))
                 + r * np.sum(W**2))
        assert graph == pytest.approx(mean_reg, rel=64 * T * d * EPS)
    Xs, ys, X, y, tasks = _string_tasks(22, False)
    a, r = mean_regularized_as_graph(alpha, beta, len(Xs), ridge)
    mean_fit = MeanRegularizedRegressor(alpha=alpha, beta=beta, ridge=ridge,
                                        tol=1e-12).fit(X, y, tasks=tasks)
    graph_fit = GraphRegressor(graph=None, alpha=a, ridge=r, tol=1e-12).fit(X, y, tasks=tasks)
    assert mean_fit.converged_ and graph_fit.converged_
    assert_same_optimum(mean_fit.objective_, mean_fit.dual_gap_, graph_fit.objective_,
                        graph_fit.dual_gap_)


@pytest.mark.parametrize("alpha, beta", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5)])
def test_mean_regularized_shared_model_at_the_limits(alpha, beta):
    """``beta = 0``: ``w_0`` is the mean of the task models (nothing shrinks it);
    ``alpha = 0``: the tasks are independent and ``w_0 = 0``; both zero: any ``w_0`` is
    optimal, and 0 is reported."""
    _, _, X, y, tasks = _string_tasks(23, False)
    est = MeanRegularizedRegressor(alpha=alpha, beta=beta, ridge=0.01).fit(X, y, tasks=tasks)
    expected = est.coef_.mean(axis=0) if alpha > 0 else np.zeros(est.coef_.shape[1])
    np.testing.assert_array_equal(est.coef_shared_, expected)
