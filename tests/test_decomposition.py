"""Decomposition family ``W = P + Q``: the new penalties (L1,inf and the per-task
L2 norm), the six two-part estimators, their reductions to single-part models,
``alpha_max`` for the new norms, and outlier-task recovery.

Every reference is computed independently here: an L1-ball projection by
bisection (for the Moreau identity of the L1,inf prox), closed-form group soft
thresholding, CVXPY solutions of the full two-part problems, KKT conditions
with gradients written in NumPy, and the planted structure of the synthetic
generators.
"""

import warnings

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

from cvxpy_reference import solve_clarabel

cp = pytest.importorskip("cvxpy")

CVX_OPTS = dict(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)


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
    """v = prox_{tau ||.||_inf}(v) + P_{tau B_1}(v), column by column."""
    V = _l1inf_columns()
    prox = np.asarray(L1Inf(xp, 1.0).norm_prox(V, tau))
    projection = project_l1_balls(V, tau)
    np.testing.assert_allclose(prox + projection, V, rtol=0, atol=1e-12)
    # the projection is in the ball, on its boundary for columns that were outside
    l1 = np.abs(projection).sum(axis=0)
    assert np.all(l1 <= tau * (1 + 1e-12))
    outside = np.abs(V).sum(axis=0) > tau
    np.testing.assert_allclose(l1[outside], tau, rtol=1e-12)
    # columns inside the ball (or on its boundary) are zeroed exactly
    assert np.all(prox[:, ~outside] == 0.0)
    # the threshold itself
    theta = np.asarray(l1_ball_threshold(xp, V, tau))
    expected = [l1_ball_shrinkage(V[:, j], tau) for j in range(V.shape[1])]
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-14)


def test_l1inf_norm_prox_hand_computed_ties():
    """[2, -2, 2, 1, 0] with tau = 1: 3 (2 - theta) = 1, theta = 5/3, the prox clips
    at theta; [3, 3, -3, 3, 3] with tau = 3: theta = 12/5."""
    V = np.array([[2.0, 3.0], [-2.0, 3.0], [2.0, -3.0], [1.0, 3.0], [0.0, 3.0]])
    pen = L1Inf(xp, 1.0)
    P = np.asarray(pen.norm_prox(V, 1.0))
    np.testing.assert_allclose(P[:, 0], [5 / 3, -5 / 3, 5 / 3, 1.0, 0.0], rtol=1e-14)
    P = np.asarray(pen.norm_prox(V, 3.0))
    np.testing.assert_allclose(P[:, 1], [12 / 5, 12 / 5, -12 / 5, 12 / 5, 12 / 5], rtol=1e-14)


def test_l1inf_single_task_is_soft_thresholding():
    """T = 1: ||w_j||_inf = |w_j|, so the prox is elementwise soft thresholding."""
    rng = np.random.default_rng(1)
    V = rng.standard_normal((1, 9))
    V[0, 0], V[0, 1] = 0.0, 0.5  # a zero, and an entry exactly at the threshold
    tau = 0.5
    P = np.asarray(L1Inf(xp, 1.0).norm_prox(V, tau))
    np.testing.assert_allclose(P, np.sign(V) * np.maximum(np.abs(V) - tau, 0), atol=1e-15)
    assert P[0, 0] == 0.0 and P[0, 1] == 0.0


