"""Decomposition family ``W = P + Q``: the new penalties (L1,inf and the per-task
L2 norm), the six two-part estimators, their reductions to single-part models,
``alpha_max`` for the new norms, and outlier-task recovery.

Every reference is computed independently here: an L1-ball projection by
bisection (for the Moreau identity of the L1,inf prox), closed-form group soft
thresholding, CVXPY solutions of the full two-part problems, KKT conditions
with gradients written in NumPy, and the planted structure of the synthetic
generators.
"""

import copy
import dataclasses

import array_api_compat.numpy as xp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mtlreg import (DirtyClassifier, DirtyRegressor, L21Classifier, L21Regressor,
                    LassoClassifier, LassoRegressor, RMTFLClassifier, RMTFLRegressor,
                    RobustClassifier, RobustRegressor, TraceClassifier, TraceRegressor,
                    alpha_max, stack_tasks)
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties import L1Inf, TaskL2
from mtlreg.penalties.linf import l1_ball_threshold

from certificates import (EPS, Point, as_point, assert_converged, assert_same_solution,
                          rounding, sum_rounding, task_weights)
from problems import two_part_tasks as _tasks
from cvxpy_reference import assert_matches_reference, solve_reference
from conftest import import_array_api_strict

cp = pytest.importorskip("cvxpy")

# Entrywise comparisons: a quantity computed from sums of n terms of magnitude at most
# size and a few further operations (a threshold, a row norm, a scaling) is exact to
# sum_rounding(16 n, size): the sum's n eps size, and 16 for the rest.


# -- independent references ---------------------------------------------------------------------

def l1_ball_shrinkage(v, radius, n_bisect=200):
    """theta with sum_t max(|v_t| - theta, 0) = radius (0 if ||v||_1 <= radius), by
    bisection on [0, max |v|]: the left side decreases in theta."""
    a = np.abs(v)
    if a.sum() <= radius:
        return 0.0
    lo, hi = 0.0, a.max()
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        if np.maximum(a - mid, 0.0).sum() > radius:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def project_l1_balls(V, radius):
    """Projection of each column of V (one feature across tasks) onto the L1 ball."""
    out = np.empty_like(V)
    for j in range(V.shape[1]):
        theta = l1_ball_shrinkage(V[:, j], radius)
        out[:, j] = np.sign(V[:, j]) * np.maximum(np.abs(V[:, j]) - theta, 0.0)
    return out


def project_row_l2_balls(V, radius):
    """Projection of each row of V (one task's model) onto the L2 ball."""
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return V * np.minimum(1.0, radius / np.where(norms > 0, norms, 1.0))


def row_soft_threshold(V, tau):
    """Group soft thresholding of each row (task) by tau."""
    out = np.zeros_like(V)
    for t in range(V.shape[0]):
        nrm = np.linalg.norm(V[t])
        if nrm > tau:
            out[t] = (1.0 - tau / nrm) * V[t]
    return out


# norms on coef of shape (n_tasks, n_features): features are columns, tasks are rows
NP_NORMS = {
    "l1inf": lambda W: np.abs(W).max(axis=0).sum(),
    "l21": lambda W: np.linalg.norm(W, axis=0).sum(),
    "l1": lambda W: np.abs(W).sum(),
    "task_l2": lambda W: np.linalg.norm(W, axis=1).sum(),
    "trace": lambda W: np.linalg.svd(W, compute_uv=False).sum(),
}

# cvxpy norms on W = coef.T of shape (n_features, n_tasks)
CVX_NORMS = {
    "l1inf": lambda W: cp.sum(cp.max(cp.abs(W), axis=1)),
    "l21": lambda W: cp.sum(cp.norm(W, 2, axis=1)),
    "l1": lambda W: cp.sum(cp.abs(W)),
    "task_l2": lambda W: cp.sum(cp.norm(W, 2, axis=0)),
    "trace": lambda W: cp.normNuc(W),
}


# -- L1,inf: prox, Moreau identity, dual norm, conjugate ---------------------------------------

def _l1inf_columns():
    """Columns (features) of every kind: outside the ball, inside it, on its
    boundary, zeros, ties in magnitude (of either sign)."""
    rng = np.random.default_rng(0)
    cols = [2.0 * rng.standard_normal(5) for _ in range(4)]
    cols += [
        np.array([0.1, -0.2, 0.3, 0.0, 0.1]),   # ||v||_1 = 0.7 < tau: prox is 0
        np.array([0.2, -0.2, 0.2, 0.2, 0.2]),   # ||v||_1 = tau exactly
        np.zeros(5),
        np.array([2.0, -2.0, 2.0, 1.0, 0.0]),   # three tied maxima
        np.array([3.0, 3.0, -3.0, 3.0, 3.0]),   # all tied
        np.array([5.0, 0.0, 0.0, 0.0, 0.0]),    # one non-zero
        np.array([1.5, 1.5, -0.1, 0.05, 1.49]),  # near-ties
    ]
    return np.stack(cols, axis=1)  # (n_tasks=5, n_features=11)


@pytest.mark.parametrize("tau", [1.0, 0.37, 4.0])
def test_l1inf_norm_prox_moreau_with_bisection_projection(tau):
    """v = prox_{tau ||.||_inf}(v) + P_{tau B_1}(v), column by column.  Both sides
    threshold the column's n_tasks magnitudes (mtlreg by sorting, the test by
    bisection to the last bit): they agree to sum_rounding(16 n_tasks, max |v|)."""
    V = _l1inf_columns()
    level = sum_rounding(16 * V.shape[0], np.abs(V).max())
    prox = np.asarray(L1Inf(xp, 1.0).norm_prox(V, tau))
    projection = project_l1_balls(V, tau)
    assert np.abs(prox + projection - V).max() <= level
    # the projection is in the ball, on its boundary for columns that were outside
    l1 = np.abs(projection).sum(axis=0)
    assert np.all(l1 <= tau + level)
    outside = np.abs(V).sum(axis=0) > tau
    assert np.abs(l1[outside] - tau).max() <= level
    # columns inside the ball (or on its boundary) are zeroed exactly
    assert np.all(prox[:, ~outside] == 0.0)
    # the threshold itself
    theta = np.asarray(l1_ball_threshold(xp, V, tau))
    expected = [l1_ball_shrinkage(V[:, j], tau) for j in range(V.shape[1])]
    assert np.abs(theta - expected).max() <= level


