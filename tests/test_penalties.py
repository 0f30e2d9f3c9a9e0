"""Math of the penalty building blocks in ``mtlreg.penalties``.

Every penalty acts on ``coef`` of shape (n_tasks, n_features) (``W = coef.T``).
Each check compares against something computed independently here: a closed
form written in plain NumPy, a numerical minimization (CVXPY / scipy), the
Moreau identity, the Fenchel-Young (in)equality, or the definition of the
dual norm.  ``alpha_max`` is checked against its formula and against what the
estimators actually fit just above and just below it.
"""

import array_api_compat.numpy as xp
import cvxpy as cp
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from mtlreg import (L21Classifier, L21Regressor, LassoClassifier, LassoRegressor, alpha_max,
                    stack_tasks)
from mtlreg.penalties import L1, L21, MetricQuadratic, SquaredTraceNorm

SHAPES = [(3, 5), (4, 2), (1, 6)]  # (n_tasks, n_features): wide, tall, single task
CVX_OPTS = dict(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)


# -- independent reference formulas ------------------------------------------------------------

def soft_threshold(V, tau):
    return np.sign(V) * np.maximum(np.abs(V) - tau, 0.0)


def group_soft_threshold(V, tau):
    """Shrink each feature (column of coef) towards 0 by ``tau`` in l2 norm."""
    out = np.zeros_like(V)
    for j in range(V.shape[1]):
        nrm = np.linalg.norm(V[:, j])
        if nrm > tau:
            out[:, j] = (1.0 - tau / nrm) * V[:, j]
    return out


def project_linf_ball(V, radius):
    """Projection onto {max |V_ij| <= radius} (dual ball of L1)."""
    return np.clip(V, -radius, radius)


def project_l2inf_ball(V, radius):
    """Projection onto {max_j ||V[:, j]||_2 <= radius} (dual ball of L2,1)."""
    out = V.copy()
    for j in range(V.shape[1]):
        nrm = np.linalg.norm(V[:, j])
        if nrm > radius:
            out[:, j] *= radius / nrm
    return out


def nuclear(W):
    return np.linalg.svd(W, compute_uv=False).sum()


NORMS = {
    # name: (class, norm, dual norm, prox of tau*norm, projection on dual ball, cvxpy norm)
    "l1": (L1, lambda W: np.abs(W).sum(), lambda V: np.abs(V).max(), soft_threshold,
           project_linf_ball, lambda X: cp.sum(cp.abs(X))),
    "l21": (L21, lambda W: np.linalg.norm(W, axis=0).sum(),
            lambda V: np.linalg.norm(V, axis=0).max(), group_soft_threshold,
            project_l2inf_ball, lambda X: cp.sum(cp.norm(X, 2, axis=0))),
}


def cvx_prox(V, step, penalty_expr):
    X = cp.Variable(V.shape)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - V) + step * penalty_expr(X)))
    prob.solve(**CVX_OPTS)
    assert prob.status == cp.OPTIMAL
    return X.value


def _d_step(pen, coef, eps):
    """The closed-form D step of SquaredTraceNorm, ``(eigvecs, eigvals)`` of D_eps."""
    return pen.auxiliary_step(coef, eps)


