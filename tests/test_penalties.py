"""Math of the penalty building blocks in ``mtlreg.penalties``.

Every penalty acts on ``coef`` of shape (n_tasks, n_features) (``W = coef.T``).
Each check compares against something computed independently here: a closed
form written in plain NumPy, a numerical minimization (CVXPY / scipy), the
Moreau identity, the Fenchel-Young (in)equality, or the definition of the
dual norm.  ``alpha_max`` is checked against its formula and against what the
estimators actually fit just above and just below it.

Tolerances: a closed form is compared at the rounding level of its
computation (a small multiple of ``eps`` times the size of the quantities,
stated where it is used); a numerical reference is trusted only as far as it
is checked: CVXPY's through :mod:`cvxpy_reference` (its objective re-evaluated
at its own point, its claimed accuracy), scipy's through the strong convexity
of the problem it solves (its gradient bounds its distance to the minimizer).
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

from cvxpy_reference import assert_matches_reference, rounding, solve_reference

SHAPES = [(3, 5), (4, 2), (1, 6)]  # (n_tasks, n_features): wide, tall, single task
EPS = np.finfo(np.float64).eps


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


def assert_prox_matches_cvxpy(P, V, step, penalty_expr, penalty_value, mu):
    """``P``, claimed to be the exact prox, against CVXPY's minimizer ``Q`` of
    ``f(X) = 1/2 ||X - V||^2 + step * penalty(X)``, a ``mu``-strongly convex function.

    ``f(P)`` is not above the reference's (re-evaluated) value and the
    reference is within its claimed accuracy of it (:mod:`cvxpy_reference`);
    then ``||Q - P|| <= sqrt(2 (f(Q) - f(P)) / mu)`` because ``P`` minimizes
    ``f``, plus the rounding of ``P`` (a few eps ``||V||``)."""
    X = cp.Variable(V.shape)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - V) + step * penalty_expr(X)))
    ref = solve_reference(prob)
    Q = X.value

    def f(Z):
        return 0.5 * np.sum((Z - V) ** 2) + step * penalty_value(Z)

    value = f(P)
    assert_matches_reference(value, 0.0, ref, at_reference=f(Q))
    slack = rounding(value, ref.upper)
    bound = np.sqrt(2.0 * max(ref.upper - value + slack, 0.0) / mu) + 64 * EPS * np.linalg.norm(V)
    assert np.linalg.norm(Q - P) <= bound, (np.linalg.norm(Q - P), bound)
    return Q


def conjugate_reference(V, penalty_expr):
    """CVXPY's ``sup_X <V, X> - h(X)`` as a checked reference for ``-h*(V)``:
    the minimum of ``h(X) - <V, X>`` (``upper`` is a feasible value of it)."""
    X = cp.Variable(V.shape)
    return solve_reference(cp.Problem(cp.Minimize(penalty_expr(X) - cp.sum(cp.multiply(V, X)))))


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
    # sums of 15 non-negative terms (and 3-term column norms): exact to 15 eps
    # relative whatever the order of the terms; 1e-13 is 450 eps
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
    # singular values exact to a few eps ||W||_2 <= a few eps ||W||_*: 1e-12 is 4500 eps
    assert float(pen.value(coef)) == pytest.approx(expected, rel=1e-12)

    # the D step gives D_eps by its eigendecomposition; compare with sqrtm.
    eps = 1e-3
    U, lam = _d_step(pen, coef, eps)
    D = (U * lam) @ U.T
    A = W @ W.T + eps * np.eye(5)
    root = scipy.linalg.sqrtm(A).real
    # both square roots are backward stable (A exact to a few eps ||A||), and
    # the square root's derivative is at most 1 / (2 sqrt(lambda_min(A)))
    sqrt_rounding = 64 * EPS * np.linalg.norm(A, 2) / (2 * np.sqrt(eps)) / np.trace(root)
    np.testing.assert_allclose(D, root / np.trace(root), rtol=0, atol=sqrt_rounding)
    # The W-step penalty at D_eps(W) reproduces the squared trace norm as eps -> 0:
    # with lambda_i the eigenvalues of W W^T (2 of 5 are zero: rank 3), its value
    # is alpha (sum_i sqrt(lambda_i + eps)) (sum_i lambda_i / sqrt(lambda_i + eps)),
    # which exceeds alpha ||W||_*^2 by at most alpha ||W||_* 2 sqrt(eps') for the
    # two zero eigenvalues, computed as at most eps' = eps + 64 eps_64 ||W||_F^2.
    eps = 1e-14
    U0, lam0 = _d_step(pen, coef, eps)
    step_pen = MetricQuadratic(xp, 0.4, U0, lam0, ridge=ridge)
    excess = float(step_pen.value(coef)) - expected
    zero_eigenvalues = 2 * np.sqrt(eps + 64 * EPS * np.sum(W**2))
    assert -rounding(expected) <= excess <= 0.4 * nuclear(W) * zero_eigenvalues + rounding(
        expected)
    # and any other feasible D gives a larger value (it is a minimum over D),
    # up to the rounding of the solve: cond(D) eps relative
    for _ in range(5):
        A = rng.standard_normal((5, 5))
        D_other = A @ A.T + 1e-3 * np.eye(5)
        D_other /= np.trace(D_other)
        other = 0.4 * np.trace(W.T @ np.linalg.solve(D_other, W)) + ridge * np.sum(W**2)
        assert other >= expected - 64 * EPS * np.linalg.cond(D_other) * other


def test_metric_quadratic_value():
    rng = np.random.default_rng(2)
    coef = rng.standard_normal((3, 4))
    A = rng.standard_normal((4, 4))
    D = A @ A.T + 0.1 * np.eye(4)
    lam, U = np.linalg.eigh(D)
    pen = MetricQuadratic(xp, 0.6, U, lam, ridge=0.2)
    W = coef.T
    expected = 0.6 * np.trace(W.T @ np.linalg.solve(D, W)) + 0.2 * np.sum(W**2)
    # a sum of positive terms through D^-1, by a solve and by eigh: each exact
    # to cond(D) eps relative, with a modest constant
    assert float(pen.value(coef)) == pytest.approx(expected,
                                                   rel=64 * EPS * np.linalg.cond(D))


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
        # a shrinkage of |v| by s alpha (or of a 4-term group norm), then a
        # division: each side exact to a few eps (|v| + s alpha) / (1 + 2 s r)
        size = (np.abs(V) + step * alpha) / (1.0 + 2.0 * step * ridge)
        assert np.all(np.abs(got - expected) <= 16 * EPS * size)
    # and some entries / groups must actually have been thresholded to exactly 0
    # (|v| <= 0.05 against the threshold s alpha >= 0.24)
    V = 0.01 * rng.standard_normal(shape)
    assert np.all(np.asarray(pen.prox(V, step)) == 0.0)


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("ridge", [0.0, 0.25])
def test_norm_prox_matches_cvxpy(name, ridge):
    cls, norm, _, _, _, cvx_norm = NORMS[name]
    rng = np.random.default_rng(4)
    alpha, step = 0.5, 0.7
    pen = cls(xp, alpha, ridge=ridge)
    V = rng.standard_normal((3, 5))
    V[:, 1] *= 0.05  # a feature below the threshold: zeroed by both
    got = np.asarray(pen.prox(V, step))
    assert_prox_matches_cvxpy(got, V, step,
                              lambda X: alpha * cvx_norm(X) + ridge * cp.sum_squares(X),
                              lambda X: alpha * norm(X) + ridge * np.sum(X**2),
                              mu=1.0 + 2.0 * step * ridge)
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
    # W = X.T; the nuclear norm is transpose invariant; the prox objective is
    # (1 + 2 s r)-strongly convex (the squared nuclear norm is convex)
    got = np.asarray(pen.prox(V, step))
    assert_prox_matches_cvxpy(got, V, step,
                              lambda X: (alpha * cp.square(cp.normNuc(X))
                                         + ridge * cp.sum_squares(X)),
                              lambda X: alpha * nuclear(X) ** 2 + ridge * np.sum(X**2),
                              mu=1.0 + 2.0 * step * ridge)


def _qp_residual(x, sigma, tau, tau_r):
    """Norm of the minimal-norm element of the subdifferential of ``1/2 ||x -
    sigma||^2 + tau (sum x)^2 + tau_r ||x||^2 + indicator(x >= 0)`` at ``x >=
    0`` (the gradient ``g``, with ``min(g_i, 0)`` where ``x_i = 0``: the normal
    cone), plus the rounding of ``g`` (sums of ``n + 3`` terms)."""
    g = x - sigma + 2 * tau * np.sum(x) + 2 * tau_r * x
    size = np.abs(x) + sigma + 2 * tau * np.sum(np.abs(x)) + 2 * tau_r * np.abs(x)
    r = np.where(x > 0, g, np.minimum(g, 0.0))
    return np.linalg.norm(r) + (x.size + 3) * EPS * np.linalg.norm(size)


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_squared_trace_norm_prox_singular_value_form(ridge):
    """Independent check on the singular values: x = argmin 1/2||x - sigma||^2 +
    tau (sum x)^2 + tau_r ||x||^2 over x >= 0 (a small QP, mu = 1 + 2 tau_r
    strongly convex): the prox keeps V's singular vectors, its singular values
    satisfy the QP's optimality conditions, and L-BFGS-B's solution is within
    the distance the two points' optimality residuals allow,
    ``||x - x'|| <= (||r|| + ||r'||) / mu``."""
    rng = np.random.default_rng(6)
    alpha, step = 0.35, 1.3
    tau, tau_r = step * alpha, step * ridge
    mu = 1.0 + 2.0 * tau_r
    pen = SquaredTraceNorm(xp, alpha, ridge=ridge)
    for _ in range(5):
        V = rng.standard_normal((4, 6)) * rng.uniform(0.2, 3.0)
        U, sigma, Vt = np.linalg.svd(V, full_matrices=False)
        # SVDs and products of a 4 x 6 matrix: exact to a few eps ||V||_2 (LAPACK)
        svd_rounding = 64 * EPS * sigma[0]

        def f(x):
            return 0.5 * np.sum((x - sigma) ** 2) + tau * np.sum(x) ** 2 + tau_r * np.sum(x**2)

        def g(x):
            return x - sigma + 2 * tau * np.sum(x) + 2 * tau_r * x

        res = scipy.optimize.minimize(f, sigma, jac=g, bounds=[(0, None)] * sigma.size,
                                      method="L-BFGS-B", options=dict(ftol=1e-15, gtol=1e-12))
        got = np.asarray(pen.prox(V, step))
        # the prox in V's singular basis: diagonal, with values x
        C = U.T @ got @ Vt.T
        x = np.diag(C).copy()
        assert np.linalg.norm(C - np.diag(x)) <= svd_rounding
        assert x.min() >= -svd_rounding
        x = np.where(x > svd_rounding, x, 0.0)  # zero where it is zero to rounding
        # ours satisfies the optimality conditions to rounding (L = 1 + 2 tau_r +
        # 2 tau n is the gradient's Lipschitz constant)
        lipschitz = mu + 2 * tau * sigma.size
        r = _qp_residual(x, sigma, tau, tau_r)
        assert r <= lipschitz * svd_rounding * np.sqrt(sigma.size)
        # L-BFGS-B's point is as close as both residuals say
        r_ref = _qp_residual(res.x, sigma, tau, tau_r)
        expected = (U * res.x) @ Vt
        assert np.linalg.norm(got - expected) <= (r + r_ref) / mu + 2 * svd_rounding
        # small singular values are cut to zero: rank drops exactly.  x_i > 0
        # exactly where sigma_i > 2 tau sum(x) (the optimality conditions)
        active = sigma > 2 * tau * np.sum(x)
        s_got = np.linalg.svd(got, compute_uv=False)
        assert np.all(s_got[~active] <= svd_rounding) and np.all(s_got[active] > svd_rounding)


@pytest.mark.parametrize("ridge", [0.0, 0.4])
@pytest.mark.parametrize("step", [0.1, 3.0])
def test_metric_quadratic_prox_closed_form(ridge, step):
    """prox: (I + 2 s alpha D^-1 + 2 s r I) w_t = v_t for each task (linear
    optimality condition of the mu-strongly convex prox objective, mu >= 1)."""
    rng = np.random.default_rng(7)
    d, T, alpha = 5, 3, 0.7
    A = rng.standard_normal((d, d))
    D = A @ A.T + 0.05 * np.eye(d)
    D /= np.trace(D)
    lam, U = np.linalg.eigh(D)
    pen = MetricQuadratic(xp, alpha, U, lam, ridge=ridge)
    V = rng.standard_normal((T, d))
    M = np.eye(d) * (1 + 2 * step * ridge) + 2 * step * alpha * np.linalg.inv(D)
    got = np.asarray(pen.prox(V, step))

    def gradient(X):  # of f(X) = 1/2 ||X - V||^2 + s (alpha tr(W^T D^-1 W) + r ||W||^2)
        return X @ M - V  # M is symmetric

    # the residual M w_t - v_t at ours: zero up to the rounding of inv(D)
    # (cond(D) eps relative) and of the products
    rounding_M = 64 * EPS * np.linalg.cond(D) * np.linalg.norm(M, 2)
    assert np.linalg.norm(gradient(got)) <= (rounding_M * np.linalg.norm(got)
                                             + 64 * EPS * np.linalg.norm(V))
    # numerical minimization of the (smooth) prox objective: ||x - x*|| <= ||grad f(x)|| / mu
    def f(x):
        X = x.reshape(T, d)
        return 0.5 * np.sum((X - V) ** 2) + step * float(pen.value(X))
    res = scipy.optimize.minimize(f, V.ravel(), method="BFGS", options=dict(gtol=1e-10))
    X_ref = res.x.reshape(T, d)
    bound = (np.linalg.norm(gradient(got)) + np.linalg.norm(gradient(X_ref))
             + rounding_M * (np.linalg.norm(got) + np.linalg.norm(X_ref))
             + 128 * EPS * np.linalg.norm(V))
    assert np.linalg.norm(got - X_ref) <= bound  # mu >= 1


# -- Moreau identity, conjugates, Fenchel-Young -----------------------------------------------

def _fenchel_young_rounding(*terms):
    """Rounding of ``h(P) + h*(G) - <P, G>`` (each a sum of at most a few dozen
    products, or an SVD's): ``64 eps`` times the sum of their magnitudes."""
    return 64 * EPS * sum(float(np.sum(np.abs(t))) for t in terms)


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
        # a shrinkage and a clip of |v| (or of a group norm of <= 4 terms) at
        # s alpha: each exact to a few eps (|v| + s alpha)
        rounding_V = 16 * EPS * (np.abs(V) + step * alpha)
        assert np.all(np.abs(residual - project(V, step * alpha)) <= rounding_V)
        # that residual is in the dual ball, on its boundary when the prox is not V itself
        assert dual_norm(residual) <= step * alpha + np.max(rounding_V)


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
        distance = V - project(V, alpha)
        expected = np.sum(distance ** 2) / (4 * ridge)
        # each distance (|v| - alpha, or a group norm's) is exact to a few eps
        # (|v| + alpha): the sum of squares to 2 |d| times that, summed
        rounding_h = 16 * EPS * np.sum(np.abs(distance) * (np.abs(V) + alpha)) / (4 * ridge)
        assert abs(float(pen.conjugate(V)) - expected) <= rounding_h + 16 * EPS * expected
        if i < 2:
            ref = conjugate_reference(V, lambda X: alpha * cvx_norm(X) + ridge * cp.sum_squares(X))
            assert_matches_reference(-float(pen.conjugate(V)), 0.0, ref)


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
        hP, hG = float(pen.value(P)), float(pen.conjugate(G))
        assert abs(hP + hG - np.sum(P * G)) <= _fenchel_young_rounding(hP, hG, P * G)
        if ridge == 0.0:
            # G = (v - P) / s, with v - P exact to a few eps |v| (a shrinkage)
            rounding_G = 16 * EPS * np.max(np.abs(V)) / step
            assert float(pen.dual_norm(G)) <= 0.7 + rounding_G
            assert pen.dual_scale(G) >= 1.0 - rounding_G / 0.7


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
                # max |v| * (0.7 / max |v|), or a 3-term norm's: a few eps off
                assert dual_norm(V) <= 0.7 * (1 + 16 * EPS)
            hW, hV = float(pen.value(W)), float(pen.conjugate(V))
            assert hW + hV >= np.sum(W * V) - _fenchel_young_rounding(hW, hV, W * V)


@pytest.mark.parametrize("name", sorted(NORMS))
def test_dual_scale(name):
    cls, _, dual_norm, *_ = NORMS[name]
    rng = np.random.default_rng(12)
    pen = cls(xp, 0.5)
    for scale in (0.01, 1.0, 10.0):
        V = scale * rng.standard_normal((3, 5))
        s = pen.dual_scale(V)
        # a max of |v| or of 3-term norms, and one division: 1e-13 is 450 eps
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
        ref = conjugate_reference(V, lambda X: alpha * cp.square(cp.normNuc(X))
                                  + ridge * cp.sum_squares(X))
        assert_matches_reference(-float(pen.conjugate(V)), 0.0, ref)
        if ridge == 0.0:
            # the largest singular value, by two SVDs: exact to a few eps ||V||_2
            assert float(pen.conjugate(V)) == pytest.approx(
                np.linalg.norm(V, 2) ** 2 / (4 * alpha), rel=128 * EPS)


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
        hP, hG = float(pen.value(P)), float(pen.conjugate(G))
        assert abs(hP + hG - np.sum(P * G)) <= _fenchel_young_rounding(hP, hG, P * G)
    for _ in range(200):
        W = rng.standard_normal(shape) * rng.uniform(0.01, 3)
        V = rng.standard_normal(shape) * rng.uniform(0.01, 3)
        hW, hV = float(pen.value(W)), float(pen.conjugate(V))
        assert hW + hV >= np.sum(W * V) - _fenchel_young_rounding(hW, hV, W * V)


def _operator_norm_clip_level(u, c):
    """The root ``m`` of ``sum_i (u_i - m)_+ = c m`` (``u`` descending): with
    ``k`` values above it, ``m = (u_1 + ... + u_k) / (k + c)``; the right
    ``k`` is the one whose candidate solves the equation."""
    k = np.arange(1, u.size + 1)
    candidates = np.cumsum(u) / (k + c)
    equation = [np.sum(np.maximum(u - m, 0.0)) - c * m for m in candidates]
    return candidates[np.argmin(np.abs(equation))]


@pytest.mark.parametrize("step", [0.2, 2.0])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3)])
def test_squared_trace_norm_moreau_identity(step, shape):
    """v = prox_{s h}(v) + s prox_{h*/s}(v/s) with h*(U) = ||U||_op^2 / (4 alpha) (ridge = 0).

    h* is orthogonally invariant, so its prox keeps the singular vectors of v/s and
    clips its singular values u_i at a level m: x_i = min(u_i, m), with m minimizing
    1/2 sum (u_i - m)_+^2 + m^2 / (4 alpha s), i.e. sum (u_i - m)_+ = m / (2 alpha s)
    (piecewise linear: a closed form)."""
    rng = np.random.default_rng(15)
    alpha = 0.5
    pen = SquaredTraceNorm(xp, alpha)
    for _ in range(5):
        V = rng.standard_normal(shape) * rng.uniform(0.2, 3)
        U, sig, Vt = np.linalg.svd(V / step, full_matrices=False)
        m = _operator_norm_clip_level(sig, 1.0 / (2 * alpha * step))
        conj_prox = (U * np.minimum(sig, m)) @ Vt
        P = np.asarray(pen.prox(V, step))
        # two thin SVDs of V (exact to a few eps ||V||_2, LAPACK) through
        # 1-Lipschitz maps of the singular values
        np.testing.assert_allclose(P + step * conj_prox, V, rtol=0,
                                   atol=64 * EPS * np.linalg.norm(V, 2))


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
    # inverses and a solve of matrices with condition numbers up to cond(D):
    # cond(D) eps relative, with a modest constant
    np.testing.assert_allclose(np.asarray(pen.prox(V, step)) + step * conj_prox, V, rtol=0,
                               atol=64 * EPS * np.linalg.cond(D) * np.linalg.norm(V))


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
        # Hoelder, up to the rounding of a sum of <= 6 products and of the norms
        assert np.sum(W * V) <= (float(pen.norm(W)) * float(pen.dual_norm(V))
                                 + 16 * EPS * np.sum(np.abs(W * V)))
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
        # a normalized column (or one +-1): a few eps; 1e-14 is 45 eps, 1e-13 450
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
    """grad_W of sum_t c_t loss_t at W = 0 with the optimal intercepts, (n_tasks, d),
    and the sums of its products' magnitudes (the size of its rounding)."""
    G, size = [], []
    for X, y in zip(Xs, ys):
        c = 1.0 / len(y) if loss_scaling == "mean" else 1.0
        if loss == "squared":  # optimal b = mean(y): residual y - mean(y)
            residual = y - y.mean()
        else:  # optimal b: sigmoid(b) = fraction of positives p; dloss/dz = p - 1[y = +]
            y01 = (y == "pos").astype(float)
            residual = y01 - y01.mean()
        G.append(-c * X.T @ residual)
        size.append(c * np.abs(X).T @ (np.abs(y) + np.abs(y.mean()) if loss == "squared"
                                       else np.ones(len(y))))
    return np.array(G), np.array(size)