def test_l1inf_norm_prox_hand_computed_ties():
    """[2, -2, 2, 1, 0] with tau = 1: 3 (2 - theta) = 1, theta = 5/3, the prox clips
    at theta; [3, 3, -3, 3, 3] with tau = 3: theta = 12/5."""
    V = np.array([[2.0, 3.0], [-2.0, 3.0], [2.0, -3.0], [1.0, 3.0], [0.0, 3.0]])
    pen = L1Inf(xp, 1.0)
    level = sum_rounding(16 * V.shape[0], np.abs(V).max())
    P = np.asarray(pen.norm_prox(V, 1.0))
    assert np.abs(P[:, 0] - [5 / 3, -5 / 3, 5 / 3, 1.0, 0.0]).max() <= level
    P = np.asarray(pen.norm_prox(V, 3.0))
    assert np.abs(P[:, 1] - [12 / 5, 12 / 5, -12 / 5, 12 / 5, 12 / 5]).max() <= level


def test_l1inf_single_task_is_soft_thresholding():
    """T = 1: ||w_j||_inf = |w_j|, so the prox is elementwise soft thresholding."""
    rng = np.random.default_rng(1)
    V = rng.standard_normal((1, 9))
    V[0, 0], V[0, 1] = 0.0, 0.5  # a zero, and an entry exactly at the threshold
    tau = 0.5
    P = np.asarray(L1Inf(xp, 1.0).norm_prox(V, tau))
    expected = np.sign(V) * np.maximum(np.abs(V) - tau, 0)
    assert np.abs(P - expected).max() <= sum_rounding(16, np.abs(V).max())
    assert P[0, 0] == 0.0 and P[0, 1] == 0.0


@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.2, 1.5])
def test_l1inf_prox_with_ridge_matches_cvxpy_and_is_optimal(ridge, step):
    """prox_{s (alpha ||.||_1,inf + r ||.||_F^2)}: CVXPY, and no perturbation does better.

    The prox has no gap (it is exact to rounding): its objective lies between
    CVXPY's re-evaluated value and that minus CVXPY's accuracy.  The objective is
    ``mu = 1 + 2 s r``-strongly convex, so CVXPY's point is within
    ``sqrt(2 (upper - obj(P*)) / mu)`` of the prox."""
    rng = np.random.default_rng(2)
    alpha = 0.7
    pen = L1Inf(xp, alpha, ridge=ridge)
    V = 1.5 * rng.standard_normal((4, 6))
    V[:, 1] = [0.01, -0.02, 0.01, 0.0]  # inside the ball of radius s alpha: zero
    V[:, 2] = [1.0, -1.0, 1.0, 0.2]  # ties
    P = np.asarray(pen.prox(V, step))

    def obj(W):
        return 0.5 * np.sum((W - V) ** 2) + step * (alpha * NP_NORMS["l1inf"](W)
                                                    + ridge * np.sum(W ** 2))

    X = cp.Variable(V.shape)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - V) + step * (
        alpha * cp.sum(cp.max(cp.abs(X), axis=0)) + ridge * cp.sum_squares(X))))
    ref = solve_reference(prob)
    assert_matches_reference(obj(P), 0.0, ref, at_reference=obj(X.value))
    mu = 1.0 + 2.0 * step * ridge
    slack = rounding(obj(P))
    # ||P - P*||^2 <= 2 slack / mu and ||X - P*||^2 <= 2 (upper - obj(P) + slack) / mu
    distance = (np.sqrt(2 * slack / mu)
                + np.sqrt(2 * max(ref.upper - obj(P) + slack, 0.0) / mu))
    assert np.linalg.norm(P - X.value) <= distance
    for _ in range(200):
        assert obj(P) <= obj(P + 1e-3 * rng.standard_normal(P.shape)) + slack
    assert np.all(P[:, 1] == 0.0)
    value = alpha * NP_NORMS["l1inf"](P) + ridge * np.sum(P ** 2)
    assert abs(float(pen.value(P)) - value) <= sum_rounding(16 * P.size, value)


def _l1inf_dual(V):
    """max_j ||V_:,j||_1, and the unit-norm W = sign(V) on that feature attaining it."""
    j = np.argmax(np.abs(V).sum(axis=0))
    W = np.zeros(V.shape)
    W[:, j] = np.sign(V[:, j])
    return np.abs(V).sum(axis=0).max(), W


def _task_l2_dual(V):
    """max_t ||V_t,:||_2, and the unit-norm W = V_t / ||V_t|| on that task attaining it."""
    norms = np.linalg.norm(V, axis=1)
    t = np.argmax(norms)
    W = np.zeros(V.shape)
    W[t] = V[t] / norms[t]
    return norms.max(), W


@pytest.mark.parametrize("Pen, closed_form", [(L1Inf, _l1inf_dual), (TaskL2, _task_l2_dual)])
def test_dual_norm(Pen, closed_form):
    """<W, V> <= norm(W) * dual_norm(V); dual_norm equals its closed form, and a
    unit-norm W attains it (all sums of at most W.size terms: sum_rounding(16 n, .))."""
    rng = np.random.default_rng(3)
    pen = Pen(xp, 1.0)
    for shape in [(3, 5), (1, 4), (6, 2)]:
        n = shape[0] * shape[1]
        for _ in range(300):
            W = rng.standard_normal(shape) * (rng.random(shape) < 0.6)
            V = rng.standard_normal(shape)
            bound = float(pen.norm(W)) * float(pen.dual_norm(V))
            assert np.sum(W * V) <= bound + sum_rounding(16 * n, bound)
        for _ in range(10):
            V = rng.standard_normal(shape)
            value, W = closed_form(V)
            assert abs(float(pen.dual_norm(V)) - value) <= sum_rounding(16 * n, value)
            assert abs(float(pen.norm(W)) - 1.0) <= sum_rounding(16 * n, 1.0)
            assert abs(np.sum(W * V) - value) <= sum_rounding(16 * n, value)


@pytest.mark.parametrize("Pen, project", [(L1Inf, project_l1_balls),
                                          (TaskL2, project_row_l2_balls)])