# -- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_norm_penalty_value(name, ridge):
    cls, norm, dual_norm, *_ = NORMS[name]
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 5))
    pen = cls(xp, 0.7, ridge=ridge)
    assert float(pen.value(W)) == pytest.approx(0.7 * norm(W) + ridge * np.sum(W**2), rel=1e-13)
    assert float(pen.norm(W)) == pytest.approx(norm(W), rel=1e-13)
    assert float(pen.dual_norm(W)) == pytest.approx(dual_norm(W), rel=1e-13)


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_squared_trace_norm_value_and_variational_form(ridge):
    """alpha ||W||_*^2 = alpha min_{D >= 0, tr D <= 1} tr(W^T D^-1 W), attained at
    D = (W W^T)^1/2 / tr(W W^T)^1/2 (Argyriou et al. 2008)."""
    rng = np.random.default_rng(1)
    coef = rng.standard_normal((3, 5))  # W is 5 x 3: rank 3 < 5 features
    W = coef.T
    pen = SquaredTraceNorm(xp, 0.4, ridge=ridge)
    expected = 0.4 * nuclear(W) ** 2 + ridge * np.sum(W**2)
    assert float(pen.value(coef)) == pytest.approx(expected, rel=1e-12)

    # the D step gives D_eps by its eigendecomposition; compare with sqrtm.
    eps = 1e-3
    U, lam = _d_step(pen, coef, eps)
    D = (U * lam) @ U.T
    root = scipy.linalg.sqrtm(W @ W.T + eps * np.eye(5)).real
    np.testing.assert_allclose(D, root / np.trace(root), atol=1e-12)
    # the W-step penalty at D(W) reproduces the squared trace norm as eps -> 0
    U0, lam0 = _d_step(pen, coef, 1e-14)
    step_pen = MetricQuadratic(xp, 0.4, U0, lam0, ridge=ridge)
    assert float(step_pen.value(coef)) == pytest.approx(expected, rel=1e-6)
    # and any other feasible D gives a larger value (it is a minimum over D)
    for _ in range(5):
        A = rng.standard_normal((5, 5))
        D_other = A @ A.T + 1e-3 * np.eye(5)
        D_other /= np.trace(D_other)
        other = 0.4 * np.trace(W.T @ np.linalg.solve(D_other, W)) + ridge * np.sum(W**2)
        assert other >= expected * (1 - 1e-12)


def test_metric_quadratic_value():
    rng = np.random.default_rng(2)
    coef = rng.standard_normal((3, 4))
    A = rng.standard_normal((4, 4))
    D = A @ A.T + 0.1 * np.eye(4)
    lam, U = np.linalg.eigh(D)
    pen = MetricQuadratic(xp, 0.6, U, lam, ridge=0.2)
    W = coef.T
    expected = 0.6 * np.trace(W.T @ np.linalg.solve(D, W)) + 0.2 * np.sum(W**2)
    assert float(pen.value(coef)) == pytest.approx(expected, rel=1e-12)


# -- prox: closed forms and numerical minimization ---------------------------------------------

@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ridge", [0.0, 0.25])
@pytest.mark.parametrize("step", [0.3, 2.0])
def test_norm_prox_closed_form(name, shape, ridge, step):
    """prox_{s(alpha N + r||.||^2)}(v) = prox_{s alpha N}(v) / (1 + 2 s r)."""
    cls, _, _, prox_norm, _, _ = NORMS[name]
    rng = np.random.default_rng(3)
    alpha = 0.8
    pen = cls(xp, alpha, ridge=ridge)
    for _ in range(10):
        V = 2.0 * rng.standard_normal(shape)
        got = np.asarray(pen.prox(V, step))
        expected = prox_norm(V, step * alpha) / (1.0 + 2.0 * step * ridge)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    # and some entries / groups must actually have been thresholded to exactly 0
    V = 0.01 * rng.standard_normal(shape)
    assert np.all(np.asarray(pen.prox(V, step)) == 0.0)


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("ridge", [0.0, 0.25])
def test_norm_prox_matches_cvxpy(name, ridge):
    cls, _, _, _, _, cvx_norm = NORMS[name]
    rng = np.random.default_rng(4)
    alpha, step = 0.5, 0.7
    pen = cls(xp, alpha, ridge=ridge)
    V = rng.standard_normal((3, 5))
    V[:, 1] *= 0.05  # a feature below the threshold: zeroed by both
    expected = cvx_prox(V, step, lambda X: alpha * cvx_norm(X) + ridge * cp.sum_squares(X))
    got = np.asarray(pen.prox(V, step))
    np.testing.assert_allclose(got, expected, atol=1e-7)
    # sparsity pattern: cvxpy's exact zeros are approximate, ours are exact
    assert np.any(got == 0.0) and np.any(got != 0.0)


