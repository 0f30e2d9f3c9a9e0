"""The temporal group lasso (``TGLRegressor``, ``TGLClassifier``): the objective
``sum_t c_t loss_t + alpha sum_j ||W_j,:||_2 + beta ||W R||_F^2 + ridge ||W||_F^2``
against CVXPY, MALSAR's ``Least_TGL`` / ``Logistic_TGL`` objectives written as
their source computes them, and the threshold ``alpha_max``."""

import warnings

import numpy as np
import pytest

from mtlreg import TGLClassifier, TGLRegressor, alpha_max, stack_tasks
from mtlreg.progression import temporal_difference
from mtlreg.penalties.graph import graph_laplacian

from cvxpy_reference import assert_matches_reference
from test_relation import _loss_terms, _solve, _tasks

cp = pytest.importorskip("cvxpy")


def _time_points(seed, logistic, sizes=(15, 25, 10, 20), d=5):
    """Four time points labelled 0, 6, 12, 24 (months), stacked in shuffled order."""
    Xs, ys = _tasks(seed, logistic, sizes, d)
    X, y, index = stack_tasks(Xs, ys)
    order = np.random.default_rng(seed).permutation(len(y))
    return Xs, ys, X[order], y[order], np.array([0, 6, 12, 24])[index][order]


def test_temporal_difference_is_the_chain_of_time_points():
    """MALSAR's ``R`` (column ``t`` is ``e_t - e_t+1``): ``||W R||_F^2`` sums the squared
    differences of consecutive models, and ``R R^T`` is the chain's Laplacian."""
    R = temporal_difference(4)
    W = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(np.sum((W @ R) ** 2), sum(np.sum((W[:, t + 1] - W[:, t]) ** 2)
                                                      for t in range(3)), rtol=1e-14)
    chain = graph_laplacian([(0, 1), (1, 2), (2, 3)], np.arange(4), "edges").toarray()
    np.testing.assert_array_equal(R @ R.T, chain)
    assert temporal_difference(1).shape == (1, 0)


@pytest.mark.parametrize("logistic", [False, True])
@pytest.mark.parametrize("loss_scaling, alpha, beta, ridge, custom", [
    ("mean", 0.05, 0.5, 0.0, False), ("sum", 1.0, 3.0, 0.2, False),
    ("mean", 0.05, 0.5, 0.01, True)])
def test_tgl_matches_cvxpy(logistic, loss_scaling, alpha, beta, ridge, custom):
    """The docstring's objective (the time points in label order 0, 6, 12, 24, the rows
    shuffled), with MALSAR's ``R`` or a user's, against CVXPY: the fit's certified gap
    bounds its distance to the reference."""
    Xs, ys, X, y, tasks = _time_points(3, logistic)
    R = np.random.default_rng(4).standard_normal((4, 2)) if custom else temporal_difference(4)
    Est = TGLClassifier if logistic else TGLRegressor
    est = Est(alpha=alpha, beta=beta, ridge=ridge, R=R if custom else None,
              loss_scaling=loss_scaling, tol=1e-10).fit(X, y, tasks=tasks)
    assert est.converged_ and est.dual_gap_ is not None
    np.testing.assert_allclose(est.laplacian_.toarray(), R @ R.T, rtol=1e-14, atol=1e-14)
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    reference = _solve(_loss_terms(Xs, ys, W, b, loss_scaling, logistic)
                       + alpha * cp.sum(cp.norm(W, 2, axis=1)) + beta * cp.sum_squares(W @ R)
                       + ridge * cp.sum_squares(W))
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


def _malsar_least_tgl(Xs, ys, W, rho1, rho2, rho3):
    """``Least_TGL``'s ``funVal_eval + nonsmooth_eval`` (MALSAR, progression_model/TGL)."""
    R = temporal_difference(len(Xs))
    loss = sum(0.5 * np.linalg.norm(y - X @ W[:, t]) ** 2 for t, (X, y) in enumerate(zip(Xs, ys)))
    return (loss + rho1 * np.linalg.norm(W, "fro") ** 2 + rho2 * np.linalg.norm(W @ R, "fro") ** 2
            + rho3 * np.sum(np.linalg.norm(W, axis=1)))