def test_conjugate_and_fenchel_young(Pen, project):
    """h = alpha N + r ||.||^2: h*(V) = dist(V, alpha * dual ball)^2 / (4 r), and
    h(P) + h*(G) = <P, G> at a prox point P with G = (V - P) / s (the pieces of the
    duality gap the solver certifies).

    The two projections agree entrywise to ``delta = sum_rounding(16 n, max |V|)`` (n
    the entries a threshold or row norm sums), so the squared distances differ by at
    most ``2 ||D|| sqrt(size) delta + size delta^2``."""
    rng = np.random.default_rng(4)
    alpha, ridge, step = 0.6, 0.25, 0.8
    pen = Pen(xp, alpha, ridge=ridge)
    for _ in range(10):
        V = 1.5 * rng.standard_normal((4, 5))
        n = V.shape[0] if Pen is L1Inf else V.shape[1]
        delta = sum_rounding(16 * n, np.abs(V).max())
        D = V - project(V, alpha)
        expected = np.sum(D ** 2) / (4 * ridge)
        error = (2 * np.linalg.norm(D) * np.sqrt(V.size) * delta + V.size * delta ** 2) / (
            4 * ridge) + sum_rounding(16 * V.size, expected)
        assert abs(float(pen.conjugate(V)) - expected) <= error
        for p in (pen, Pen(xp, alpha)):
            P = np.asarray(p.prox(V, step))
            G = (V - P) / step
            if p.ridge == 0.0:  # G must lie in the dual ball (h* = 0 there): its dual
                # norm sums n entries of V - P, of size up to max |V|, against s alpha
                level = sum_rounding(16 * n, np.abs(V).max() / (step * alpha))
                assert abs(p.dual_scale(G) - 1.0) <= level
            value, conjugate, inner = float(p.value(P)), float(p.conjugate(G)), np.sum(P * G)
            assert abs(value + conjugate - inner) <= rounding(value + conjugate + abs(inner))


# -- TaskL2 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (5, 1)])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.3, 2.0])
def test_task_l2_prox_closed_form(shape, ridge, step):
    """Each task's row is group soft thresholded: prox = S_{s alpha}(v / k) with
    k = 1 + 2 s r, applied to rows (not to features)."""
    rng = np.random.default_rng(5)
    alpha = 0.8
    pen = TaskL2(xp, alpha, ridge=ridge)
    for _ in range(10):
        V = 2.0 * rng.standard_normal(shape)
        V[0] *= 0.01  # a task below the threshold
        k = 1.0 + 2.0 * step * ridge
        got = np.asarray(pen.prox(V, step))
        expected = row_soft_threshold(V, step * alpha) / k
        assert np.abs(got - expected).max() <= sum_rounding(16 * shape[1], np.abs(V).max())
        assert np.all(got[0] == 0.0)
        value = alpha * np.linalg.norm(V, axis=1).sum() + ridge * np.sum(V ** 2)
        assert abs(float(pen.value(V)) - value) <= sum_rounding(16 * V.size, value)


@pytest.mark.parametrize("step", [0.2, 1.0, 4.0])
def test_task_l2_moreau_identity(step):
    """v = prox_{s alpha N}(v) + P_{s alpha B}(v), B the ball of max_t ||v_t||_2."""
    rng = np.random.default_rng(6)
    alpha = 0.6
    pen = TaskL2(xp, alpha)
    for _ in range(10):
        V = 1.5 * rng.standard_normal((5, 4))
        V[1] = 0.0
        level = sum_rounding(16 * V.shape[1], np.abs(V).max())
        residual = V - np.asarray(pen.prox(V, step))
        assert np.abs(residual - project_row_l2_balls(V, step * alpha)).max() <= level
        assert np.linalg.norm(residual, axis=1).max() <= step * alpha + level


# -- array API --------------------------------------------------------------------------------

@pytest.mark.parametrize("device_name, dtype_name", [("CPU_DEVICE", "float64"),
                                                     ("device1", "float32")])
@pytest.mark.parametrize("Pen", [L1Inf, TaskL2])
def test_prox_in_array_api_strict(device_name, dtype_name, Pen):
    """The NumPy float64 prox, to the rounding of the dtype (the input's rounding
    included): sum_rounding(16 n, size) with the dtype's eps."""
    xps = import_array_api_strict()
    from mtlreg._backend import get_namespace, to_numpy

    V = _l1inf_columns()
    dev, dtype = xps.Device(device_name), getattr(xps, dtype_name)
    Va = xps.asarray(V, dtype=dtype, device=dev)
    xpa = get_namespace(Va)
    pen = Pen(xpa, 0.7, ridge=0.2)
    P = pen.prox(Va, 1.3)
    assert P.device == dev and P.dtype == dtype
    expected = np.asarray(Pen(xp, 0.7, ridge=0.2).prox(V, 1.3))
    n = V.shape[0] if Pen is L1Inf else V.shape[1]  # a threshold over tasks, a row norm
    assert np.abs(to_numpy(P) - expected).max() <= sum_rounding(16 * n, np.abs(V).max(),
                                                                dtype_name)
    if Pen is L1Inf:  # the exact-tie column keeps exact ties on every backend
        got = to_numpy(P)[:, 7]
        assert got[0] == got[2] == -got[1]
    value = float(Pen(xp, 0.7, ridge=0.2).value(V))
    assert abs(float(pen.value(Va)) - value) <= sum_rounding(16 * V.size, value, dtype_name)


# -- the six estimators against CVXPY ----------------------------------------------------------

# model: (regressor, classifier, estimator kwargs, penalty of the first part, of the
# second part, fitted attributes of the two parts)
MODELS = {
    "dirty_linf": (DirtyRegressor, DirtyClassifier, {"group_norm": "linf"}, "l1inf", "l1",
                   ("coef_shared_", "coef_specific_")),
    "dirty_l2": (DirtyRegressor, DirtyClassifier, {"group_norm": "l2"}, "l21", "l1",
                 ("coef_shared_", "coef_specific_")),
    "robust": (RobustRegressor, RobustClassifier, {}, "trace", "task_l2",
               ("coef_lowrank_", "coef_outlier_")),
    "rmtfl": (RMTFLRegressor, RMTFLClassifier, {}, "l21", "task_l2",
              ("coef_shared_", "coef_outlier_")),
}