@pytest.mark.parametrize("shape", SHAPES + [(5, 5)])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.05, 0.5, 5.0])
def test_squared_trace_norm_prox_matches_cvxpy(shape, ridge, step):
    rng = np.random.default_rng(5)
    alpha = 0.6
    pen = SquaredTraceNorm(xp, alpha, ridge=ridge)
    V = rng.standard_normal(shape)
    # W = X.T; the nuclear norm is transpose invariant
    expected = cvx_prox(V, step, lambda X: alpha * cp.square(cp.normNuc(X))
                        + ridge * cp.sum_squares(X))
    got = np.asarray(pen.prox(V, step))
    np.testing.assert_allclose(got, expected, atol=2e-6)
    # the prox objective at ours is not above the solver's (ours is the exact minimizer)
    def obj(X):
        return 0.5 * np.sum((X - V) ** 2) + step * (alpha * nuclear(X) ** 2 + ridge * np.sum(X**2))
    assert obj(got) <= obj(expected) + 1e-9


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_squared_trace_norm_prox_singular_value_form(ridge):
    """Independent check on the singular values: x = argmin 1/2||x - sigma||^2 +
    tau (sum x)^2 + tau_r ||x||^2 over x >= 0 (a small QP solved by scipy)."""
    rng = np.random.default_rng(6)
    alpha, step = 0.35, 1.3
    pen = SquaredTraceNorm(xp, alpha, ridge=ridge)
    for _ in range(5):
        V = rng.standard_normal((4, 6)) * rng.uniform(0.2, 3.0)
        U, sigma, Vt = np.linalg.svd(V, full_matrices=False)

        def f(x):
            return (0.5 * np.sum((x - sigma) ** 2) + step * alpha * np.sum(x) ** 2
                    + step * ridge * np.sum(x**2))

        def g(x):
            return x - sigma + 2 * step * alpha * np.sum(x) + 2 * step * ridge * x

        res = scipy.optimize.minimize(f, sigma, jac=g, bounds=[(0, None)] * sigma.size,
                                      method="L-BFGS-B", options=dict(ftol=1e-15, gtol=1e-12))
        expected = (U * res.x) @ Vt
        got = np.asarray(pen.prox(V, step))
        np.testing.assert_allclose(got, expected, atol=1e-6)
        # small singular values are cut to zero: rank drops exactly
        s_got = np.linalg.svd(got, compute_uv=False)
        assert np.sum(s_got > 1e-10) == np.sum(res.x > 1e-8)


@pytest.mark.parametrize("ridge", [0.0, 0.4])
@pytest.mark.parametrize("step", [0.1, 3.0])
def test_metric_quadratic_prox_closed_form(ridge, step):
    """prox: (I + 2 s alpha D^-1 + 2 s r I) w_t = v_t for each task (linear solve)."""
    rng = np.random.default_rng(7)
    d, T, alpha = 5, 3, 0.7
    A = rng.standard_normal((d, d))
    D = A @ A.T + 0.05 * np.eye(d)
    D /= np.trace(D)
    lam, U = np.linalg.eigh(D)
    pen = MetricQuadratic(xp, alpha, U, lam, ridge=ridge)
    V = rng.standard_normal((T, d))
    M = np.eye(d) * (1 + 2 * step * ridge) + 2 * step * alpha * np.linalg.inv(D)
    expected = np.linalg.solve(M, V.T).T
    got = np.asarray(pen.prox(V, step))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # numerical minimization of the (smooth) prox objective
    def f(x):
        X = x.reshape(T, d)
        return 0.5 * np.sum((X - V) ** 2) + step * float(pen.value(X))
    res = scipy.optimize.minimize(f, V.ravel(), method="BFGS", options=dict(gtol=1e-10))
    np.testing.assert_allclose(got, res.x.reshape(T, d), atol=1e-6)


# -- Moreau identity, conjugates, Fenchel-Young -----------------------------------------------

@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("step", [0.2, 1.0, 4.0])
def test_moreau_identity_norms(name, shape, step):
    """With h = alpha N, h* is the indicator of the dual ball of radius alpha, so
    v = prox_{s h}(v) + s prox_{h*/s}(v/s) = prox_{s h}(v) + Proj_{dual ball, s alpha}(v)."""
    cls, _, dual_norm, _, project, _ = NORMS[name]
    rng = np.random.default_rng(8)
    alpha = 0.6
    pen = cls(xp, alpha)
    for _ in range(10):
        V = 1.5 * rng.standard_normal(shape)
        residual = V - np.asarray(pen.prox(V, step))
        np.testing.assert_allclose(residual, project(V, step * alpha), rtol=1e-12, atol=1e-13)
        # that residual is in the dual ball, on its boundary when the prox is not V itself
        assert dual_norm(residual) <= step * alpha * (1 + 1e-12)