def _malsar_logistic_tgl(Xs, ys, W, C, rho1, rho2, rho3):
    """``Logistic_TGL``'s objective: each task's mean logistic loss with intercept ``C``."""
    R = temporal_difference(len(Xs))
    loss = sum(np.mean(np.logaddexp(0.0, -y * (X @ W[:, t] + C[t])))
               for t, (X, y) in enumerate(zip(Xs, ys)))
    return (loss + rho1 * np.linalg.norm(W, "fro") ** 2 + rho2 * np.linalg.norm(W @ R, "fro") ** 2
            + rho3 * np.sum(np.linalg.norm(W, axis=1)))


@pytest.mark.parametrize("logistic", [False, True])
def test_tgl_is_malsars_objective_under_the_documented_map(logistic):
    """``Least_TGL(rho1, rho2, rho3)`` is ``TGLRegressor(alpha=rho3, beta=rho2, ridge=rho1,
    loss_scaling="sum", fit_intercept=False)``, ``Logistic_TGL`` the classifier with the
    same three and its defaults: MALSAR's objective, written as its source computes it,
    equals ``objective_`` at the fitted point to rounding, and the fit is within its
    certified gap of CVXPY's minimum of MALSAR's objective."""
    Xs, ys, X, y, tasks = _time_points(5, logistic)
    rho1, rho2, rho3 = 0.05, 0.8, 0.3 if not logistic else 0.02
    d, T = Xs[0].shape[1], len(Xs)
    W, b = cp.Variable((d, T)), cp.Variable(T)
    R = temporal_difference(T)
    penalty = (rho1 * cp.sum_squares(W) + rho2 * cp.sum_squares(W @ R)
               + rho3 * cp.sum(cp.norm(W, 2, axis=1)))
    if logistic:
        est = TGLClassifier(alpha=rho3, beta=rho2, ridge=rho1, tol=1e-10).fit(X, y, tasks=tasks)
        value = _malsar_logistic_tgl(Xs, ys, est.coef_.T, est.intercept_, rho1, rho2, rho3)
        reference = _solve(_loss_terms(Xs, ys, W, b, "mean", True) + penalty)
    else:
        est = TGLRegressor(alpha=rho3, beta=rho2, ridge=rho1, loss_scaling="sum",
                           fit_intercept=False, tol=1e-10).fit(X, y, tasks=tasks)
        value = _malsar_least_tgl(Xs, ys, est.coef_.T, rho1, rho2, rho3)
        reference = _solve(sum(0.5 * cp.sum_squares(yt - Xt @ W[:, t])
                               for t, (Xt, yt) in enumerate(zip(Xs, ys))) + penalty)
    assert est.converged_
    assert value == pytest.approx(est.objective_, rel=1e-12)
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


@pytest.mark.parametrize("Est", [TGLRegressor, TGLClassifier])
def test_tgl_alpha_max_gives_zero_coef(Est):
    """The smoothness term has zero gradient at ``W = 0``: ``alpha_max`` of the L2,1 part
    alone is the threshold; just above it (1% above, clear of its rounding) the fitted
    ``W`` is exactly 0, and below it is not."""
    _, _, X, y, tasks = _time_points(6, Est is TGLClassifier)
    amax = alpha_max(X, y, tasks, estimator=Est(beta=2.0), param="alpha")
    assert np.all(Est(alpha=1.01 * amax, beta=2.0).fit(X, y, tasks=tasks).coef_ == 0)
    assert np.any(Est(alpha=0.9 * amax, beta=2.0).fit(X, y, tasks=tasks).coef_ != 0)


def test_tgl_rejects_an_R_of_the_wrong_shape():
    _, _, X, y, tasks = _time_points(7, False)
    with pytest.raises(ValueError, match="R must have one row per task"):
        TGLRegressor(R=np.ones((3, 2))).fit(X, y, tasks=tasks)