@pytest.mark.parametrize("penalty", ["l1", "l21"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_formula(penalty, loss, loss_scaling):
    Xs, ys = _tasks_data(20, loss == "logistic")
    X, y, tasks = stack_tasks(Xs, ys)
    G, size = _gradient_at_zero(Xs, ys, loss, loss_scaling)
    expected = np.abs(G).max() if penalty == "l1" else np.linalg.norm(G, axis=0).max()
    got = alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling)
    # each entry a sum of n_t <= 30 products with a mean in them: exact to
    # (n_t + 2) eps/2 times the sum of their magnitudes, here and in mtlreg;
    # the max and the column norms move by no more than that (in norm)
    n_max = max(map(len, ys))
    assert abs(got - expected) <= 2 * (n_max + 2) * EPS * np.linalg.norm(size, axis=0).max()


ALPHA_MAX_ESTIMATORS = {
    ("l1", "squared"): LassoRegressor, ("l21", "squared"): L21Regressor,
    ("l1", "logistic"): LassoClassifier, ("l21", "logistic"): L21Classifier,
}


@pytest.mark.parametrize("penalty", ["l1", "l21"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_is_the_zero_threshold(penalty, loss, loss_scaling):
    """Just above alpha_max the fitted coef_ is exactly 0, just below it is not.

    From W = 0 the prox step stays at exactly 0 while the gradient's dual norm
    is below the threshold: 1e-4 relative is far above its rounding (n eps)."""
    Xs, ys = _tasks_data(21, loss == "logistic")
    X, y, tasks = stack_tasks(Xs, ys)
    amax = alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling)
    est = ALPHA_MAX_ESTIMATORS[(penalty, loss)]
    above = est(alpha=amax * 1.0001, loss_scaling=loss_scaling, tol=1e-10).fit(X, y, tasks=tasks)
    assert np.all(np.asarray(above.coef_) == 0.0)
    below = est(alpha=amax * 0.99, loss_scaling=loss_scaling, tol=1e-10).fit(X, y, tasks=tasks)
    assert below.converged_
    assert np.any(np.asarray(below.coef_) != 0.0)
    # ... with intercepts that are the optimal ones at W = 0 above alpha_max:
    # squared loss, b = mean(y) (to n_t eps |y|, rounding); logistic, b is the
    # solver's variable, within its certified gap: F(0, b) - F(0, b*) >= 1/2
    # sum_t mu_t (b_t - b*_t)^2 with mu_t = c_t n_t sigma'(b) on the segment
    assert above.converged_
    for t, yt in enumerate(ys):
        b = float(above.intercept_[t])
        if loss == "squared":
            assert abs(b - yt.mean()) <= 4 * len(yt) * EPS * np.abs(yt).mean()
        else:
            p = np.mean(yt == "pos")
            expected_b = np.log(p / (1 - p))
            c_n = 1.0 if loss_scaling == "mean" else len(yt)
            z = max(abs(b), abs(expected_b))
            mu = c_n * np.exp(-z) / (1 + np.exp(-z)) ** 2
            gap = above.dual_gap_ + 4096 * EPS * above.objective_
            assert abs(b - expected_b) <= np.sqrt(2 * gap / mu)


@pytest.mark.parametrize("penalty", ["l1", "l21"])
def test_alpha_max_shared_design(penalty):
    """Shared design (2-D Y): alpha_max = dual norm of X^T (Y - mean) / n."""
    rng = np.random.default_rng(22)
    X = rng.standard_normal((25, 7))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((25, 4))
    G = -(X - X.mean(0)).T @ (Y - Y.mean(0)) / 25  # (d, T) = W layout
    expected = np.abs(G).max() if penalty == "l1" else np.linalg.norm(G, axis=1).max()
    amax = alpha_max(X, Y, penalty=penalty)
    # sums of 25 products of centred values: (25 + 2) eps/2 times their
    # magnitudes, here and in mtlreg
    size = np.abs(X - X.mean(0)).T @ np.abs(Y - Y.mean(0)) / 25
    assert abs(amax - expected) <= 2 * 27 * EPS * np.linalg.norm(size, axis=1).max()
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
        # Rounding: each free m_i = s sigma_i - eta, with the level s exact to a
        # few eps relative, is exact to a few eps (m_i + 2 eta); d <= 11 of them.
        # That moves each sigma_i^2 / (eta + m_i) by a few eps relative, and
        # the objective (a sum of d positive terms) by a few d eps relative.
        d = sigma.shape[0]
        assert abs(m.sum() - k) <= 64 * d * (1 + eta) * EPS
        assert m.min() >= 0.0 and m.max() <= 1.0
        assert objective(sigma, eta, m) == pytest.approx(objective(sigma, eta, ref),
                                                         rel=64 * d * EPS, abs=1e-300)


def test_aso_water_filling_on_a_flat_stretch():
    """S(s) is flat at k between the 5th saturation and the 6th activation;
    a rounding of S just below k there must not send s to 0."""
    from mtlreg.penalties.aso import aso_eigenvalues

    sigma = np.array([110.1466646508137, 147.28441262724533, 51.95331575583639,
                      51.98689946949363, 232.01475470758686, 19.96556653052279])
    m = np.asarray(aso_eigenvalues(xp, sigma, 10.0, 5))
    np.testing.assert_allclose(m, [1, 1, 1, 1, 1, 0], rtol=0, atol=64 * (1 + 10.0) * EPS)