@pytest.mark.parametrize("name", sorted(NORMS))
def test_norm_conjugate_with_ridge(name):
    """h = alpha N + r ||.||^2: h*(V) = dist(V, dual ball of radius alpha)^2 / (4 r);
    checked against the projection and against a CVXPY sup for a few V."""
    cls, norm, _, _, project, cvx_norm = NORMS[name]
    rng = np.random.default_rng(9)
    alpha, ridge = 0.5, 0.3
    pen = cls(xp, alpha, ridge=ridge)
    for i in range(6):
        V = rng.standard_normal((3, 4))
        expected = np.sum((V - project(V, alpha)) ** 2) / (4 * ridge)
        assert float(pen.conjugate(V)) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        if i < 2:
            X = cp.Variable(V.shape)
            prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(V, X)) - alpha * cvx_norm(X)
                                          - ridge * cp.sum_squares(X)))
            prob.solve(**CVX_OPTS)
            assert float(pen.conjugate(V)) == pytest.approx(prob.value, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.3, 2.0])
def test_fenchel_young_at_prox_norms(name, ridge, step):
    """G = (v - P)/s is a subgradient of h at P = prox_{s h}(v): h(P) + h*(G) = <P, G>.

    With ridge = 0, penalty.conjugate assumes its argument is inside the dual ball
    (after dual_scale): check that G is inside, and that dual_scale leaves it alone."""
    cls, *_ = NORMS[name]
    rng = np.random.default_rng(10)
    pen = cls(xp, 0.7, ridge=ridge)
    for _ in range(10):
        V = 1.5 * rng.standard_normal((3, 5))
        P = np.asarray(pen.prox(V, step))
        G = (V - P) / step
        lhs = float(pen.value(P)) + float(pen.conjugate(G))
        assert lhs == pytest.approx(np.sum(P * G), rel=1e-10, abs=1e-12)
        if ridge == 0.0:
            assert float(pen.dual_norm(G)) <= 0.7 * (1 + 1e-12)
            assert pen.dual_scale(G) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(NORMS))
def test_fenchel_young_inequality_norms(name):
    cls, _, dual_norm, *_ = NORMS[name]
    rng = np.random.default_rng(11)
    for ridge in (0.0, 0.3):
        pen = cls(xp, 0.7, ridge=ridge)
        for _ in range(200):
            W = rng.standard_normal((3, 5)) * rng.uniform(0.01, 3)
            V = rng.standard_normal((3, 5)) * rng.uniform(0.01, 3)
            if ridge == 0.0:  # h* is finite (= 0) only on the dual ball: scale into it
                V = V * pen.dual_scale(V)
                assert dual_norm(V) <= 0.7 * (1 + 1e-12)
            assert float(pen.value(W)) + float(pen.conjugate(V)) >= np.sum(W * V) - 1e-12


@pytest.mark.parametrize("name", sorted(NORMS))
def test_dual_scale(name):
    cls, _, dual_norm, *_ = NORMS[name]
    rng = np.random.default_rng(12)
    pen = cls(xp, 0.5)
    for scale in (0.01, 1.0, 10.0):
        V = scale * rng.standard_normal((3, 5))
        s = pen.dual_scale(V)
        assert s == pytest.approx(min(1.0, 0.5 / dual_norm(V)), rel=1e-13)
    # with a ridge, the conjugate is finite everywhere: no scaling
    assert cls(xp, 0.5, ridge=0.1).dual_scale(10 * V) == 1.0


@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(3, 5), (4, 2)])
def test_squared_trace_norm_conjugate_matches_cvxpy(ridge, shape):
    """h*(V) = sup_W <V, W> - alpha ||W||_*^2 - r ||W||_F^2 (ridge = 0: ||V||_op^2 / (4 alpha))."""
    rng = np.random.default_rng(13)
    alpha = 0.4
    pen = SquaredTraceNorm(xp, alpha, ridge=ridge)
    for _ in range(3):
        V = rng.standard_normal(shape) * rng.uniform(0.3, 3)
        X = cp.Variable(shape)
        prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(V, X)) - alpha * cp.square(cp.normNuc(X))
                                      - ridge * cp.sum_squares(X)))
        prob.solve(**CVX_OPTS)
        assert float(pen.conjugate(V)) == pytest.approx(prob.value, rel=1e-6, abs=1e-9)
        if ridge == 0.0:
            assert float(pen.conjugate(V)) == pytest.approx(
                np.linalg.norm(V, 2) ** 2 / (4 * alpha), rel=1e-12)