def _badly_scaled_progression(seed):
    """200 samples, 8 features with scales 1e-2 to 1e2, four time points drifting."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, 2, 8)[rng.permutation(8)]
    Xs = [rng.standard_normal((50, 8)) * scales for _ in range(4)]
    W = np.cumsum(rng.standard_normal((8, 4)), axis=1) / scales[:, None]
    W[rng.random(8) < 0.4] = 0
    ys = [X @ W[:, t] + 0.5 * rng.standard_normal(50) for t, X in enumerate(Xs)]
    return Xs, ys


def test_tgl_on_badly_scaled_features_splits_three_ways_and_matches_cvxpy():
    """Feature scales 1e-2 to 1e2: FISTA does not certify in its first 500 iterations, the
    three-way ADMM split (L2,1 with the step ``1 / s_j`` per feature) takes over, and the
    certified gap bounds the distance to CVXPY."""
    Xs, ys = _badly_scaled_progression(1)
    X, y, tasks = stack_tasks(Xs, ys)
    est = TGLRegressor(alpha=0.05, beta=0.5, tol=1e-8).fit(X, y, tasks=tasks)
    assert est.converged_ and est.solution_.raw.solver == "fista, then admm"
    d, T = 8, 4
    W, b = cp.Variable((d, T)), cp.Variable(T)
    R = temporal_difference(T)
    reference = _solve(_loss_terms(Xs, ys, W, b, "mean", False)
                       + 0.05 * cp.sum(cp.norm(W, 2, axis=1)) + 0.5 * cp.sum_squares(W @ R))
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


def test_tgl_limits_are_l21_and_the_graph_chain():
    """``beta = 0`` is ``L21Regressor`` (solved as one), ``alpha = 0`` is
    ``GraphRegressor(alpha=beta)`` on the chain of time points: the same optimum within
    the certified gaps; one task has no smoothness term at all."""
    from mtlreg import GraphRegressor, L21Regressor

    from certificates import assert_same_optimum

    _, _, X, y, tasks = _time_points(8, False)
    pairs = [(TGLRegressor(alpha=0.05, beta=0.0, ridge=0.01, tol=1e-10),
              L21Regressor(alpha=0.05, ridge=0.01, tol=1e-10)),
             (TGLRegressor(alpha=0.0, beta=0.7, ridge=0.01, tol=1e-10),
              GraphRegressor(alpha=0.7, ridge=0.01, graph=[(0, 6), (6, 12), (12, 24)],
                             tol=1e-10))]
    for tgl, other in pairs:
        tgl.fit(X, y, tasks=tasks)
        other.fit(X, y, tasks=tasks)
        assert_same_optimum(tgl.objective_, tgl.dual_gap_, other.objective_, other.dual_gap_)
    assert pairs[0][0].solution_.raw.solver == pairs[0][1].solution_.raw.solver
    one = tasks == 6
    single = TGLRegressor(alpha=0.05, beta=5.0, tol=1e-10).fit(X[one], y[one], tasks=tasks[one])
    alone = L21Regressor(alpha=0.05, tol=1e-10).fit(X[one], y[one], tasks=tasks[one])
    assert single.laplacian_.nnz == 0
    assert_same_optimum(single.objective_, single.dual_gap_, alone.objective_, alone.dual_gap_)


def test_tgl_warns_when_text_labels_sort_differently_from_their_numbers():
    """Months given as text ("0", "6", "12", "24") sort as "0" < "12" < "24" < "6": the
    chain would join the wrong visits, so the fit warns (numbers, or text that sorts
    the same way, do not)."""
    _, _, X, y, tasks = _time_points(9, False)
    with pytest.warns(UserWarning, match="text that reads as numbers"):
        TGLRegressor().fit(X, y, tasks=tasks.astype(str))
    padded = np.char.zfill(tasks.astype(str), 2)  # "00" < "06" < "12" < "24"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TGLRegressor().fit(X, y, tasks=padded)


@pytest.mark.parametrize("R, match", [(np.full((4, 3), np.nan), "finite"),
                                      (np.ones((4, 3), dtype=complex), "real numbers"),
                                      (np.ones((4, 3), dtype=bool), "real numbers")])
def test_tgl_rejects_a_bad_R(R, match):
    _, _, X, y, tasks = _time_points(7, False)
    with pytest.raises(ValueError, match=match):
        TGLRegressor(R=R).fit(X, y, tasks=tasks)


def test_tgl_and_graph_take_a_scipy_sparse_matrix():
    """A SciPy sparse ``R`` (TGL) or adjacency (Graph) passes the parameter validation
    and gives the dense one's optimum, within the two certified gaps."""
    import scipy.sparse as sp

    from mtlreg import GraphRegressor

    from certificates import assert_same_optimum

    _, _, X, y, tasks = _time_points(10, False)
    R = temporal_difference(4)
    A = np.diag(np.ones(3), 1) + np.diag(np.ones(3), -1)
    for sparse, dense in ((TGLRegressor(R=sp.csc_array(R), tol=1e-10),
                           TGLRegressor(R=R, tol=1e-10)),
                          (GraphRegressor(graph=sp.csr_array(A), tol=1e-10),
                           GraphRegressor(graph=A, tol=1e-10))):
        sparse.fit(X, y, tasks=tasks)
        dense.fit(X, y, tasks=tasks)
        assert_same_optimum(sparse.objective_, sparse.dual_gap_, dense.objective_,
                            dense.dual_gap_)