def _fitted_parts(est, model):
    return [np.asarray(getattr(est, name)) for name in MODELS[model][5]]


def np_objective(Xs, ys, parts, intercept, model, alpha, beta, ridge, loss_scaling, logistic):
    """The documented objective, in NumPy, at parts of shape (n_tasks, n_features)."""
    P, Q = parts
    W = P + Q
    fit = 0.0
    for t, (X, y, c) in enumerate(zip(Xs, ys, task_weights(ys, loss_scaling))):
        z = X @ W[t] + intercept[t]
        fit += c * (np.logaddexp(0.0, -y * z).sum() if logistic else 0.5 * np.sum((y - z) ** 2))
    first, second = MODELS[model][3:5]
    return (fit + alpha * NP_NORMS[first](P) + beta * NP_NORMS[second](Q)
            + ridge * (np.sum(P ** 2) + np.sum(Q ** 2)))


def cvxpy_two_part(Xs, ys, model, alpha, beta, ridge, loss_scaling, logistic):
    """The two-part problem by Clarabel: a :class:`Reference`, its parts (as coef,
    n_tasks x n_features) and intercepts."""
    d, T = Xs[0].shape[1], len(Xs)
    P, Q, b = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    terms = []
    for t, (X, y, c) in enumerate(zip(Xs, ys, task_weights(ys, loss_scaling))):
        z = X @ (P[:, t] + Q[:, t]) + b[t]
        terms.append(c * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                          else 0.5 * cp.sum_squares(y - z)))
    first, second = MODELS[model][3:5]
    objective = (sum(terms) + alpha * CVX_NORMS[first](P) + beta * CVX_NORMS[second](Q)
                 + ridge * (cp.sum_squares(P) + cp.sum_squares(Q)))
    ref = solve_reference(cp.Problem(cp.Minimize(objective)))
    return ref, (P.value.T, Q.value.T), b.value


def _strengths(X, y, tasks, model, loss, loss_scaling, fraction=0.2):
    first, second = MODELS[model][3:5]
    am = alpha_max(X, y, tasks, penalty=first, loss=loss, loss_scaling=loss_scaling)
    bm = alpha_max(X, y, tasks, penalty=second, loss=loss, loss_scaling=loss_scaling)
    return fraction * am, fraction * bm


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("loss_scaling, ridge", [("mean", 0.0), ("sum", 0.0), ("mean", 0.05),
                                                 ("sum", 0.05)])