@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("step", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_squared_trace_norm_fenchel_young(ridge, step, shape):
    """Equality at the prox point, inequality at random pairs."""
    rng = np.random.default_rng(14)
    pen = SquaredTraceNorm(xp, 0.5, ridge=ridge)
    for _ in range(5):
        V = rng.standard_normal(shape) * rng.uniform(0.2, 3)
        P = np.asarray(pen.prox(V, step))
        G = (V - P) / step
        lhs = float(pen.value(P)) + float(pen.conjugate(G))
        assert lhs == pytest.approx(np.sum(P * G), rel=1e-10, abs=1e-12)
    for _ in range(200):
        W = rng.standard_normal(shape) * rng.uniform(0.01, 3)
        V = rng.standard_normal(shape) * rng.uniform(0.01, 3)
        assert float(pen.value(W)) + float(pen.conjugate(V)) >= np.sum(W * V) - 1e-12


@pytest.mark.parametrize("step", [0.2, 2.0])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3)])
def test_squared_trace_norm_moreau_identity(step, shape):
    """v = prox_{s h}(v) + s prox_{h*/s}(v/s) with h*(U) = ||U||_op^2 / (4 alpha) (ridge = 0).

    h* is orthogonally invariant, so its prox keeps the singular vectors of v/s and
    clips its singular values u_i at a level m: x_i = min(u_i, m), with m minimizing
    1/2 sum (u_i - m)_+^2 + m^2 / (4 alpha s) (a scalar problem, solved by scipy)."""
    rng = np.random.default_rng(15)
    alpha = 0.5
    pen = SquaredTraceNorm(xp, alpha)
    for _ in range(5):
        V = rng.standard_normal(shape) * rng.uniform(0.2, 3)
        U, sig, Vt = np.linalg.svd(V / step, full_matrices=False)

        def f(m):
            return 0.5 * np.sum(np.maximum(sig - m, 0) ** 2) + m**2 / (4 * alpha * step)

        m = scipy.optimize.minimize_scalar(f, bounds=(0, sig.max()), method="bounded",
                                           options=dict(xatol=1e-13)).x
        conj_prox = (U * np.minimum(sig, m)) @ Vt
        P = np.asarray(pen.prox(V, step))
        np.testing.assert_allclose(P + step * conj_prox, V, atol=1e-9)


@pytest.mark.parametrize("ridge", [0.0, 0.4])
def test_metric_quadratic_moreau_identity(ridge):
    """q(W) = sum_t w_t^T A w_t with A = alpha D^-1 + r I; q*(V) = 1/4 sum_t v_t^T A^-1 v_t,
    whose prox is closed form: prox_{q*/s}(u) = (I + A^-1 / (2 s))^-1 u."""
    rng = np.random.default_rng(16)
    d, T, alpha, step = 4, 3, 0.6, 0.8
    B = rng.standard_normal((d, d))
    D = B @ B.T + 0.1 * np.eye(d)
    lam, U = np.linalg.eigh(D)
    pen = MetricQuadratic(xp, alpha, U, lam, ridge=ridge)
    A = alpha * np.linalg.inv(D) + ridge * np.eye(d)
    V = rng.standard_normal((T, d))
    conj_prox = np.linalg.solve(np.eye(d) + np.linalg.inv(A) / (2 * step), (V / step).T).T
    np.testing.assert_allclose(np.asarray(pen.prox(V, step)) + step * conj_prox, V,
                               rtol=1e-10, atol=1e-12)


