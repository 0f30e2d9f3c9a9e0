"""Low-rank family: the trace-norm prox, its certificate, and rank behaviour."""

import numpy as np
import pytest

import array_api_compat.numpy as xp
from mtlreg import TraceClassifier, TraceRegressor, alpha_max
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.penalties import NuclearNorm


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