def test_matches_cvxpy_and_certifies_its_gap(model, logistic, loss_scaling, ridge):
    Xs, ys = _tasks(0, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    loss = "logistic" if logistic else "squared"
    alpha, beta = _strengths(X, y, tasks, model, loss, loss_scaling)
    ridge = ridge * (1.0 if loss_scaling == "mean" else 14.0)  # 14: mean task size
    Reg, Clf, kwargs = MODELS[model][:3]
    Est = Clf if logistic else Reg
    params = dict(alpha=alpha, beta=beta, ridge=ridge, loss_scaling=loss_scaling, **kwargs)
    tol = 1e-10
    est = Est(tol=tol, **params).fit(X, y, tasks=tasks)
    ref, cvx_parts, cvx_b = cvxpy_two_part(Xs, ys, model, alpha, beta, ridge,
                                           loss_scaling, logistic)
    args = (model, alpha, beta, ridge, loss_scaling, logistic)
    parts = _fitted_parts(est, model)
    assert_converged(est, tol)
    # objective_ is the documented objective at the fitted parts and intercepts
    assert abs(est.objective_ - np_objective(Xs, ys, parts, est.intercept_, *args)) <= rounding(
        est.objective_)
    # the certified gap bounds the excess over CVXPY's point (the NumPy formula there is
    # CVXPY's re-evaluated value), and CVXPY's accuracy claim holds
    assert_matches_reference(est.objective_, est.dual_gap_, ref,
                             at_reference=np_objective(Xs, ys, cvx_parts, cvx_b, *args))
    # (W, b) is unique (the loss is strictly convex in (w_t, b_t) on these full-rank
    # designs); both points are within their excess's distance of it
    excess = (est.dual_gap_ + rounding(est.objective_), ref.accuracy + rounding(ref.upper))
    problem = dict(loss=loss, weights=task_weights(ys, loss_scaling))
    assert_same_solution((est.coef_, est.intercept_), (cvx_parts[0] + cvx_parts[1], cvx_b),
                         Xs, ys, excess=excess, coefficients=True, **problem)
    if ridge > 0:  # the objective is strongly convex in (P, Q, b): the parts are unique
        # (P, Q) as one coefficient matrix on [X X], the ridge on both
        T, d = est.coef_.shape
        assert_same_solution((np.hstack(parts), est.intercept_), (np.hstack(cvx_parts), cvx_b),
                             [np.hstack([X_t, X_t]) for X_t in Xs], ys, excess=excess,
                             quadratic=2 * ridge * np.eye(2 * T * d), coefficients=True,
                             **problem)
    # both parts are active: the comparison exercises the decomposition
    assert all(np.any(p != 0) for p in parts)

    # a fit stopped early: its certified gap still bounds its suboptimality
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        early = Est(tol=1e-10, max_iter=4, **params).fit(X, y, tasks=tasks)
    assert not early.converged_
    early_parts = _fitted_parts(early, model)
    assert abs(early.objective_ - np_objective(Xs, ys, early_parts, early.intercept_, *args)
               ) <= rounding(early.objective_)
    # genuinely suboptimal (beyond the reference's uncertainty) ...
    assert early.objective_ - ref.upper > ref.accuracy + rounding(ref.upper)
    assert_matches_reference(early.objective_, early.dual_gap_, ref)  # ... and certified so


# -- fitted components -----------------------------------------------------------------------

@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("shared_design", [False, True], ids=["long", "shared"])
def test_parts_have_the_coef_shape_and_sum_to_coef(model, logistic, shared_design):
    Reg, Clf, kwargs = MODELS[model][:3]
    Est = Clf if logistic else Reg
    rng = np.random.default_rng(8)
    if shared_design:  # one X, a 2-D Y with one column per task
        X = rng.standard_normal((30, 5))
        Z = X @ rng.standard_normal((5, 4)) + 0.3 * rng.standard_normal((30, 4))
        y, tasks = np.where(Z > 0, 1.0, -1.0) if logistic else Z, None
    else:
        X, y, tasks = stack_tasks(*_tasks(8, logistic))
    loss = "logistic" if logistic else "squared"
    alpha, beta = _strengths(X, y, tasks, model, loss, "mean")
    est = Est(alpha=alpha, beta=beta, **kwargs).fit(X, y, tasks=tasks)
    names = MODELS[model][5]
    first, second = _fitted_parts(est, model)
    assert est.coef_.shape == (4, 5)
    assert first.shape == second.shape == (4, 5)
    # coef_ is the parts' sum: one correctly rounded addition
    assert np.all(np.abs(first + second - est.coef_) <= EPS * np.abs(est.coef_))
    assert np.any(first != 0) and np.any(second != 0)
    if "coef_outlier_" in names:
        flagged = np.flatnonzero(np.any(second != 0, axis=1))
        np.testing.assert_array_equal(est.outlier_tasks_, est.tasks_[flagged])
    if model == "robust":
        # the rank is clear-cut here: singular values above 0.29 s_max or at the
        # rounding level of the reconstructed product (1e-16 s_max), so any threshold
        # in between, mtlreg's max(shape) eps s_max included, counts the same
        s = np.linalg.svd(first, compute_uv=False)
        assert est.rank_ == np.sum(s > np.sqrt(EPS) * s[0])


# -- planted outlier tasks --------------------------------------------------------------------

# The (alpha, beta) regimes below come from a small grid searched while writing
# these tests on random_state 0, 1, 2: for rMTFL alpha in {0.02, ..., 0.3} x
# alpha_max("l21") and beta in {0.02, ..., 0.5} x alpha_max("task_l2"), for robust
# MTL alpha in {0.01, ..., 0.2} x alpha_max("trace") and beta / alpha in {0.3, ..., 0.9}.
# Exact recovery holds in a band of that grid (rMTFL: beta's fraction about 1-2x
# alpha's; robust: beta / alpha about 0.7-0.9; smaller beta flags inlier tasks too,
# larger beta flags none); the points used are inside it for every seed listed.
# Measured margins (default tol: gaps up to 2e-5, ||W - W*|| of order 1e-2): inlier
# tasks' ||grad_t||_2 at most 0.86 beta (their rows are exactly zero while it stays
# below beta); outlier rows of norm 0.08 or more; the planted support's weakest
# shared feature at 1.28x the strongest other one or more; low-rank singular values
# at 0.059 s_max or more against 1e-16 s_max.
OUTLIER_PROBLEM = dict(n_tasks=20, n_features=15, n_outlier_tasks=3)


def _outlier_data(classification, base, seed):
    if classification:
        return make_multitask_classification(structure="outlier_tasks", base=base, n_samples=100,
                                             noise=0.2, random_state=seed, **OUTLIER_PROBLEM)
    return make_multitask_regression(structure="outlier_tasks", base=base, n_samples=60,
                                     noise=0.1, random_state=seed, **OUTLIER_PROBLEM)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_rmtfl_recovers_planted_outlier_tasks(classification, seed):
    data = _outlier_data(classification, "shared_support", seed)
    loss = "logistic" if classification else "squared"
    Est = RMTFLClassifier if classification else RMTFLRegressor
    fa, fb = (0.1, 0.3) if classification else (0.1, 0.2)
    alpha = fa * alpha_max(data.X, data.y, data.tasks, penalty="l21", loss=loss)
    beta = fb * alpha_max(data.X, data.y, data.tasks, penalty="task_l2", loss=loss)
    est = Est(alpha=alpha, beta=beta).fit(data.X, data.y, tasks=data.tasks)
    assert len(data.outlier_tasks) == 3
    np.testing.assert_array_equal(est.outlier_tasks_, data.outlier_tasks)
    # the shared part's strongest features are the planted support
    strength = np.linalg.norm(np.asarray(est.coef_shared_), axis=0)
    k = int(data.support.sum())
    assert set(np.argsort(strength)[-k:]) == set(np.flatnonzero(data.support))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_robust_recovers_planted_outlier_tasks(classification, seed):
    """beta < alpha is needed (beta >= alpha: no outliers); beta = 0.8 alpha."""
    data = _outlier_data(classification, "low_rank", seed)
    loss = "logistic" if classification else "squared"
    Est = RobustClassifier if classification else RobustRegressor
    fa = 0.2 if classification else 0.05
    alpha = fa * alpha_max(data.X, data.y, data.tasks, penalty="trace", loss=loss)
    est = Est(alpha=alpha, beta=0.8 * alpha).fit(data.X, data.y, tasks=data.tasks)
    np.testing.assert_array_equal(est.outlier_tasks_, data.outlier_tasks)
    if not classification:
        assert est.rank_ == data.rank == 3


@pytest.mark.parametrize("Est, base, penalty, fa, fb", [
    (RMTFLRegressor, "shared_support", "l21", 0.1, 0.2),
    (RobustRegressor, "low_rank", "trace", 0.05, None),
])
def test_outlier_tasks_hold_string_labels(Est, base, penalty, fa, fb):
    """Labels that do not sort like the task indices ("t10" < "t2")."""
    data = _outlier_data(False, base, 0)
    labels = np.array([f"t{t}" for t in range(OUTLIER_PROBLEM["n_tasks"])])
    tasks = labels[data.tasks]
    alpha = fa * alpha_max(data.X, data.y, tasks, penalty=penalty)
    beta = 0.8 * alpha if fb is None else fb * alpha_max(data.X, data.y, tasks,
                                                         penalty="task_l2")
    est = Est(alpha=alpha, beta=beta).fit(data.X, data.y, tasks=tasks)
    expected = labels[data.outlier_tasks]
    assert est.outlier_tasks_.dtype.kind == "U"
    np.testing.assert_array_equal(est.outlier_tasks_, np.sort(expected))  # tasks_ order
    # the model fitted with the relabelled tasks is the same as with integer labels:
    # the two fits solve one problem (tasks permuted), whose (W, b) is unique, each to
    # its certified gap (the parts need not be unique: compared through W and the
    # outlier rows)
    ref = Est(alpha=alpha, beta=beta).fit(data.X, data.y, tasks=data.tasks)
    order = np.argsort(labels)  # row i of est.coef_ is task labels[order[i]]
    Xs = [data.X[data.tasks == t] for t in range(len(labels))]
    ys = [data.y[data.tasks == t] for t in range(len(labels))]

    inverse = np.argsort(order)  # task t is row inverse[t] of est
    est_point = Point(np.asarray(est.coef_)[inverse], np.asarray(est.intercept_)[inverse],
                      est.objective_, est.dual_gap_)
    assert_same_solution(est_point, ref, Xs, ys, loss="squared", weights=task_weights(ys),
                         coefficients=True)
    np.testing.assert_array_equal(np.any(np.asarray(est.coef_outlier_) != 0, axis=1),
                                  np.any(np.asarray(ref.coef_outlier_)[order] != 0, axis=1))
    for label in est.outlier_tasks_:
        assert np.any(np.asarray(est.coef_outlier_)[list(est.tasks_).index(label)] != 0)


# -- reductions to single-part models -----------------------------------------------------------

def _data_gradient(Xs, ys, coef, intercept, logistic, loss_scaling="mean"):
    """grad_W of sum_t c_t loss_t at (coef, intercept), shape (n_tasks, n_features), and
    the gradient in the intercepts."""
    G, gb = [], []
    for t, (X, y, c) in enumerate(zip(Xs, ys, task_weights(ys, loss_scaling))):
        z = X @ coef[t] + intercept[t]
        dz = -y / (1.0 + np.exp(y * z)) if logistic else z - y
        G.append(c * X.T @ dz)
        gb.append(c * dz.sum())
    return np.array(G), np.array(gb)


def _without_one_class_tasks(Xs, ys, logistic, *fits):
    """Two fits of problems with one optimum and one (unique) minimizer in (W, b), as
    ``certificates.assert_same_solution`` takes them (``problem, points``).

    A task with one class (logistic) has no minimizer: every fit sets it by the same
    rule (``w_t = 0``, ``b_t = +-log(1 / eps)``, a loss of ``eps``), asserted here,
    and the other tasks' problem, with ``w_t = 0``, has the same optimum and is
    strongly convex: the points are restricted to it (their objectives and gaps
    stay those of the whole problem)."""
    points = [as_point(f) for f in fits]
    two = np.array([len(np.unique(y)) == 2 or not logistic for y in ys])
    for point in points:
        assert np.all(point.coef[~two] == 0.0)
        assert np.all(point.intercept[~two] == points[0].intercept[~two])
    ys2 = [y for y, keep in zip(ys, two) if keep]
    problem = dict(Xs=[X for X, keep in zip(Xs, two) if keep], ys=ys2,
                   loss="logistic" if logistic else "squared", weights=task_weights(ys2))
    return problem, [dataclasses.replace(p, coef=p.coef[two], intercept=p.intercept[two])
                     for p in points]


def _fit_lipschitz(Xs, ys, logistic, loss_scaling="mean"):
    """Lipschitz constant of the data fit's gradient in (W, b): max_t c_t ||[X_t 1]||^2
    (times 1/4 for the logistic loss)."""
    return max(c * np.linalg.norm(np.column_stack([X, np.ones(len(X))]), 2) ** 2
               * (0.25 if logistic else 1.0)
               for X, c in zip(Xs, task_weights(ys, loss_scaling)))


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("model, single", [("robust", "trace"), ("rmtfl", "l21"),
                                           ("dirty_l2", "l21")])
def test_large_beta_gives_the_single_part_model(model, single, logistic):
    """The second part is zero (exactly) once beta exceeds what its dual norm can reach
    inside the first part's dual ball: robust, beta > alpha (column norm <= spectral
    norm); rMTFL, beta > sqrt(d) alpha; dirty with L2 rows, beta > alpha."""
    Xs, ys = _tasks(9, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    d = X.shape[1]
    Reg, Clf, kwargs = MODELS[model][:3]
    Est = Clf if logistic else Reg
    Single = {("trace", False): TraceRegressor, ("trace", True): TraceClassifier,
              ("l21", False): L21Regressor, ("l21", True): L21Classifier}[single, logistic]
    loss = "logistic" if logistic else "squared"
    alpha = 0.2 * alpha_max(X, y, tasks, penalty=single, loss=loss)
    beta = 1.2 * alpha * (np.sqrt(d) if model == "rmtfl" else 1.0)
    both = Est(alpha=alpha, beta=beta, tol=1e-12, **kwargs).fit(X, y, tasks=tasks)
    one = Single(alpha=alpha, tol=1e-12).fit(X, y, tasks=tasks)
    second = _fitted_parts(both, model)[1]
    assert np.all(second == 0.0)
    if model != "dirty_l2":
        assert both.outlier_tasks_.shape == (0,)
    problem, points = _without_one_class_tasks(Xs, ys, logistic, both, one)
    assert_same_solution(*points, **problem, coefficients=True)
    # and the argument: at the single model's solution the dual norm of the second
    # part stays below beta (measured at most 0.83 beta; the fit's gradient is within
    # sqrt(2 L gap) < 1e-5 of the solution's)
    G, _ = _data_gradient(Xs, ys, np.asarray(one.coef_), np.asarray(one.intercept_), logistic)
    second_dual = (np.linalg.norm(G, axis=1).max() if model != "dirty_l2"
                   else np.abs(G).max())
    assert second_dual < beta


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
def test_dirty_linf_with_large_beta_satisfies_the_l1inf_kkt_conditions(logistic):
    """beta > alpha: Q = 0 and P solves min F(P) + alpha sum_j ||P_:,j||_inf, whose KKT
    conditions are checked feature by feature with a NumPy gradient:
    ||G_:,j||_1 <= alpha where P_:,j = 0; otherwise -G_:,j lies in alpha times the
    subdifferential of ||.||_inf: zero off the entries of largest magnitude, of P's sign
    on them, with ||G_:,j||_1 = alpha.

    They hold exactly at the solution; at the fit, the gradient in (W, b) is within
    ``r = sqrt(2 L gap)`` of the solution's (``L`` its Lipschitz constant: for
    ``F + h`` with ``F`` convex and ``L``-smooth,
    ``||grad F(x) - grad F(x*)||^2 <= 2 L (P(x) - P*)``), and ``sqrt(T) r`` in the
    columns' L1 norms."""
    Xs, ys = _tasks(10, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    T = len(Xs)
    loss = "logistic" if logistic else "squared"
    alpha = 0.2 * alpha_max(X, y, tasks, penalty="l1inf", loss=loss)
    Est = DirtyClassifier if logistic else DirtyRegressor
    est = Est(alpha=alpha, beta=1.2 * alpha, tol=1e-13).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(est.coef_specific_) == 0.0)
    P = np.asarray(est.coef_shared_)
    G, gb = _data_gradient(Xs, ys, P, np.asarray(est.intercept_), logistic)
    r = (np.sqrt(2 * _fit_lipschitz(Xs, ys, logistic)
                 * (est.dual_gap_ + rounding(est.objective_)))
         + rounding(np.abs(G).max()))  # the NumPy gradient's own rounding
    assert r <= 1e-4 * alpha  # the conditions below are sharp
    assert np.abs(gb).max() <= r  # optimal intercepts
    n_active = n_tied = 0
    for j in range(P.shape[1]):
        col, g = P[:, j], G[:, j]
        if np.all(col == 0):
            assert np.abs(g).sum() <= alpha + np.sqrt(T) * r
            continue
        n_active += 1
        top = np.abs(col) == np.abs(col).max()  # the prox makes ties exact
        n_tied += top.sum() > 1
        assert np.abs(g[~top]).max(initial=0.0) <= r
        assert np.all(-g[top] * np.sign(col[top]) >= -r)
        assert abs(np.abs(g).sum() - alpha) <= np.sqrt(T) * r
    assert n_active >= 1 and n_tied >= 1  # the conditions were exercised
    # and the optimal value is CVXPY's L1,inf problem's
    d = X.shape[1]
    W, b = cp.Variable((d, T)), cp.Variable(T)
    terms = []
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        z = Xt @ W[:, t] + b[t]
        terms.append((cp.sum(cp.logistic(-cp.multiply(yt, z))) if logistic
                      else 0.5 * cp.sum_squares(yt - z)) / len(yt))
    ref = solve_reference(cp.Problem(cp.Minimize(sum(terms) + alpha * CVX_NORMS["l1inf"](W))))
    assert_matches_reference(est.objective_, est.dual_gap_, ref)


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("group_norm", ["linf", "l2"])
def test_dirty_with_large_alpha_is_the_lasso(group_norm, logistic):
    """|G_jt| <= beta at the Lasso solution, so ||G_:,j||_1 <= T beta and
    ||G_:,j||_2 <= sqrt(T) beta: alpha above those makes P = 0."""
    Xs, ys = _tasks(11, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    T = len(Xs)
    loss = "logistic" if logistic else "squared"
    beta = 0.2 * alpha_max(X, y, tasks, penalty="l1", loss=loss)
    alpha = 1.2 * beta * (T if group_norm == "linf" else np.sqrt(T))
    Est, Lasso = (DirtyClassifier, LassoClassifier) if logistic else (DirtyRegressor,
                                                                      LassoRegressor)
    dirty = Est(alpha=alpha, beta=beta, group_norm=group_norm, tol=1e-12).fit(X, y, tasks=tasks)
    lasso = Lasso(alpha=beta, tol=1e-12).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(dirty.coef_shared_) == 0.0)
    problem, points = _without_one_class_tasks(Xs, ys, logistic, dirty, lasso)
    assert_same_solution(*points, **problem, coefficients=True)
    np.testing.assert_array_equal(dirty.coef_specific_, dirty.coef_)  # P = 0
    # the model is not trivial: the Lasso has zeros and non-zeros
    assert np.any(lasso.coef_ == 0) and np.any(lasso.coef_ != 0)


# -- alpha_max for the new norms -----------------------------------------------------------------

def _gradient_at_zero(Xs, ys, logistic, loss_scaling):
    """grad_W F at W = 0 with the optimal intercepts there (closed form: the mean of
    y for squared loss, logit of the fraction of positives for logistic), and the
    same sums of absolute values: the size that bounds their rounding."""
    G, size = [], []
    for X, y, c in zip(Xs, ys, task_weights(ys, loss_scaling)):
        r = (np.mean(y > 0) - (y > 0)) if logistic else -(y - y.mean())
        G.append(c * X.T @ r)
        # mtlreg may centre X rather than y: the terms' size covers both orders
        size.append(c * (np.abs(X) + np.abs(X.mean(axis=0))).T @ (np.abs(r) + np.abs(r.mean())
                                                                   + np.abs(y).mean()))
    return np.array(G), np.array(size)  # (n_tasks, n_features)


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_formulas(logistic, loss_scaling):
    """max_j sum_t |G_jt| (L1,inf) and max_t ||G_:,t||_2 (per-task L2), W = G's layout:
    closed forms, to the rounding of sums of n_samples terms of the sizes above."""
    Xs, ys = _tasks(12, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    G, size = _gradient_at_zero(Xs, ys, logistic, loss_scaling)
    loss = "logistic" if logistic else "squared"
    got = {p: alpha_max(X, y, tasks, penalty=p, loss=loss, loss_scaling=loss_scaling)
           for p in ("l1inf", "task_l2")}
    n = max(len(y) for y in ys)
    assert abs(got["l1inf"] - np.abs(G).sum(axis=0).max()) <= sum_rounding(
        16 * n, size.sum(axis=0).max())
    assert abs(got["task_l2"] - np.linalg.norm(G, axis=1).max()) <= sum_rounding(
        16 * n, np.linalg.norm(size, axis=1).max())


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("part", ["l1inf", "task_l2_rmtfl", "task_l2_robust", "both"])
def test_alpha_max_is_the_zero_threshold_of_its_part(part, logistic, loss_scaling):
    """With the other part switched off (strength 1e6), the part is zero just above
    alpha_max and not just below; for the dirty model W = 0 needs both strengths
    above their alpha_max.  (1.0001 and 0.99: margins far above the rounding of the
    gradient's dual norms, 1e-13 relative.)"""
    Xs, ys = _tasks(13, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    loss = "logistic" if logistic else "squared"

    def amax(penalty):
        return alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling)

    Dirty = DirtyClassifier if logistic else DirtyRegressor
    RMTFL = RMTFLClassifier if logistic else RMTFLRegressor
    Robust = RobustClassifier if logistic else RobustRegressor
    if part == "l1inf":
        a = amax("l1inf")
        make = lambda f: Dirty(alpha=f * a, beta=1e6, loss_scaling=loss_scaling, tol=1e-10)
    elif part == "task_l2_rmtfl":
        b = amax("task_l2")
        make = lambda f: RMTFL(alpha=1e6, beta=f * b, loss_scaling=loss_scaling, tol=1e-10)
    elif part == "task_l2_robust":
        b = amax("task_l2")
        make = lambda f: Robust(alpha=1e6, beta=f * b, loss_scaling=loss_scaling, tol=1e-10)
    else:
        a, b = amax("l1inf"), amax("l1")
        make = lambda f: Dirty(alpha=f * a, beta=f * b, loss_scaling=loss_scaling, tol=1e-10)
    above = make(1.0001).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(above.coef_) == 0.0)
    # intercepts: the optimal ones at W = 0.  Squared loss: the closed form
    # mean(y) - mean(X) w with w = 0 (the rounding of a mean); logistic: fitted, and
    # within the distance its certified gap allows of the minimizer of F(0, .) (the
    # curvature of F in b alone: X with no columns)
    intercept = np.asarray(above.intercept_)
    if logistic:  # the closed form b0 = logit(p) is the minimizer (excess 0)
        p = np.array([np.mean(yt > 0) for yt in ys])
        zeros = np.zeros((len(Xs), 0))
        distance = assert_same_solution(
            (zeros, intercept), (zeros, np.log(p / (1 - p))), [X_t[:, :0] for X_t in Xs], ys,
            loss="logistic", weights=task_weights(ys, loss_scaling),
            excess=(above.dual_gap_ + rounding(above.objective_), 0.0), coefficients=True)
    for t, yt in enumerate(ys):
        if logistic:
            p = np.mean(yt > 0)
            assert abs(intercept[t] - np.log(p / (1 - p))) <= distance
        else:
            assert abs(intercept[t] - yt.mean()) <= sum_rounding(16 * len(yt), np.abs(yt).max())
    below = make(0.99).fit(X, y, tasks=tasks)
    assert below.converged_ and np.any(np.asarray(below.coef_) != 0.0)
    if part == "both":  # one strength below its threshold is enough for W != 0
        for fa, fb in [(0.99, 1.0001), (1.0001, 0.99)]:
            est = Dirty(alpha=fa * a, beta=fb * b, loss_scaling=loss_scaling,
                        tol=1e-10).fit(X, y, tasks=tasks)
            assert np.any(np.asarray(est.coef_) != 0.0)


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("Est", [DirtyRegressor, DirtyClassifier])
@pytest.mark.parametrize("group_norm", ["l3", "inf", None])
def test_invalid_group_norm_is_rejected(Est, group_norm):
    X, y, tasks = stack_tasks(*_tasks(14, Est is DirtyClassifier))
    with pytest.raises(ValueError, match="group_norm"):
        Est(group_norm=group_norm).fit(X, y, tasks=tasks)


@pytest.mark.parametrize("Est", [DirtyRegressor, DirtyClassifier, RobustRegressor,
                                 RobustClassifier, RMTFLRegressor, RMTFLClassifier])
def test_negative_beta_is_rejected(Est):
    X, y, tasks = stack_tasks(*_tasks(14, Est.__name__.endswith("Classifier")))
    with pytest.raises(ValueError, match="'beta'"):
        Est(beta=-0.1).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="'alpha'"):
        Est(alpha=-0.1).fit(X, y, tasks=tasks)


# -- warm start -------------------------------------------------------------------------------

@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_warm_start(model, logistic):
    """Refitting on the same data starts at the solution: one convergence check
    (FISTA checks the gap every 10 iterations) and the same solution.  Warm
    starting from another alpha reaches the cold solution at the new alpha (both
    to their certified gaps: ``certificates.assert_same_solution``)."""
    Xs, ys = _tasks(15, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    loss = "logistic" if logistic else "squared"
    alpha, beta = _strengths(X, y, tasks, model, loss, "mean")
    Reg, Clf, kwargs = MODELS[model][:3]
    Est = Clf if logistic else Reg
    est = Est(alpha=alpha, beta=beta, tol=1e-9, **kwargs).fit(X, y, tasks=tasks)
    cold = copy.deepcopy(est)
    assert est.n_iter_ > 20
    est.set_params(warm_start=True).fit(X, y, tasks=tasks)
    # the first check passes: it starts where the cold fit's gap passed, and 10 more
    # iterations bring the gap to at most 0.45 of the threshold (measured)
    assert est.converged_ and est.n_iter_ <= 10
    problem, points = _without_one_class_tasks(Xs, ys, logistic, est, cold)
    assert_same_solution(*points, **problem, coefficients=True)
    # a warm path step: alpha and beta halved
    est.set_params(alpha=alpha / 2, beta=beta / 2).fit(X, y, tasks=tasks)
    cold = Est(alpha=alpha / 2, beta=beta / 2, tol=1e-9, **kwargs).fit(X, y, tasks=tasks)
    problem, points = _without_one_class_tasks(Xs, ys, logistic, est, cold)
    assert_same_solution(*points, **problem, coefficients=True)


def test_alpha_max_shared_design():
    """2-D Y: G = -X_c^T Y_c / n (n_features x n_tasks here), to the rounding of its
    sums of n terms (their absolute values: ``size``)."""
    rng = np.random.default_rng(16)
    X = rng.standard_normal((25, 7))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((25, 4))
    n = len(X)
    G = -(X - X.mean(0)).T @ (Y - Y.mean(0)) / n
    size = (np.abs(X) + np.abs(X.mean(0))).T @ (np.abs(Y) + np.abs(Y.mean(0))) / n
    assert abs(alpha_max(X, Y, penalty="l1inf") - np.abs(G).sum(axis=1).max()) <= sum_rounding(
        16 * n, size.sum(axis=1).max())
    assert abs(alpha_max(X, Y, penalty="task_l2") - np.linalg.norm(G, axis=0).max()
               ) <= sum_rounding(16 * n, np.linalg.norm(size, axis=0).max())