# -- dual norm -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_dual_norm_is_dual_of_norm(name, shape):
    cls, *_ = NORMS[name]
    rng = np.random.default_rng(17)
    pen = cls(xp, 1.0)
    for _ in range(500):
        W = rng.standard_normal(shape) * (rng.random(shape) < 0.6)
        V = rng.standard_normal(shape)
        assert np.sum(W * V) <= float(pen.norm(W)) * float(pen.dual_norm(V)) * (1 + 1e-12) + 1e-15
    # equality at a constructed maximizer of <W, V> over the unit norm ball
    for _ in range(20):
        V = rng.standard_normal(shape)
        W = np.zeros(shape)
        if name == "l1":
            i, j = np.unravel_index(np.argmax(np.abs(V)), shape)
            W[i, j] = np.sign(V[i, j])
        else:
            j = np.argmax(np.linalg.norm(V, axis=0))
            W[:, j] = V[:, j] / np.linalg.norm(V[:, j])
        assert float(pen.norm(W)) == pytest.approx(1.0, rel=1e-14)
        assert np.sum(W * V) == pytest.approx(float(pen.dual_norm(V)), rel=1e-13)


# -- alpha_max -----------------------------------------------------------------------------------

def _tasks_data(seed, classification):
    rng = np.random.default_rng(seed)
    sizes, d = (14, 30, 9, 21), 6
    Xs = [rng.standard_normal((n, d)) + 0.5 for n in sizes]
    Wt = rng.standard_normal((len(sizes), d))
    Wt[:, 3:] = 0
    if classification:
        # both classes in every task, in different proportions (intercepts differ)
        scores = [X @ Wt[t] + 0.5 * rng.standard_normal(len(X)) for t, X in enumerate(Xs)]
        ys = [np.where(z > np.quantile(z, q), "pos", "neg")
              for z, q in zip(scores, (0.3, 0.5, 0.6, 0.75))]
    else:
        ys = [X @ Wt[t] + 0.3 * rng.standard_normal(len(X)) + 2.0 * t for t, X in enumerate(Xs)]
    return Xs, ys


def _gradient_at_zero(Xs, ys, loss, loss_scaling):
    """grad_W of sum_t c_t loss_t at W = 0 with the optimal intercepts, (n_tasks, d)."""
    G = []
    for X, y in zip(Xs, ys):
        c = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        if loss == "squared":  # optimal b = mean(y): residual y - mean(y)
            G.append(-c * X.T @ (y - y.mean()))
        else:  # optimal b: sigmoid(b) = fraction of positives p; dloss/dz = p - 1[y = +]
            y01 = (y == "pos").astype(float)
            G.append(c * X.T @ (y01.mean() - y01))
    return np.array(G)