@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.2, 1.5])
def test_l1inf_prox_with_ridge_matches_cvxpy_and_is_optimal(ridge, step):
    """prox_{s (alpha ||.||_1,inf + r ||.||_F^2)}: CVXPY, and no perturbation does better."""
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
    prob.solve(**CVX_OPTS)
    assert prob.status == cp.OPTIMAL
    np.testing.assert_allclose(P, X.value, atol=1e-7)
    assert obj(P) <= obj(X.value) + 1e-12
    for _ in range(200):
        assert obj(P) <= obj(P + 1e-3 * rng.standard_normal(P.shape)) + 1e-13
    assert np.all(P[:, 1] == 0.0)
    assert float(pen.value(P)) == pytest.approx(
        alpha * NP_NORMS["l1inf"](P) + ridge * np.sum(P ** 2), rel=1e-14)


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
    unit-norm W attains it."""
    rng = np.random.default_rng(3)
    pen = Pen(xp, 1.0)
    for shape in [(3, 5), (1, 4), (6, 2)]:
        for _ in range(300):
            W = rng.standard_normal(shape) * (rng.random(shape) < 0.6)
            V = rng.standard_normal(shape)
            assert np.sum(W * V) <= float(pen.norm(W)) * float(pen.dual_norm(V)) + 1e-12
        for _ in range(10):
            V = rng.standard_normal(shape)
            value, W = closed_form(V)
            assert float(pen.dual_norm(V)) == pytest.approx(value, rel=1e-14)
            assert float(pen.norm(W)) == pytest.approx(1.0)
            assert np.sum(W * V) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize("Pen, project", [(L1Inf, project_l1_balls),
                                          (TaskL2, project_row_l2_balls)])
def test_conjugate_and_fenchel_young(Pen, project):
    """h = alpha N + r ||.||^2: h*(V) = dist(V, alpha * dual ball)^2 / (4 r), and
    h(P) + h*(G) = <P, G> at a prox point P with G = (V - P) / s (the pieces of the
    duality gap the solver certifies)."""
    rng = np.random.default_rng(4)
    alpha, ridge, step = 0.6, 0.25, 0.8
    pen = Pen(xp, alpha, ridge=ridge)
    for _ in range(10):
        V = 1.5 * rng.standard_normal((4, 5))
        expected = np.sum((V - project(V, alpha)) ** 2) / (4 * ridge)
        assert float(pen.conjugate(V)) == pytest.approx(expected, rel=1e-11, abs=1e-14)
        for p in (pen, Pen(xp, alpha)):
            P = np.asarray(p.prox(V, step))
            G = (V - P) / step
            if p.ridge == 0.0:  # G must lie in the dual ball (h* = 0 there)
                assert p.dual_scale(G) == pytest.approx(1.0, abs=1e-12)
            lhs = float(p.value(P)) + float(p.conjugate(G))
            assert lhs == pytest.approx(np.sum(P * G), rel=1e-10, abs=1e-12)


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
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
        assert np.all(got[0] == 0.0)
        assert float(pen.value(V)) == pytest.approx(
            alpha * np.linalg.norm(V, axis=1).sum() + ridge * np.sum(V ** 2), rel=1e-14)


@pytest.mark.parametrize("step", [0.2, 1.0, 4.0])
def test_task_l2_moreau_identity(step):
    """v = prox_{s alpha N}(v) + P_{s alpha B}(v), B the ball of max_t ||v_t||_2."""
    rng = np.random.default_rng(6)
    alpha = 0.6
    pen = TaskL2(xp, alpha)
    for _ in range(10):
        V = 1.5 * rng.standard_normal((5, 4))
        V[1] = 0.0
        residual = V - np.asarray(pen.prox(V, step))
        np.testing.assert_allclose(residual, project_row_l2_balls(V, step * alpha),
                                   rtol=1e-12, atol=1e-13)
        assert np.linalg.norm(residual, axis=1).max() <= step * alpha * (1 + 1e-12)


# -- array API --------------------------------------------------------------------------------

@pytest.mark.parametrize("device_name, dtype_name, atol", [("CPU_DEVICE", "float64", 1e-13),
                                                          ("device1", "float32", 1e-5)])
@pytest.mark.parametrize("Pen", [L1Inf, TaskL2])
def test_prox_in_array_api_strict(device_name, dtype_name, atol, Pen):
    xps = pytest.importorskip("array_api_strict")
    from mtlreg._backend import get_namespace, to_numpy

    V = _l1inf_columns()
    dev, dtype = xps.Device(device_name), getattr(xps, dtype_name)
    Va = xps.asarray(V, dtype=dtype, device=dev)
    xpa = get_namespace(Va)
    pen = Pen(xpa, 0.7, ridge=0.2)
    P = pen.prox(Va, 1.3)
    assert P.device == dev and P.dtype == dtype
    expected = np.asarray(Pen(xp, 0.7, ridge=0.2).prox(V, 1.3))
    np.testing.assert_allclose(to_numpy(P), expected, rtol=0, atol=atol)
    if Pen is L1Inf:  # the exact-tie column keeps exact ties on every backend
        got = to_numpy(P)[:, 7]
        assert got[0] == got[2] == -got[1]
    np.testing.assert_allclose(float(pen.value(Va)), float(Pen(xp, 0.7, ridge=0.2).value(V)),
                               rtol=10 * atol)


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


def _tasks(seed, logistic, sizes=(12, 20, 9, 16), d=5):
    """Tasks of unequal sizes with different intercepts; two features shared by
    all tasks, one task-specific entry and one outlier task, so that both parts
    of every model are active at the strengths used below."""
    rng = np.random.default_rng(seed)
    T = len(sizes)
    Xs = [rng.standard_normal((n, d)) + 0.3 for n in sizes]
    W = np.zeros((d, T))
    W[:2] = rng.choice([-1.0, 1.0], size=(2, 1)) * (1.0 + 0.2 * rng.standard_normal((2, T)))
    W[3, 1] = 1.5
    W[:, 2] += rng.standard_normal(d)
    zs = [X @ W[:, t] + 0.3 * rng.standard_normal(len(X)) + 0.5 * (t - 1)
          for t, X in enumerate(Xs)]
    ys = [np.where(z > 0, 1.0, -1.0) for z in zs] if logistic else zs
    return Xs, ys


def _task_weights(ys, loss_scaling):
    return [1.0 / len(y) if loss_scaling == "mean" else 1.0 for y in ys]


def np_objective(Xs, ys, parts, intercept, model, alpha, beta, ridge, loss_scaling, logistic):
    """The documented objective, in NumPy, at parts of shape (n_tasks, n_features)."""
    P, Q = parts
    W = P + Q
    fit = 0.0
    for t, (X, y, c) in enumerate(zip(Xs, ys, _task_weights(ys, loss_scaling))):
        z = X @ W[t] + intercept[t]
        fit += c * (np.logaddexp(0.0, -y * z).sum() if logistic else 0.5 * np.sum((y - z) ** 2))
    first, second = MODELS[model][3:5]
    return (fit + alpha * NP_NORMS[first](P) + beta * NP_NORMS[second](Q)
            + ridge * (np.sum(P ** 2) + np.sum(Q ** 2)))


def cvxpy_two_part(Xs, ys, model, alpha, beta, ridge, loss_scaling, logistic):
    """Optimal value, parts (as coef, n_tasks x n_features) and intercepts."""
    d, T = Xs[0].shape[1], len(Xs)
    P, Q, b = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    terms = []
    for t, (X, y, c) in enumerate(zip(Xs, ys, _task_weights(ys, loss_scaling))):
        z = X @ (P[:, t] + Q[:, t]) + b[t]
        terms.append(c * (cp.sum(cp.logistic(-cp.multiply(y, z))) if logistic
                          else 0.5 * cp.sum_squares(y - z)))
    first, second = MODELS[model][3:5]
    objective = (sum(terms) + alpha * CVX_NORMS[first](P) + beta * CVX_NORMS[second](Q)
                 + ridge * (cp.sum_squares(P) + cp.sum_squares(Q)))
    value = solve_clarabel(cp.Problem(cp.Minimize(objective)))
    return value, (P.value.T, Q.value.T), b.value


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
    est = Est(tol=1e-10, **params).fit(X, y, tasks=tasks)
    optimum, cvx_parts, cvx_b = cvxpy_two_part(Xs, ys, model, alpha, beta, ridge,
                                               loss_scaling, logistic)
    args = (model, alpha, beta, ridge, loss_scaling, logistic)
    parts = _fitted_parts(est, model)
    assert est.converged_
    assert est.objective_ == pytest.approx(optimum, rel=1e-6)
    # objective_ is the documented objective at the fitted parts and intercepts
    assert est.objective_ == pytest.approx(np_objective(Xs, ys, parts, est.intercept_, *args),
                                           rel=1e-10)
    # and the CVXPY point, evaluated with the same formula, is not better
    at_cvx = np_objective(Xs, ys, cvx_parts, cvx_b, *args)
    assert at_cvx == pytest.approx(optimum, rel=1e-7)
    assert est.objective_ <= at_cvx + 1e-9 * abs(at_cvx)
    # certified gap: small, and an upper bound on the suboptimality
    assert 0.0 <= est.dual_gap_ <= 1e-8 * est.objective_
    assert est.objective_ - optimum <= est.dual_gap_ + 1e-8 * abs(optimum)
    # W = P + Q is unique (strictly convex loss in W on these full-rank designs)
    np.testing.assert_allclose(est.coef_, cvx_parts[0] + cvx_parts[1], atol=1e-4)
    np.testing.assert_allclose(est.intercept_, cvx_b, atol=1e-4)
    if ridge > 0:  # the split into parts is unique too
        for ours, theirs in zip(parts, cvx_parts):
            np.testing.assert_allclose(ours, theirs, atol=1e-4)
    # both parts are active: the comparison exercises the decomposition
    assert all(np.any(p != 0) for p in parts)

    # a fit stopped early: its certified gap still bounds its suboptimality
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        early = Est(tol=1e-10, max_iter=4, **params).fit(X, y, tasks=tasks)
    assert not early.converged_
    early_parts = _fitted_parts(early, model)
    assert early.objective_ == pytest.approx(
        np_objective(Xs, ys, early_parts, early.intercept_, *args), rel=1e-10)
    excess = early.objective_ - optimum
    assert excess > 1e-8 * optimum  # genuinely suboptimal ...
    assert excess <= early.dual_gap_ + 1e-8 * abs(optimum)  # ... and certified so


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
    np.testing.assert_allclose(first + second, est.coef_, rtol=0, atol=1e-14)
    assert np.any(first != 0) and np.any(second != 0)
    if "coef_outlier_" in names:
        flagged = np.flatnonzero(np.any(second != 0, axis=1))
        np.testing.assert_array_equal(est.outlier_tasks_, est.tasks_[flagged])
    if model == "robust":
        s = np.linalg.svd(first, compute_uv=False)
        assert est.rank_ == np.sum(s > max(first.shape) * np.finfo(float).eps * s[0])


# -- planted outlier tasks --------------------------------------------------------------------

# The (alpha, beta) regimes below come from a small grid searched while writing
# these tests on random_state 0, 1, 2: for rMTFL alpha in {0.02, ..., 0.3} x
# alpha_max("l21") and beta in {0.02, ..., 0.5} x alpha_max("task_l2"), for robust
# MTL alpha in {0.01, ..., 0.2} x alpha_max("trace") and beta / alpha in {0.3, ..., 0.9}.
# Exact recovery holds in a band of that grid (rMTFL: beta's fraction about 1-2x
# alpha's; robust: beta / alpha about 0.7-0.9; smaller beta flags inlier tasks too,
# larger beta flags none); the points used are inside it for every seed listed.
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
    # the model fitted with the relabelled tasks is the same as with integer labels
    ref = Est(alpha=alpha, beta=beta).fit(data.X, data.y, tasks=data.tasks)
    order = np.argsort(labels)  # row i of est.coef_ is task labels[order[i]]
    np.testing.assert_allclose(est.coef_outlier_, np.asarray(ref.coef_outlier_)[order],
                               atol=1e-6)
    for label in est.outlier_tasks_:
        assert np.any(np.asarray(est.coef_outlier_)[list(est.tasks_).index(label)] != 0)


# -- reductions to single-part models -----------------------------------------------------------

def _data_gradient(Xs, ys, coef, intercept, logistic, loss_scaling="mean"):
    """grad_W of sum_t c_t loss_t at (coef, intercept), shape (n_tasks, n_features), and
    the gradient in the intercepts."""
    G, gb = [], []
    for t, (X, y, c) in enumerate(zip(Xs, ys, _task_weights(ys, loss_scaling))):
        z = X @ coef[t] + intercept[t]
        dz = -y / (1.0 + np.exp(y * z)) if logistic else z - y
        G.append(c * X.T @ dz)
        gb.append(c * dz.sum())
    return np.array(G), np.array(gb)


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
    assert both.objective_ == pytest.approx(one.objective_, rel=1e-8)
    np.testing.assert_allclose(both.coef_, one.coef_, atol=1e-6)
    np.testing.assert_allclose(both.intercept_, one.intercept_, atol=1e-6)
    # and the argument: at the single model's solution the dual norm of the second
    # part stays below beta
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
    on them, with ||G_:,j||_1 = alpha."""
    Xs, ys = _tasks(10, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    loss = "logistic" if logistic else "squared"
    alpha = 0.2 * alpha_max(X, y, tasks, penalty="l1inf", loss=loss)
    Est = DirtyClassifier if logistic else DirtyRegressor
    est = Est(alpha=alpha, beta=1.2 * alpha, tol=1e-13).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(est.coef_specific_) == 0.0)
    P = np.asarray(est.coef_shared_)
    G, gb = _data_gradient(Xs, ys, P, np.asarray(est.intercept_), logistic)
    np.testing.assert_allclose(gb, 0.0, atol=1e-7)  # optimal intercepts
    n_active = n_tied = 0
    for j in range(P.shape[1]):
        col, g = P[:, j], G[:, j]
        if np.all(col == 0):
            assert np.abs(g).sum() <= alpha * (1 + 1e-6)
            continue
        n_active += 1
        top = np.abs(col) == np.abs(col).max()  # the prox makes ties exact
        n_tied += top.sum() > 1
        np.testing.assert_allclose(g[~top], 0.0, atol=1e-6)
        assert np.all(-g[top] * np.sign(col[top]) >= -1e-6)
        assert np.abs(g).sum() == pytest.approx(alpha, rel=1e-6)
    assert n_active >= 1 and n_tied >= 1  # the conditions were exercised
    # and the optimal value is CVXPY's L1,inf problem
    d, T = X.shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    terms = []
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        z = Xt @ W[:, t] + b[t]
        terms.append((cp.sum(cp.logistic(-cp.multiply(yt, z))) if logistic
                      else 0.5 * cp.sum_squares(yt - z)) / len(yt))
    prob = cp.Problem(cp.Minimize(sum(terms) + alpha * CVX_NORMS["l1inf"](W)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(**CVX_OPTS)
    assert est.objective_ == pytest.approx(prob.value, rel=1e-6)


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
    assert dirty.objective_ == pytest.approx(lasso.objective_, rel=1e-8)
    np.testing.assert_allclose(dirty.coef_specific_, lasso.coef_, atol=1e-6)
    np.testing.assert_allclose(dirty.intercept_, lasso.intercept_, atol=1e-6)
    # the model is not trivial: the Lasso has zeros and non-zeros
    assert np.any(lasso.coef_ == 0) and np.any(lasso.coef_ != 0)


# -- alpha_max for the new norms -----------------------------------------------------------------

def _gradient_at_zero(Xs, ys, logistic, loss_scaling):
    """grad_W F at W = 0 with the optimal intercepts there (closed form: the mean of
    y for squared loss, logit of the fraction of positives for logistic)."""
    G = []
    for X, y, c in zip(Xs, ys, _task_weights(ys, loss_scaling)):
        if logistic:
            p = np.mean(y > 0)
            G.append(c * X.T @ (p - (y > 0)))
        else:
            G.append(-c * X.T @ (y - y.mean()))
    return np.array(G)  # (n_tasks, n_features)


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_formulas(logistic, loss_scaling):
    """max_j sum_t |G_jt| (L1,inf) and max_t ||G_:,t||_2 (per-task L2), W = G's layout."""
    Xs, ys = _tasks(12, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    G = _gradient_at_zero(Xs, ys, logistic, loss_scaling)
    loss = "logistic" if logistic else "squared"
    got = {p: alpha_max(X, y, tasks, penalty=p, loss=loss, loss_scaling=loss_scaling)
           for p in ("l1inf", "task_l2")}
    assert got["l1inf"] == pytest.approx(np.abs(G).sum(axis=0).max(), rel=1e-12)
    assert got["task_l2"] == pytest.approx(np.linalg.norm(G, axis=1).max(), rel=1e-12)


@pytest.mark.parametrize("logistic", [False, True], ids=["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("part", ["l1inf", "task_l2_rmtfl", "task_l2_robust", "both"])
def test_alpha_max_is_the_zero_threshold_of_its_part(part, logistic, loss_scaling):
    """With the other part switched off (strength 1e6), the part is zero just above
    alpha_max and not just below; for the dirty model W = 0 needs both strengths
    above their alpha_max."""
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
    for t, yt in enumerate(ys):  # intercepts: the optimal ones at W = 0
        p = np.mean(yt > 0)
        expected = np.log(p / (1 - p)) if logistic else yt.mean()
        assert float(above.intercept_[t]) == pytest.approx(expected, rel=1e-8)
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
    (FISTA checks the gap every 10 iterations) and the same objective.  Warm
    starting from another alpha reaches the cold solution at the new alpha."""
    Xs, ys = _tasks(15, logistic)
    X, y, tasks = stack_tasks(Xs, ys)
    loss = "logistic" if logistic else "squared"
    alpha, beta = _strengths(X, y, tasks, model, loss, "mean")
    Reg, Clf, kwargs = MODELS[model][:3]
    Est = Clf if logistic else Reg
    est = Est(alpha=alpha, beta=beta, tol=1e-9, **kwargs).fit(X, y, tasks=tasks)
    cold_iter, cold_obj = est.n_iter_, est.objective_
    assert cold_iter > 20
    est.set_params(warm_start=True).fit(X, y, tasks=tasks)
    assert est.converged_ and est.n_iter_ <= 10
    assert est.objective_ == pytest.approx(cold_obj, rel=1e-8)
    # a warm path step: alpha and beta halved
    est.set_params(alpha=alpha / 2, beta=beta / 2).fit(X, y, tasks=tasks)
    cold = Est(alpha=alpha / 2, beta=beta / 2, tol=1e-9, **kwargs).fit(X, y, tasks=tasks)
    assert est.objective_ == pytest.approx(cold.objective_, rel=1e-7)
    np.testing.assert_allclose(est.coef_, cold.coef_, atol=1e-4)


def test_alpha_max_shared_design():
    """2-D Y: G = -X_c^T Y_c / n (n_features x n_tasks here)."""
    rng = np.random.default_rng(16)
    X = rng.standard_normal((25, 7))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((25, 4))
    G = -(X - X.mean(0)).T @ (Y - Y.mean(0)) / 25
    assert alpha_max(X, Y, penalty="l1inf") == pytest.approx(np.abs(G).sum(axis=1).max(),
                                                             rel=1e-12)
    assert alpha_max(X, Y, penalty="task_l2") == pytest.approx(np.linalg.norm(G, axis=0).max(),
                                                               rel=1e-12)