@pytest.mark.parametrize("penalty", ["l1", "l21"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_formula(penalty, loss, loss_scaling):
    Xs, ys = _tasks_data(20, loss == "logistic")
    X, y, tasks = stack_tasks(Xs, ys)
    G = _gradient_at_zero(Xs, ys, loss, loss_scaling)
    expected = np.abs(G).max() if penalty == "l1" else np.linalg.norm(G, axis=0).max()
    got = alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling)
    assert got == pytest.approx(expected, rel=1e-12)


ALPHA_MAX_ESTIMATORS = {
    ("l1", "squared"): LassoRegressor, ("l21", "squared"): L21Regressor,
    ("l1", "logistic"): LassoClassifier, ("l21", "logistic"): L21Classifier,
}


@pytest.mark.parametrize("penalty", ["l1", "l21"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_is_the_zero_threshold(penalty, loss, loss_scaling):
    """Just above alpha_max the fitted coef_ is exactly 0, just below it is not."""
    Xs, ys = _tasks_data(21, loss == "logistic")
    X, y, tasks = stack_tasks(Xs, ys)
    amax = alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling)
    est = ALPHA_MAX_ESTIMATORS[(penalty, loss)]
    above = est(alpha=amax * 1.0001, loss_scaling=loss_scaling, tol=1e-10).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(above.coef_) == 0.0)
    below = est(alpha=amax * 0.99, loss_scaling=loss_scaling, tol=1e-10).fit(X, y, tasks=tasks)
    assert below.converged_
    assert np.any(np.asarray(below.coef_) != 0.0)
    # ... with intercepts that are the optimal ones at W = 0 above alpha_max
    for t, yt in enumerate(ys):
        if loss == "squared":
            expected_b = yt.mean()
        else:
            p = np.mean(yt == "pos")
            expected_b = np.log(p / (1 - p))
        assert float(above.intercept_[t]) == pytest.approx(expected_b, rel=1e-8)


@pytest.mark.parametrize("penalty", ["l1", "l21"])
def test_alpha_max_shared_design(penalty):
    """Shared design (2-D Y): alpha_max = dual norm of X^T (Y - mean) / n."""
    rng = np.random.default_rng(22)
    X = rng.standard_normal((25, 7))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((25, 4))
    G = -(X - X.mean(0)).T @ (Y - Y.mean(0)) / 25  # (d, T) = W layout
    expected = np.abs(G).max() if penalty == "l1" else np.linalg.norm(G, axis=1).max()
    amax = alpha_max(X, Y, penalty=penalty)
    assert amax == pytest.approx(expected, rel=1e-12)
    est = LassoRegressor if penalty == "l1" else L21Regressor
    assert np.all(est(alpha=amax * 1.0001, tol=1e-10).fit(X, Y).coef_ == 0.0)
    assert np.any(est(alpha=amax * 0.99, tol=1e-10).fit(X, Y).coef_ != 0.0)


# ------------------------------------------- cASO / clustered water-filling
def _water_filling_by_bisection(sigma, eta, k):
    """Independent reference: bisection on ``s`` for ``sum clip(s sigma - eta, 0, 1) = k``."""
    sigma = np.asarray(sigma, dtype=np.float64)
    d = sigma.shape[0]
    if k >= d:
        return np.ones(d)
    if sigma.max() == 0.0:
        return np.full(d, k / d)
    lo, hi = 0.0, (1.0 + eta) / sigma[sigma > 0].min()
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if np.clip(mid * sigma - eta, 0.0, 1.0).sum() < k:
            lo = mid
        else:
            hi = mid
    m = np.clip(hi * sigma - eta, 0.0, 1.0)
    if m.sum() < k:  # fewer positive sigma than k: the zero directions share the rest
        free = sigma == 0
        m[free] = min(1.0, (k - m.sum()) / free.sum())
    return m


def _random_spectra(n_cases, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        d = int(rng.integers(1, 12))
        k = int(rng.integers(1, d + 1))
        eta = float(rng.choice([1e-3, 0.1, 1.0, 10.0]))
        sigma = np.abs(rng.standard_normal(d)) * float(rng.choice([1e-3, 1.0, 100.0]))
        if rng.random() < 0.3:
            sigma[rng.random(d) < 0.4] = 0.0
        if rng.random() < 0.2:
            sigma[:] = sigma[0]  # ties
        yield sigma, eta, k


def test_aso_water_filling_matches_bisection_and_is_feasible():
    """The sorted-events solution (no bisection, no host read) attains the
    bisection reference's minimum of ``sum sigma^2 / (eta + m)`` and is
    feasible, on 2,000 random spectra with zeros, ties, narrow intervals
    (eta = 10 with large sigma, where S(s) has flat stretches at k)."""
    from mtlreg.penalties.aso import aso_eigenvalues

    def objective(sigma, eta, m):
        return np.sum(sigma ** 2 / (eta + m))

    for sigma, eta, k in _random_spectra(2000):
        m = np.asarray(aso_eigenvalues(xp, sigma, eta, k))
        ref = _water_filling_by_bisection(sigma, eta, k)
        assert abs(m.sum() - k) <= 1e-9 * k
        assert m.min() >= 0.0 and m.max() <= 1.0
        assert objective(sigma, eta, m) == pytest.approx(objective(sigma, eta, ref),
                                                         rel=1e-11, abs=1e-300)


def test_aso_water_filling_on_a_flat_stretch():
    """S(s) is flat at k between the 5th saturation and the 6th activation;
    a rounding of S just below k there must not send s to 0."""
    from mtlreg.penalties.aso import aso_eigenvalues

    sigma = np.array([110.1466646508137, 147.28441262724533, 51.95331575583639,
                      51.98689946949363, 232.01475470758686, 19.96556653052279])
    m = np.asarray(aso_eigenvalues(xp, sigma, 10.0, 5))
    np.testing.assert_allclose(m, [1, 1, 1, 1, 1, 0], atol=1e-12)
